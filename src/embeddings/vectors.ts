/**
 * Vector helpers shared by the embeddings and the memory index. Vectors are plain `number[]` (what LangChain
 * embeddings return and hnswlib-node accepts).
 */

/** Euclidean length. */
export function vectorNorm(vector: readonly number[]): number {
  let squares = 0;
  for (const value of vector) squares += value * value;
  return Math.sqrt(squares);
}

/** True when every component is 0: such a vector has no direction, see {@link cosineSimilarity}. */
export function isZeroVector(vector: readonly number[]): boolean {
  for (const value of vector) if (value !== 0) return false;
  return true;
}

/**
 * Cosine of the angle between two vectors of equal length. A zero vector has no direction, so its cosine with
 * anything is defined as 0 (similar to nothing) rather than NaN.
 */
export function cosineSimilarity(first: readonly number[], second: readonly number[]): number {
  if (first.length !== second.length) throw new RangeError(`cosine of vectors of different lengths (${first.length} and ${second.length})`);
  let dot = 0;
  let firstSquares = 0;
  let secondSquares = 0;
  for (let index = 0; index < first.length; index++) {
    const a = first[index]!;
    const b = second[index]!;
    dot += a * b;
    firstSquares += a * a;
    secondSquares += b * b;
  }
  if (firstSquares === 0 || secondSquares === 0) return 0;
  return dot / Math.sqrt(firstSquares * secondSquares);
}
