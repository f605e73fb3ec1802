/**
 * Next-token samplers: a callable built once per generation from {@link SamplingOptions} and called on every
 * step's logits ([vocab] floats, up to ~152k). Greedy when temperature is 0; otherwise temperature, then top-k,
 * then top-p (the order transformers applies its logits warpers in), then a draw from the seeded generator.
 * Scratch buffers are allocated on the first call and reused, so the hot path does not allocate.
 */
import { InvalidOptionError } from '../../src/errors.js';
import type { SamplingOptions } from '../engine/engine-contract.js';
import { SeededRandom } from './random.js';

/** Picks the next token id from one position's logits. */
export type Sampler = (logits: Float32Array) => number;

/**
 * Throw for sampling options no sampler can honour.
 * @throws InvalidOptionError naming the option: temperature < 0, topK not a non-negative integer, topP outside
 * (0, 1], maxTokens not a positive integer, seed not finite.
 */
export function validateSamplingOptions(options: SamplingOptions): void {
  const { temperature, topK, topP, maxTokens, seed } = options;
  if (temperature !== undefined && !(temperature >= 0 && Number.isFinite(temperature))) {
    throw new InvalidOptionError('temperature', temperature, 'a finite number ≥ 0 (0 = greedy)');
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) {
    throw new InvalidOptionError('topK', topK, 'an integer ≥ 0 (0 = off)');
  }
  if (topP !== undefined && !(topP > 0 && topP <= 1)) {
    throw new InvalidOptionError('topP', topP, 'a number in (0, 1] (1 = off)');
  }
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens >= 1)) {
    throw new InvalidOptionError('maxTokens', maxTokens, 'an integer ≥ 1');
  }
  if (seed !== undefined && !Number.isFinite(seed)) throw new InvalidOptionError('seed', seed, 'a finite number');
}

/** Index of the largest logit in `logits[offset, offset + length)`, relative to offset; the lowest index wins ties. */
export function argmax(logits: Float32Array, offset = 0, length = logits.length - offset): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let index = 0; index < length; index++) {
    const value = logits[offset + index]!;
    if (value > bestValue) {
      bestValue = value;
      best = index;
    }
  }
  return best;
}

/**
 * Build a sampler. Temperature 0 or undefined → greedy argmax (lowest id wins ties), the other options ignored.
 * Otherwise tokens are drawn from softmax(logits / temperature) restricted to the topK most likely (ties: lower id
 * kept) and then to the nucleus: the smallest most-likely-first set whose probability reaches topP (at least one).
 * @throws InvalidOptionError see {@link validateSamplingOptions}.
 */
export function createSampler(options: SamplingOptions = {}): Sampler {
  validateSamplingOptions(options);
  const temperature = options.temperature ?? 0;
  if (temperature === 0) return (logits) => argmax(logits);
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  const random = new SeededRandom(options.seed ?? 0);

  // Scratch, grown to the vocabulary on first use: candidate token ids (a prefix is in use), and indexed by token id
  // exp((logit - max) / temperature) and the token's nucleus histogram bucket.
  let candidates = new Int32Array(0);
  let weights = new Float64Array(0);
  let tokenBuckets = new Uint16Array(0);
  const bucketWeights = new Float64Array(NUCLEUS_BUCKETS);
  const byWeightDescending = (a: number, b: number): number => weights[b]! - weights[a]! || a - b;

  return (logits) => {
    const vocab = logits.length;
    if (candidates.length < vocab) {
      candidates = new Int32Array(vocab);
      weights = new Float64Array(vocab);
      tokenBuckets = new Uint16Array(topP < 1 ? vocab : 0);
    }

    // 1. candidates: the top k ids (partial selection), or every id; and their largest logit
    let count = vocab;
    let maxLogit = -Infinity;
    if (topK > 0 && topK < vocab) {
      count = selectTopK(logits, topK, candidates);
      for (let c = 0; c < count; c++) if (logits[candidates[c]!]! > maxLogit) maxLogit = logits[candidates[c]!]!;
    } else {
      for (let id = 0; id < vocab; id++) {
        candidates[id] = id;
        if (logits[id]! > maxLogit) maxLogit = logits[id]!;
      }
    }
    if (!Number.isFinite(maxLogit)) return argmax(logits); // all -Infinity, or +Infinity: nothing to weigh

    // 2. temperature-scaled, max-shifted softmax weights (and, for top-p, a histogram of their logarithms)
    let total = 0;
    if (topP < 1) bucketWeights.fill(0);
    for (let c = 0; c < count; c++) {
      const id = candidates[c]!;
      const shifted = (logits[id]! - maxLogit) / temperature; // ≤ 0
      const weight = Math.exp(shifted);
      weights[id] = weight;
      total += weight;
      if (topP < 1) {
        const bucket = Math.min(NUCLEUS_BUCKETS - 1, Math.floor(-shifted * BUCKETS_PER_NAT));
        tokenBuckets[id] = bucket;
        bucketWeights[bucket]! += weight;
      }
    }

    // 3. nucleus
    if (topP < 1) {
      count = selectNucleus(candidates, count, weights, tokenBuckets, bucketWeights, topP, byWeightDescending);
      total = 0;
      for (let c = 0; c < count; c++) total += weights[candidates[c]!]!;
    }

    // 4. draw
    let remaining = random.next() * total;
    for (let c = 0; c < count; c++) {
      remaining -= weights[candidates[c]!]!;
      if (remaining < 0) return candidates[c]!;
    }
    return candidates[count - 1]!;
  };
}

