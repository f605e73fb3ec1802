import { rotateRows, rotateRowsAtOnePosition, type RotaryTable } from '../../rope.js';
import { TrailingCausalMask, type AttentionPolicy, type AttentionSelection, type AttentionStep, type PolicyDimensions } from '../attention-policy.js';
import type { LayerKvMemory } from '../kv-memory.js';
import type { AttentionSettings } from './attention-settings.js';
import { HnswThread } from './hnsw-thread.js';
import { BlockMemory, TokenMemory, type MemoryRetriever } from './memory-retrievers.js';

/**
 * Streaming, block-retrieval and kNN attention: one layout, three sources of memory.
 *
 *   tokens:  [ sinks | ........ memory (left the window) ........ | window ............ | cell's queries ]
 *            0      sinks                                        w                     cellStart
 *   shown:   [ sinks | retrieved memory tokens (blocks / knn; none when streaming) | window … query ]
 *   compressed positions: window and queries at their true positions; the retrieved tokens all at w − 1; the
 *            sinks right before them. Every distance stays ≤ sinks + window + blockSize + stepSize ≤ maxDistance.
 *
 * Everything is decided per *cell* — stepSize queries on a grid of absolute positions: the window start w (on a
 * block boundary), which blocks have left the window, and what is retrieved (from the cell's first query). So a
 * decode step, a prefill chunk and one long prefill all see the same keys, and chunking changes nothing.
 * Keys are cached un-rotated by the memory; the sink + retrieved part of the shown keys is built (rotated) once per
 * cell and layer, and the window part is appended to it step by step.
 */
export class WindowedAttentionPolicy implements AttentionPolicy {
  readonly name: string;
  readonly stepSize: number;
  private readonly layers: LayerState[];
  private readonly kvWidth: number;
  private readonly mask = new TrailingCausalMask();
  /** Every layer's HNSW index, when indexing runs in the background. */
  private readonly indexThread: HnswThread | null;

  constructor(
    readonly settings: AttentionSettings,
    private readonly dims: PolicyDimensions,
  ) {
    this.name = settings.mode;
    this.stepSize = settings.stepSize;
    this.kvWidth = dims.numKvHeads * dims.headDim;
    this.indexThread = settings.indexing === 'background' && settings.mode !== 'streaming' ? new HnswThread() : null;
    this.layers = Array.from({ length: dims.numLayers }, () => this.freshLayer());
  }

  select(layer: number, memory: LayerKvMemory, step: AttentionStep, rotary: RotaryTable, queries: Float32Array): AttentionSelection {
    const state = this.layers[layer]!;
    const { queryStart, queryCount } = step;
    const queryEnd = queryStart + queryCount;
    state.queries.write(queryStart, queryCount, (target) => groupSum(queries, queryCount, this.dims, target));
    const cellStart = Math.floor(queryStart / this.stepSize) * this.stepSize;
    const windowStart = this.windowStart(cellStart);
    this.evictUpTo(state, windowStart, memory);
    if (state.cell !== cellStart) this.startCell(state, cellStart, windowStart, memory, rotary);
    // Hand over what leaves the window at the next cell now, after this cell's retrieval: a background index
    // inserts it while this cell computes (its keys exist: that window starts at least a step before queryEnd).
    if (state.retriever?.takesTokensEarly) this.evictUpTo(state, Math.min(this.windowStart(cellStart + this.stepSize), queryEnd), memory);
    this.offload(state, windowStart, memory);
    // The window part: rows [w, queryEnd) at their true positions, appended since the last step of this cell.
    if (state.assembledEnd > queryStart) {
      state.assembledCount -= state.assembledEnd - queryStart;
      state.assembledEnd = queryStart;
    }
    const appendFrom = state.assembledEnd;
    const rows = queryEnd - appendFrom;
    state.reserve(state.assembledCount + rows, this.kvWidth);
    const width = this.kvWidth;
    state.keys.set(memory.resident('rotatedKeys', appendFrom, queryEnd), state.assembledCount * width);
    state.values.set(memory.resident('values', appendFrom, queryEnd), state.assembledCount * width);
    state.assembledCount += rows;
    state.assembledEnd = queryEnd;
    const keyCount = state.assembledCount;
    return {
      keys: state.keys.subarray(0, keyCount * width),
      values: state.values.subarray(0, keyCount * width),
      keyCount,
      // Sinks and retrieved memory visible to every query, window keys causally: the step's own keys come last.
      mask: this.mask.forStep(queryCount, keyCount),
    };
  }

  /** The memory was cut back to `length` tokens: forget what was derived from the rest. */
  truncate(length: number): void {
    for (let layer = 0; layer < this.layers.length; layer++) {
      const state = this.layers[layer]!;
      state.queries.truncate(length);
      state.cell = -1;
      // Evicted blocks were scored with queries up to blockSize past their end; keep them only if those survive.
      if (this.mustRebuild(state, length)) {
        state.retriever?.close();
        this.layers[layer] = this.freshLayer(state.queries);
      }
    }
  }

