import { approximateTokenCounter } from '../../src/tokens/approximate-token-counter.js';
import { assembleText } from '../assemble.js';
import { haystackSentences, UnitBuffer } from '../haystack.js';
import { deriveSeed, randomInt, seededRandom } from '../random.js';
import { sweptDepth, type EvalSample, type EvalTask, type GenerateOptions } from '../task.js';

const INSTRUCTIONS = 'A pass key is hidden somewhere in the long text below, among a lot of text that does not matter. Find it and remember it: you will be asked for it afterwards.';

/**
 * Passkey retrieval (Landmark Attention, YaRN, LM-Infinite): a 5-digit key stated twice in one needle, hidden at a
 * swept depth in repeated filler (or real text). Scored by the first integer of the answer.
 */
export const passkeyTask: EvalTask = {
  name: 'passkey',
  description: 'a 5-digit pass key hidden at a swept depth; the first integer of the answer must be the key',
  generate(options: GenerateOptions): EvalSample {
    const random = seededRandom(deriveSeed('passkey', options.seed, options.tokens, options.sample));
    const key = String(randomInt(random, 10000, 99999));
    const depth = sweptDepth(options.sample, options.samples);
    const assembled = assembleText({
      task: 'passkey',
      tokens: options.tokens,
      counter: options.counter ?? approximateTokenCounter,
      prefix: INSTRUCTIONS,
      units: new UnitBuffer(haystackSentences(options.haystack ?? 'filler', random)),
      needles: [{ text: `The pass key is ${key}. Remember it. ${key} is the pass key.`, depth }],
    });
    return { task: 'passkey', document: assembled.text, question: 'What is the pass key? The pass key is', answers: [key], scoring: 'first-integer', tokens: assembled.tokens, depth };
  },
};
