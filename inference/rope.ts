import type { RopeParameters } from './rope-scaling.js';

/**
 * Rotary position embeddings, computed in TypeScript so that the engine (not the graph) decides the position of
 * every query and every key it shows to attention. Keys are cached un-rotated; rotation is applied inside the
 * attention graph from the cos/sin rows this module produces for whatever positions were chosen.
 *
 * Hugging Face layout ("rotate_half", non-interleaved): for pair i of a head, angle = position × invFrequency[i],
 * and dimensions i and i + rotaryDim/2 rotate together.
 *
 * Keys are rotated here, in TypeScript, once per (key, position) and cached: rotating every cached key inside the
 * graph at every step costs O(context) kernels per layer per token (measured: ~60 µs per layer at 100 keys on
 * smollm2-135m, growing linearly). Queries are rotated in the graph.
 */
/**
 * cos/sin rows for arbitrary positions, written into caller-owned buffers ([positions, rotaryDim/2] each) so the
 * decode loop allocates nothing.
 */
export function writeRotaryRows(rope: RopeParameters, positions: ArrayLike<number>, cosOut: Float32Array, sinOut: Float32Array): void {
  const half = rope.inverseFrequencies.length;
  for (let row = 0; row < positions.length; row++) {
    const position = positions[row]!;
    const base = row * half;
    for (let pair = 0; pair < half; pair++) {
      // HF multiplies in float32: position (float) × inv_freq (float32), then cos/sin of that float32 angle.
      const angle = Math.fround(position * rope.inverseFrequencies[pair]!);
      cosOut[base + pair] = Math.cos(angle) * rope.attentionFactor;
      sinOut[base + pair] = Math.sin(angle) * rope.attentionFactor;
    }
  }
}

/**
 * A cos/sin table for positions 0..n-1 that grows on demand: contiguous positions (the common case: every key at
 * its original position) become zero-copy subarray views.
 */
export class RotaryTable {
  private cos = new Float32Array(0);
  private sin = new Float32Array(0);
  private length = 0;

  constructor(readonly rope: RopeParameters) {}

  get half(): number {
    return this.rope.inverseFrequencies.length;
  }

  /** Views of rows [start, start + count) (valid until the next call that grows the table). */
  rows(start: number, count: number): { cos: Float32Array; sin: Float32Array } {
    this.ensure(start + count);
    const half = this.half;
    return { cos: this.cos.subarray(start * half, (start + count) * half), sin: this.sin.subarray(start * half, (start + count) * half) };
  }

  private ensure(positions: number): void {
    if (positions <= this.length) return;
    const capacity = Math.max(positions, this.length * 2, 256);
    const half = this.half;
    const cos = new Float32Array(capacity * half);
    const sin = new Float32Array(capacity * half);
    cos.set(this.cos.subarray(0, this.length * half));
    sin.set(this.sin.subarray(0, this.length * half));
    const fresh = Array.from({ length: capacity - this.length }, (_, index) => this.length + index);
    writeRotaryRows(this.rope, fresh, cos.subarray(this.length * half), sin.subarray(this.length * half));
    this.cos = cos;
    this.sin = sin;
    this.length = capacity;
  }
}

/**
 * Rotate `rows` rows of `[rows, heads·headDim]` vectors (source → target, which may be the same buffer) by the
 * given cos/sin rows ([rows, rotaryDim/2]): HF's rotate_half on the first rotaryDim dimensions of every head,
 * the rest copied through.
 */
export function rotateRows(source: Float32Array, target: Float32Array, rows: number, heads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
  const half = cos.length / rows;
  const width = heads * headDim;
  for (let row = 0; row < rows; row++) {
    const angleBase = row * half;
    for (let head = 0; head < heads; head++) {
      const base = row * width + head * headDim;
      for (let pair = 0; pair < half; pair++) {
        const first = source[base + pair]!;
        const second = source[base + pair + half]!;
        const cosine = cos[angleBase + pair]!;
        const sine = sin[angleBase + pair]!;
        target[base + pair] = first * cosine - second * sine;
        target[base + pair + half] = second * cosine + first * sine;
      }
      for (let dimension = 2 * half; dimension < headDim; dimension++) target[base + dimension] = source[base + dimension]!;
    }
  }
}

/**
 * Rotate `rows` rows of `[rows, heads·headDim]` vectors all by the same single cos/sin row ([rotaryDim/2]): every
 * row is shown at one position (retrieved memory, sinks placed together).
 */
export function rotateRowsAtOnePosition(source: Float32Array, target: Float32Array, rows: number, heads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
  const half = cos.length;
  const width = heads * headDim;
  for (let row = 0; row < rows; row++) {
    for (let head = 0; head < heads; head++) {
      const base = row * width + head * headDim;
      for (let pair = 0; pair < half; pair++) {
        const first = source[base + pair]!;
        const second = source[base + pair + half]!;
        target[base + pair] = first * cos[pair]! - second * sin[pair]!;
        target[base + pair + half] = second * cos[pair]! + first * sin[pair]!;
      }
      for (let dimension = 2 * half; dimension < headDim; dimension++) target[base + dimension] = source[base + dimension]!;
    }
  }
}