  /** Stop the background index thread (the model is being disposed). */
  close(): void {
    for (const state of this.layers) state.retriever?.close();
    this.indexThread?.close();
  }

  truncationLength(length: number): number {
    return this.layers.some((state) => state.queries.base > 0 && state.retriever !== null && this.mustRebuild(state, length)) ? 0 : length;
  }

  /** Evicted blocks were scored with queries up to blockSize past their end: a cut before those loses them. */
  private mustRebuild(state: LayerState, length: number): boolean {
    return state.evictedUpTo > this.settings.sinks && state.evictedUpTo + this.settings.blockSize > length;
  }

  /** Keys are about to be shown under new frequencies (dynamic NTK, LongRoPE's switch): rebuild cells. */
  positionsChanged(): void {
    for (const state of this.layers) state.cell = -1;
  }

  /** Mean share of the exact top-k found by the index, over `queryPositions` and every layer (1 for exact search). */
  retrievalRecall(queryPositions: readonly number[]): number {
    let total = 0;
    let count = 0;
    for (const state of this.layers) {
      if (!state.retriever || state.retriever.tokens === 0) continue;
      for (const position of queryPositions) {
        if (!state.queries.has(position)) continue;
        total += state.retriever.recall(state.queries.row(position));
        count++;
      }
    }
    return count === 0 ? 1 : total / count;
  }

  /** Tokens held in retrieval memory, per layer (for reports). */
  get memoryTokens(): number[] {
    return this.layers.map((state) => state.retriever?.tokens ?? 0);
  }

  private freshLayer(queries = new GrowingRows(this.dims.numKvHeads * this.dims.headDim)): LayerState {
    const width = this.dims.numKvHeads * this.dims.headDim;
    const retriever = this.settings.mode === 'blocks' ? new BlockMemory(this.settings, width, this.indexThread) : this.settings.mode === 'knn' ? new TokenMemory(this.settings, width, this.indexThread) : null;
    return new LayerState(queries, retriever, this.settings.sinks);
  }

  /** Where the window of the cell starting at `cellStart` begins; 0 while everything still fits. */
  private windowStart(cellStart: number): number {
    const { sinks, window, blockSize } = this.settings;
    const earliest = cellStart - window;
    if (earliest <= sinks) return 0;
    if (this.settings.mode === 'streaming') return earliest;
    return sinks + Math.floor((earliest - sinks) / blockSize) * blockSize;
  }

  private evictUpTo(state: LayerState, windowStart: number, memory: LayerKvMemory): void {
    if (!state.retriever) return;
    const { blockSize } = this.settings;
    const queryRow = (token: number) => state.queries.row(token);
    while (state.evictedUpTo + blockSize <= windowStart) {
      state.retriever.evict(state.evictedUpTo, blockSize, memory.resident('keys', state.evictedUpTo, state.evictedUpTo + blockSize), queryRow, state.queries.length);
      state.evictedUpTo += blockSize;
    }
  }

  /**
   * Move what no cell will read from RAM again out of it, in batches (each move shifts the window's rows): tokens
   * handed to the retriever go to disk (`offload=disk`), tokens behind a streaming window are dropped. Their queries
   * are no longer needed either.
   */
  private offload(state: LayerState, windowStart: number, memory: LayerKvMemory): void {
    const how = this.settings.offload;
    if (how === 'keep') return;
    // Tokens handed to the retriever early are still in this cell's window.
    const upTo = state.retriever ? Math.min(state.evictedUpTo, windowStart) : windowStart;
    const batch = Math.max(this.settings.stepSize, 4 * this.settings.blockSize);
    const from = Math.max(memory.residentFrom, this.settings.sinks);
    if (upTo - from < batch) return;
    memory.offload(upTo, this.settings.sinks, how);
    state.queries.dropBefore(upTo);
  }

