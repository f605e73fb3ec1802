import type { RotaryTable } from '../rope.js';
import type { LayerKvMemory } from './kv-memory.js';

/**
 * What the queries of one step see: the keys (rotated to the positions they are shown at) and values chosen from a
 * layer's memory, and an additive mask [queries, keys] (0 = visible, -∞ = hidden).
 * Streaming, block retrieval and kNN attention are policies; the engine's forward pass does not change.
 *
 * Contract: the step's own T keys are the last T rows, in order, and query r sees no key after its own, i.e.
 * mask[r][j] = -∞ for every j > S − T + r. Both attention paths rely on it to skip the keys a query cannot see
 * (causalAttention in graph/llama-graphs.ts per block of queries, the native kernel per query); the engine checks
 * each new mask and refuses one that breaks it.
 */
export interface AttentionSelection {
  keys: Float32Array; // [S, kvHeads·headDim], rotated
  values: Float32Array; // [S, kvHeads·headDim]
  keyCount: number; // S
  mask: Float32Array; // [T, S]
}

export interface AttentionStep {
  /** Absolute position of the first query of this step (= tokens already committed). */
  queryStart: number;
  /** Queries in this step (T). Their own keys are already appended to the layer's memory. */
  queryCount: number;
}

export interface AttentionPolicy {
  readonly name: string;
  /**
   * Queries per forward step, on a grid of absolute positions (steps never cross a multiple of it), for policies
   * whose choices are made per cell; absent: any chunking.
   */
  readonly stepSize?: number;
  /**
   * `queries` are the step's un-rotated queries [T, heads·headDim] (retrieval reads them); `rotary` rotates keys
   * a policy shows away from their original positions (see rotateRows).
   */
  select(layer: number, memory: LayerKvMemory, step: AttentionStep, rotary: RotaryTable, queries: Float32Array): AttentionSelection;
  /** The memory was cut back to `length` tokens (rollback, prefix reuse). */
  truncate?(length: number): void;
  /** How much of a cut to `length` the policy's state survives (0 when it would have to be rebuilt from offloaded tokens). */
  truncationLength?(length: number): number;
  /** Rotated keys were re-derived under new RoPE frequencies. */
  positionsChanged?(): void;
  /** Release threads and files the policy holds (the model is disposed). */
  close?(): void;
}

/** The model shape a policy needs. */
export interface PolicyDimensions {
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

/**
 * The mask every policy here shows: keys before the step's own are visible to all its queries, the step's own T keys
 * (the last T rows) causally. It depends only on T and S, so one is built per step and shared by every layer.
 */
export class TrailingCausalMask {
  private buffer = new Float32Array(0);
  private view = new Float32Array(0);
  private shape = { queryCount: -1, keyCount: -1 };

  /** [queryCount, keyCount] additive mask (0 visible, -∞ hidden). */
  forStep(queryCount: number, keyCount: number): Float32Array {
    if (this.shape.queryCount === queryCount && this.shape.keyCount === keyCount) return this.view;
    const size = queryCount * keyCount;
    if (this.buffer.length < size) this.buffer = new Float32Array(Math.max(size, this.buffer.length * 2));
    const mask = this.buffer.subarray(0, size);
    for (let query = 0; query < queryCount; query++) {
      const visible = keyCount - queryCount + query + 1;
      const row = query * keyCount;
      mask.fill(0, row, row + visible);
      mask.fill(-Infinity, row + visible, row + keyCount);
    }
    this.shape = { queryCount, keyCount };
    this.view = mask;
    return mask;
  }
}

/**
 * Plain causal attention over everything so far, every key at its original position: zero-copy views of the
 * memory's rotated keys; the mask is built once per step and shared by every layer.
 */
export class FullAttentionPolicy implements AttentionPolicy {
  readonly name = 'full';
  private readonly mask = new TrailingCausalMask();

  select(_layer: number, memory: LayerKvMemory, step: AttentionStep): AttentionSelection {
    const keyCount = step.queryStart + step.queryCount;
    const { rotatedKeys, values } = memory.prefix(keyCount);
    return { keys: rotatedKeys, values, keyCount, mask: this.mask.forStep(step.queryCount, keyCount) };
  }
}