/**
 * Write the ids of the k largest logits into `out[0, k)` (in heap order) with a size-k min-heap: O(vocab log k),
 * no sort of the vocabulary. Among equal logits the lower id is kept. Returns k.
 */
function selectTopK(logits: Float32Array, k: number, out: Int32Array): number {
  // `worse(a, b)`: a ranks below b (smaller logit, or equal logit and larger id); the heap root is the worst kept.
  const worse = (a: number, b: number): boolean => logits[a]! < logits[b]! || (logits[a] === logits[b] && a > b);
  const siftDown = (start: number): void => {
    let parent = start;
    for (;;) {
      const left = 2 * parent + 1;
      if (left >= k) return;
      const right = left + 1;
      const child = right < k && worse(out[right]!, out[left]!) ? right : left;
      if (!worse(out[child]!, out[parent]!)) return;
      const swap = out[parent]!;
      out[parent] = out[child]!;
      out[child] = swap;
      parent = child;
    }
  };
  for (let id = 0; id < k; id++) out[id] = id;
  for (let node = (k >> 1) - 1; node >= 0; node--) siftDown(node);
  for (let id = k; id < logits.length; id++) {
    if (worse(out[0]!, id)) {
      out[0] = id;
      siftDown(0);
    }
  }
  return k;
}

/** Nucleus histogram: bucket b holds weights in (e^-(b+1)/32, e^-b/32] of the largest; the last bucket the rest. */
const NUCLEUS_BUCKETS = 512;
const BUCKETS_PER_NAT = 32;

/**
 * Reorder `candidates[0, count)` so that the nucleus comes first and return its size: the smallest prefix of the
 * probability-sorted candidates whose weight reaches topP × total (at least one token). Sorting the vocabulary is
 * avoided with the histogram of log-weights: buckets wholly above the one where the cumulative weight crosses the
 * target are in the nucleus whatever their order, and only the crossing bucket is sorted to find the exact cut.
 */
function selectNucleus(
  candidates: Int32Array,
  count: number,
  weights: Float64Array,
  tokenBuckets: Uint16Array,
  bucketWeights: Float64Array,
  topP: number,
  byWeightDescending: (a: number, b: number) => number,
): number {
  let total = 0;
  for (let bucket = 0; bucket < NUCLEUS_BUCKETS; bucket++) total += bucketWeights[bucket]!;
  const target = topP * total;

  // the bucket where the cumulative weight (most likely buckets first) reaches the target; never an empty one
  let crossing = NUCLEUS_BUCKETS - 1;
  let above = 0;
  for (let bucket = 0; bucket < NUCLEUS_BUCKETS; bucket++) {
    if (above + bucketWeights[bucket]! >= target) {
      crossing = bucket;
      break;
    }
    above += bucketWeights[bucket]!;
  }

  // partition: buckets above the crossing one, then the crossing bucket, then the rest
  let wholeBuckets = 0;
  for (let c = 0; c < count; c++) {
    const id = candidates[c]!;
    if (tokenBuckets[id]! < crossing) {
      candidates[c] = candidates[wholeBuckets]!;
      candidates[wholeBuckets++] = id;
    }
  }
  let end = wholeBuckets;
  for (let c = wholeBuckets; c < count; c++) {
    const id = candidates[c]!;
    if (tokenBuckets[id] === crossing) {
      candidates[c] = candidates[end]!;
      candidates[end++] = id;
    }
  }

  // most likely first within the crossing bucket, until the target is reached
  candidates.subarray(wholeBuckets, end).sort(byWeightDescending);
  let cumulative = above;
  for (let c = wholeBuckets; c < end; c++) {
    cumulative += weights[candidates[c]!]!;
    if (cumulative >= target) return c + 1;
  }
  return end; // rounding kept the sum just under the target: the whole crossing bucket
}