  /** Build the cell's fixed part of the shown keys: sinks and retrieved memory, rotated where they are shown. */
  private startCell(state: LayerState, cellStart: number, windowStart: number, memory: LayerKvMemory, rotary: RotaryTable): void {
    const width = this.kvWidth;
    const { numKvHeads, headDim } = this.dims;
    const sinkCount = windowStart === 0 ? 0 : Math.min(this.settings.sinks, windowStart);
    const retrieved = windowStart > 0 && state.retriever && state.retriever.tokens > 0 ? state.retriever.retrieve(state.queries.row(cellStart), windowStart) : [];
    const prefixRows = sinkCount + retrieved.length;
    state.assembledCount = 0;
    state.reserve(prefixRows, width);
    const original = this.settings.positions === 'original';
    // Sinks: tokens [0, sinkCount), always resident.
    if (original) state.keys.set(memory.resident('rotatedKeys', 0, sinkCount), 0);
    else {
      const sinkEnd = retrieved.length > 0 ? windowStart - 1 : windowStart;
      const { cos, sin } = rotary.rows(sinkEnd - sinkCount, sinkCount);
      rotateRows(memory.resident('keys', 0, sinkCount), state.keys.subarray(0, sinkCount * width), sinkCount, numKvHeads, headDim, cos, sin);
    }
    state.values.set(memory.resident('values', 0, sinkCount), 0);
    // Retrieved memory tokens in document order, read a run of consecutive tokens at a time (from RAM or disk), then
    // rotated: all at w − 1, or each at its own position.
    for (let index = 0; index < retrieved.length; ) {
      let run = 1;
      while (index + run < retrieved.length && retrieved[index + run] === retrieved[index]! + run) run++;
      const row = sinkCount + index;
      const keys = state.keys.subarray(row * width, (row + run) * width);
      memory.readRows(retrieved[index]!, run, keys, state.values.subarray(row * width, (row + run) * width));
      const { cos, sin } = original ? rotary.rows(retrieved[index]!, run) : rotary.rows(windowStart - 1, 1);
      if (original) rotateRows(keys, keys, run, numKvHeads, headDim, cos, sin);
      else rotateRowsAtOnePosition(keys, keys, run, numKvHeads, headDim, cos, sin);
      index += run;
    }
    state.cell = cellStart;
    state.assembledCount = prefixRows;
    state.assembledEnd = windowStart;
  }
}

/** Rows of `width` floats indexed by token position, growing by doubling; rows before `base` may be dropped. */
class GrowingRows {
  data: Float32Array;
  length = 0;
  /** First row kept (rows before it were dropped). */
  base = 0;

  constructor(readonly width: number) {
    this.data = new Float32Array(width * 256);
  }

  /** Rows [start, start + count) written by `fill` (the store is cut to `start` first). */
  write(start: number, count: number, fill: (target: Float32Array) => void): void {
    if (start < this.base) throw new RangeError(`query row ${start} was dropped (kept from ${this.base})`);
    const needed = (start + count - this.base) * this.width;
    if (needed > this.data.length) {
      const grown = new Float32Array(Math.max(needed, this.data.length * 2));
      grown.set(this.data.subarray(0, (Math.min(this.length, start) - this.base) * this.width));
      this.data = grown;
    }
    fill(this.data.subarray((start - this.base) * this.width, needed));
    this.length = start + count;
  }

  row(position: number): Float32Array {
    const at = position - this.base;
    return this.data.subarray(at * this.width, (at + 1) * this.width);
  }

  has(position: number): boolean {
    return position >= this.base && position < this.length;
  }

  dropBefore(position: number): void {
    const cut = Math.min(position, this.length) - this.base;
    if (cut <= 0) return;
    this.data.copyWithin(0, cut * this.width, (this.length - this.base) * this.width);
    this.base += cut;
  }

  /** Cut to `length` rows (a cut below `base` empties the store). */
  truncate(length: number): void {
    if (length < this.base) {
      this.base = 0;
      this.length = 0;
      return;
    }
    this.length = Math.min(this.length, length);
  }
}

class LayerState {
  /** The cell whose fixed part is assembled (-1: none). */
  cell = -1;
  assembledCount = 0;
  /** Window rows [windowStart, assembledEnd) are assembled after the prefix. */
  assembledEnd = 0;
  keys = new Float32Array(0);
  values = new Float32Array(0);

  constructor(
    /** Group-summed un-rotated queries of every token so far. */
    readonly queries: GrowingRows,
    readonly retriever: MemoryRetriever | null,
    /** Tokens [sinks, evictedUpTo) have been handed to the retriever. */
    public evictedUpTo: number,
  ) {}

  reserve(rows: number, width: number): void {
    if (rows * width <= this.keys.length) return;
    const capacity = Math.max(rows, 2 * (this.keys.length / Math.max(width, 1))) * width;
    const keys = new Float32Array(capacity);
    const values = new Float32Array(capacity);
    keys.set(this.keys.subarray(0, this.assembledCount * width));
    values.set(this.values.subarray(0, this.assembledCount * width));
    this.keys = keys;
    this.values = values;
  }
}

/** [T, heads·headDim] queries → [T, kvHeads·headDim]: for each KV head, the sum of the query heads sharing it. */
function groupSum(queries: Float32Array, rows: number, dims: PolicyDimensions, target: Float32Array): void {
  const { numHeads, numKvHeads, headDim } = dims;
  const group = numHeads / numKvHeads;
  const queryWidth = numHeads * headDim;
  const kvWidth = numKvHeads * headDim;
  target.fill(0, 0, rows * kvWidth);
  for (let row = 0; row < rows; row++) {
    for (let head = 0; head < numHeads; head++) {
      const from = row * queryWidth + head * headDim;
      const to = row * kvWidth + Math.floor(head / group) * headDim;
      for (let i = 0; i < headDim; i++) target[to + i]! += queries[from + i]!;
    }
  }
}
