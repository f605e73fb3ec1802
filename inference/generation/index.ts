/** Generation utilities: seeded sampling, log-probabilities, and streaming text (incremental decoding, stop strings). */
export { SeededRandom } from './random.js';
export { type Sampler, argmax, createSampler, validateSamplingOptions } from './samplers.js';
export { type TokenScores, entropyAt, logSoftmaxAt, scoreFromLogits } from './log-probs.js';
export { IncrementalDecoder, StopStringMatcher } from './stop-strings.js';
