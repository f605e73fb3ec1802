import { createRetrievalIndex, type RetrievalIndex } from './retrieval-index.js';
import type { AttentionSettings } from './attention-settings.js';
import type { HnswThread } from './hnsw-thread.js';

/** The index a retriever keeps: in the background thread when the policy runs one (indexing=background), else inline. */
function retrievalIndex(settings: AttentionSettings, width: number, thread: HnswThread | null): RetrievalIndex {
  const options = { kind: settings.search, efSearch: settings.efSearch, efConstruction: settings.efConstruction };
  return thread ? thread.createIndex(width, options) : createRetrievalIndex(width, options);
}

/**
 * What happens to tokens once they leave the local window, per layer: they are handed over a block at a time
 * (tokens [start, start + blockSize)) and later asked for by a query vector. Queries and keys here are un-rotated
 * and "group-summed": for each KV head, the sum of the query heads that share it, so that one inner product over
 * [kvHeads·headDim] equals the sum of every head's attention logit (one index per layer serves all heads).
 */
export interface MemoryRetriever {
  /**
   * Take tokens [start, start + count) into memory: `keys` holds exactly their un-rotated keys [count, kvWidth];
   * `queryRow(t)` is token t's group-summed query, for t < queriesAvailable.
   */
  evict(start: number, count: number, keys: Float32Array, queryRow: (token: number) => Float32Array, queriesAvailable: number): void;
  /** Token indices before `below` to attend for `query`, ascending. */
  retrieve(query: Float32Array, below: number): number[];
  /** Share of the exact top-k that the index found, for `query`. */
  recall(query: Float32Array): number;
  /** Tokens held. */
  readonly tokens: number;
  /**
   * Whether tokens may be handed over before they leave the window (a cell ahead, so a background index has them
   * inserted by the time they are asked for): true when evicting needs no queries after the tokens.
   */
  readonly takesTokensEarly: boolean;
  close(): void;
}

/**
 * InfLLM-style blocks (training-free Landmark): each evicted block is represented by the mean key of its
 * `representatives` tokens that received the most attention from the `blockSize` queries right after them; a
 * query retrieves the topK blocks whose representative key it scores highest, and attends to all their tokens.
 */
export class BlockMemory implements MemoryRetriever {
  readonly takesTokensEarly = false;
  private readonly index: RetrievalIndex;
  private readonly blockStarts: number[] = [];
  private readonly representative: Float32Array;

  constructor(
    private readonly settings: AttentionSettings,
    private readonly width: number,
    thread: HnswThread | null = null,
  ) {
    this.index = retrievalIndex(settings, width, thread);
    this.representative = new Float32Array(width);
  }

  get tokens(): number {
    return this.blockStarts.length * this.settings.blockSize;
  }

  evict(start: number, count: number, keys: Float32Array, queryRow: (token: number) => Float32Array, queriesAvailable: number): void {
    const width = this.width;
    // Attention each token received from the queries that followed it (its "subsequent local tokens").
    const received = new Float64Array(count);
    for (let offset = 0; offset < count; offset++) {
      const token = start + offset;
      const keyBase = offset * width;
      const lastQuery = Math.min(token + this.settings.blockSize, queriesAvailable - 1);
      let total = 0;
      for (let query = token + 1; query <= lastQuery; query++) {
        const row = queryRow(query);
        let dot = 0;
        for (let i = 0; i < width; i++) dot += row[i]! * keys[keyBase + i]!;
        total += dot;
      }
      received[offset] = total;
    }
    const order = Array.from({ length: count }, (_, offset) => offset).sort((a, b) => received[b]! - received[a]! || a - b);
    const chosen = order.slice(0, Math.min(this.settings.representatives, count));
    this.representative.fill(0);
    for (const offset of chosen) {
      const keyBase = offset * width;
      for (let i = 0; i < width; i++) this.representative[i]! += keys[keyBase + i]! / chosen.length;
    }
    this.index.addRows(this.representative, 1);
    this.blockStarts.push(start);
  }

  retrieve(query: Float32Array, below: number): number[] {
    const tokens: number[] = [];
    const first = this.blockStarts[0] ?? 0;
    const blocksBelow = Math.max(0, Math.floor((below - first) / this.settings.blockSize));
    for (const block of this.index.search(query, this.settings.topK, blocksBelow)) {
      const start = this.blockStarts[block]!;
      for (let offset = 0; offset < this.settings.blockSize; offset++) tokens.push(start + offset);
    }
    return tokens;
  }

  recall(query: Float32Array): number {
    return this.index.recall(query, this.settings.topK);
  }

  close(): void {
    this.index.close?.();
  }
}

/**
 * Unlimiformer-style kNN over keys: every evicted token's key goes into the layer's index; a query retrieves the
 * topK tokens whose keys it scores highest.
 */
export class TokenMemory implements MemoryRetriever {
  readonly takesTokensEarly = true;
  private readonly index: RetrievalIndex;
  private firstToken = -1;

  constructor(
    private readonly settings: AttentionSettings,
    width: number,
    thread: HnswThread | null = null,
  ) {
    this.index = retrievalIndex(settings, width, thread);
  }

  get tokens(): number {
    return this.index.size;
  }

  evict(start: number, count: number, keys: Float32Array): void {
    if (this.firstToken < 0) this.firstToken = start;
    this.index.addRows(keys, count);
  }

  retrieve(query: Float32Array, below: number): number[] {
    return this.index.search(query, this.settings.topK, Math.max(0, below - this.firstToken)).map((label) => this.firstToken + label);
  }

  recall(query: Float32Array): number {
    return this.index.recall(query, this.settings.topK);
  }

  close(): void {
    this.index.close?.();
  }
}
