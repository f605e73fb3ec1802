/**
 * Log-probabilities and entropies straight from logits rows, numerically stable (the row's max is subtracted
 * before exponentiating), in float64. Rows are addressed in a flat [rows, vocab] Float32Array by offset.
 */
import { InvalidOptionError } from '../../src/errors.js';

/** Largest value in logits[offset, offset + vocab). */
function rowMax(logits: Float32Array, offset: number, vocab: number): number {
  let max = -Infinity;
  for (let index = offset; index < offset + vocab; index++) if (logits[index]! > max) max = logits[index]!;
  return max;
}

/** log Σ exp(logits - max) of one row (the log of the softmax normalizer, shifted by max). */
function logSumExpShifted(logits: Float32Array, offset: number, vocab: number, max: number): number {
  let sum = 0;
  for (let index = offset; index < offset + vocab; index++) sum += Math.exp(logits[index]! - max);
  return Math.log(sum);
}

function checkRow(logits: Float32Array, offset: number, vocab: number): void {
  if (!(Number.isInteger(offset) && offset >= 0 && Number.isInteger(vocab) && vocab >= 1 && offset + vocab <= logits.length)) {
    throw new InvalidOptionError('offset', offset, `a row start with offset + vocab (${vocab}) ≤ logits.length (${logits.length})`);
  }
}

/** log softmax(row)[tokenId] in nats for the row logits[offset, offset + vocab). */
export function logSoftmaxAt(logits: Float32Array, offset: number, vocab: number, tokenId: number): number {
  checkRow(logits, offset, vocab);
  if (!(Number.isInteger(tokenId) && tokenId >= 0 && tokenId < vocab)) {
    throw new InvalidOptionError('tokenId', tokenId, `an integer in [0, ${vocab})`);
  }
  const max = rowMax(logits, offset, vocab);
  return logits[offset + tokenId]! - max - logSumExpShifted(logits, offset, vocab, max);
}

/**
 * Entropy in nats of softmax(row) for the row logits[offset, offset + vocab):
 * H = log Z - Σ e_i (l_i - max) / Z with e_i = exp(l_i - max), Z = Σ e_i.
 */
export function entropyAt(logits: Float32Array, offset: number, vocab: number): number {
  checkRow(logits, offset, vocab);
  return rowStatistics(logits, offset, vocab).entropy;
}

/**
 * One row's max, log-normalizer and entropy from a single exp pass (scoring a continuation needs both the
 * log-probability of the actual token and the entropy; separate passes made XL3M's scoring 10% slower than prefill).
 */
function rowStatistics(logits: Float32Array, offset: number, vocab: number): { max: number; logNormalizer: number; entropy: number } {
  const max = rowMax(logits, offset, vocab);
  let normalizer = 0;
  let weightedShifted = 0;
  for (let index = offset; index < offset + vocab; index++) {
    const shifted = logits[index]! - max;
    const weight = Math.exp(shifted);
    if (weight === 0) continue; // -Infinity logits (or underflow) contribute nothing, not 0 × -Infinity = NaN
    normalizer += weight;
    weightedShifted += weight * shifted;
  }
  const logNormalizer = Math.log(normalizer);
  return { max, logNormalizer, entropy: logNormalizer - weightedShifted / normalizer };
}

/** Per-token scores of a continuation. */
export interface TokenScores {
  /** log p(tokenIds[i]) in nats. */
  logProbs: number[];
  /** Entropy (nats) of the distribution tokenIds[i] was drawn from. */
  entropies: number[];
}

/**
 * Score `tokenIds` against logits rows: row `firstRow + i` of `logits` ([rows, vocab]) is the next-token
 * distribution that predicts tokenIds[i]. For a prefill over context + continuation, firstRow is
 * contextLength - 1 (the row of the last context token predicts the first continuation token).
 */
export function scoreFromLogits(logits: Float32Array, vocab: number, tokenIds: readonly number[], firstRow = 0): TokenScores {
  if (!(Number.isInteger(firstRow) && firstRow >= 0 && (firstRow + tokenIds.length) * vocab <= logits.length)) {
    throw new InvalidOptionError('firstRow', firstRow, `a row with firstRow + ${tokenIds.length} rows of ${vocab} within ${logits.length} logits`);
  }
  const logProbs: number[] = [];
  const entropies: number[] = [];
  for (let i = 0; i < tokenIds.length; i++) {
    const offset = (firstRow + i) * vocab;
    const tokenId = tokenIds[i]!;
    if (!(Number.isInteger(tokenId) && tokenId >= 0 && tokenId < vocab)) throw new InvalidOptionError('tokenId', tokenId, `an integer in [0, ${vocab})`);
    const { max, logNormalizer, entropy } = rowStatistics(logits, offset, vocab);
    logProbs.push(logits[offset + tokenId]! - max - logNormalizer);
    entropies.push(entropy);
  }
  return { logProbs, entropies };
}
