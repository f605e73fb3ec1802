import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { InvalidOptionError } from '../errors.js';
import { cosineSimilarity, isZeroVector } from '../embeddings/vectors.js';
import type { MemoryItem } from './memory-item.js';
import { MemoryStoreError } from './memory-errors.js';
import { MemoryIndex } from './memory-index.js';
import type { MemoryStore } from './memory-store.js';

/** What an item's embedding is computed from; see {@link MemoryStreamOptions.embedFrom}. */
export type EmbedFrom = 'summary' | 'text' | 'both';

/** The index is written after this many adds (and on flush and close). */
export const INDEX_FLUSH_INTERVAL = 100;

export interface MemoryStreamOptions {
  /** Where items are kept; the stream takes it over and closes it on `close` (or when `open` fails). */
  store: MemoryStore;
  /** Any LangChain embeddings; items use `embedDocuments`, queries `embedQuery`. */
  embeddings: EmbeddingsInterface<number[]>;
  /** Where the memory index is persisted; without one it is rebuilt from the stream on every open. */
  indexPath?: string;
  /**
   * What to embed for an item. `summary`: the summary only, as the released SCM code does. `text`: the full
   * text only. `both` (default): `${summary}\n${text}`, so a fact that a short summary dropped is still found
   * by the words of the text, while the summary's wording still counts.
   */
  embedFrom?: EmbedFrom;
}

/** A new item, before the stream gives it an index, an embedding and a time. */
export interface NewMemory {
  kind: MemoryItem['kind'];
  text: string;
  response?: string;
  summary: string;
  source?: { charStart: number; charEnd: number };
}

export interface RetrieveOptions {
  /** How many items to return at most. */
  k: number;
  /** Indices never to return (e.g. the previous turn, which the SCM agent shows as flash memory anyway). */
  exclude?: readonly number[];
  /** Weight of recency in the score. Default 0.1; 0 ranks by relevance alone. */
  recencyWeight?: number;
  /** Items back at which recency halves. Default 20. */
  recencyHalfLife?: number;
}

/** One retrieved item and how it scored. */
export interface RetrievedMemory {
  item: MemoryItem;
  /** Cosine similarity of the query and the item's embedding (0 when either is a zero vector). */
  relevance: number;
  /** 0.5 ** ((size − 1 − index) / recencyHalfLife): 1 for the newest item, halving every half-life. */
  recency: number;
  /** relevance + recencyWeight · recency. */
  score: number;
}

/** What happened to the index so far: whether `open` used the file, and what it covers now. */
export interface MemoryIndexState {
  /** True when the index file could not be used and the index was built from the stream. */
  rebuilt: boolean;
  rebuildReason?: string;
  /** Items the index file lacked, added from the stream on open. */
  extended: number;
  /** Items covered; equals `size` except while an add is in flight. */
  count: number;
}

/**
 * The memory stream of the Self-Controlled Memory system (Wang et al., "Enhancing Large Language Model with
 * Self-Controlled Memory Framework"): every turn or document segment the agent has seen, in order, with a summary
 * and an embedding, and retrieval by relevance and recency.
 *
 * Durability: an item is committed when `add` resolves: the store has it (an fsync'd line, a Redis reply). The
 * memory index (hnswlib) is derived from the items and written on `flush`, on `close` and after every
 * {@link INDEX_FLUSH_INTERVAL} adds, not on every add, because writing it costs O(size). A crash therefore loses
 * at most the index's tail, which the next `open` re-adds from the stream's stored embeddings (no re-embedding).
 *
 * Retrieval score: SCM ranks memories by relevance and recency but gives no formula for combining them. Here
 * score = relevance + recencyWeight · recency, with relevance the cosine similarity and recency
 * 0.5 ** ((size − 1 − index) / recencyHalfLife). With the defaults (0.1, 20) recency moves an item by at most
 * 0.1 of cosine, which decides between two similar memories in favour of the newer. Whether it can also bring up
 * an unrelated memory depends on the embeddings' scale: with `HashedEmbeddings`, a three-word question matching
 * inside a 512-token segment scores only about 0.1, so the newest few items, at relevance ≈ 0, outrank it. For a
 * document's segments, where index order is position in the text rather than time, pass `recencyWeight: 0`.
 * Ties in score go to the newer item.
 *
 * One writer per memory: adds are serialized within this object, in call order.
 */
export class MemoryStream {
  private readonly list: MemoryItem[];
  private index: MemoryIndex | undefined;
  private addsSinceFlush = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly store: MemoryStore,
    private readonly embeddings: EmbeddingsInterface<number[]>,
    readonly embedFrom: EmbedFrom,
    private readonly indexPath: string | undefined,
    items: MemoryItem[],
    index: MemoryIndex | undefined,
  ) {
    this.list = items;
    this.index = index;
  }

  /**
   * Load the stream from `store` and open (or rebuild, or extend) its index.
   * @throws MemoryStoreError when the store cannot be read or holds embeddings of different lengths.
   */
  static async open(options: MemoryStreamOptions): Promise<MemoryStream> {
    const { store, embeddings, indexPath } = options;
    const embedFrom = options.embedFrom ?? 'both';
    if (!['summary', 'text', 'both'].includes(embedFrom)) throw new InvalidOptionError('embedFrom', embedFrom, '"summary", "text" or "both"');
    try {
      const items = (await store.load()).map(freezeItem);
      const dimensions = items[0]?.embedding.length;
      const odd = items.findIndex((item) => item.embedding.length !== dimensions || dimensions === 0);
      if (odd !== -1) {
        throw new MemoryStoreError(store.description, `item ${odd} has a ${items[odd]!.embedding.length}-dimensional embedding, item 0 a ${String(dimensions)}-dimensional one`, 'restore the stream from a backup; all items of a memory must come from the same embeddings');
      }
      // An empty memory does not know its dimensions yet: the index is opened by the first add.
      const index = dimensions === undefined ? undefined : await MemoryIndex.open({ path: indexPath, dimensions, items });
      return new MemoryStream(store, embeddings, embedFrom, indexPath, items, index);
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
  }

  /** Number of committed items. */
  get size(): number {
    return this.list.length;
  }

  /** Every committed item, in index order (frozen: items are never rewritten). */
  items(): readonly MemoryItem[] {
    return this.list;
  }

  get(index: number): MemoryItem | undefined {
    return this.list[index];
  }

  get indexState(): MemoryIndexState {
    const index = this.index;
    if (index === undefined) return { rebuilt: false, extended: 0, count: 0 };
    return { rebuilt: index.rebuilt, ...(index.rebuildReason === undefined ? {} : { rebuildReason: index.rebuildReason }), extended: index.extended, count: index.count };
  }

  /**
   * Embed, store and index a new item; it is committed when the promise resolves. Concurrent calls get indices in
   * call order (their embeddings are computed in parallel).
   */
  add(memory: NewMemory): Promise<MemoryItem> {
    checkNewMemory(memory);
    const embedding = this.embeddings.embedDocuments([this.embeddingText(memory)]).then((vectors) => vectors[0]);
    // Without a handler a failed embedding would be reported as unhandled while it waits for its turn.
    embedding.catch(() => undefined);
    return this.exclusive(async () => {
      if (this.closed) throw new MemoryStoreError(this.store.description, 'the memory stream is closed', 'open the memory again');
      const vector = Array.from((await embedding) ?? []);
      this.checkDimensions(vector, 'embedDocuments');
      const item = freezeItem({
        index: this.list.length,
        kind: memory.kind,
        text: memory.text,
        ...(memory.response === undefined ? {} : { response: memory.response }),
        summary: memory.summary,
        embedding: vector,
        createdAt: new Date().toISOString(),
        ...(memory.source === undefined ? {} : { source: { charStart: memory.source.charStart, charEnd: memory.source.charEnd } }),
      });
      await this.store.append(item);
      this.list.push(item);
      this.index ??= await MemoryIndex.open({ path: this.indexPath, dimensions: vector.length, items: [] });
      this.index.add(item.index, vector);
      if (++this.addsSinceFlush >= INDEX_FLUSH_INTERVAL) {
        // The item is committed whatever happens here: a failed index write is retried at the next interval,
        // and reported by flush() and close().
        await this.flushIndex().catch(() => undefined);
      }
      return item;
    });
  }

  /**
   * The `k` best items for `query` by score (relevance + recencyWeight · recency), best first.
   *
   * The index returns the nearest items by relevance, over-fetched by k + exclude.length + max(10, k) so that
   * excluded items do not leave the answer short. Recency can lift an item the index did not return, but only a
   * recent one: every item not returned has relevance at most the lowest returned one, so it can only beat the
   * current k-th score if its recency bonus makes up the difference. Those items are the newest ones, and they are
   * scored exactly, newest first, until the bonus cannot. The ranking is therefore exact up to the index's
   * approximation of the nearest neighbors.
   */
  async retrieve(query: string, options: RetrieveOptions): Promise<RetrievedMemory[]> {
    const { k, exclude = [], recencyWeight = 0.1, recencyHalfLife = 20 } = options;
    if (!Number.isInteger(k) || k < 1) throw new InvalidOptionError('k', k, 'a positive integer');
    if (!Number.isFinite(recencyWeight) || recencyWeight < 0) throw new InvalidOptionError('recencyWeight', recencyWeight, 'a number ≥ 0');
    if (!Number.isFinite(recencyHalfLife) || recencyHalfLife <= 0) throw new InvalidOptionError('recencyHalfLife', recencyHalfLife, 'a number > 0');
    const vector = Array.from(await this.embeddings.embedQuery(query));
    const index = this.index;
    // Everything below is synchronous, so it sees one consistent state even while adds are queued.
    if (index === undefined || this.list.length === 0) return [];
    this.checkDimensions(vector, 'embedQuery');
    const size = this.list.length;
    const excluded = new Set(exclude);
    const ranking = new Ranking(k);
    const scored = new Set<number>();
    const score = (itemIndex: number): void => {
      if (scored.has(itemIndex) || itemIndex >= size) return;
      scored.add(itemIndex);
      if (excluded.has(itemIndex)) return;
      const item = this.list[itemIndex]!;
      const relevance = cosineSimilarity(vector, item.embedding);
      const recency = 0.5 ** ((size - 1 - itemIndex) / recencyHalfLife);
      ranking.offer({ item, relevance, recency, score: relevance + recencyWeight * recency });
    };

    let bound = 0; // highest relevance an item not returned by the index can have
    if (!isZeroVector(vector)) {
      const fetch = k + excluded.size + Math.max(10, k);
      const neighbors = index.search(vector, fetch);
      for (const neighbor of neighbors) score(neighbor.index);
      if (neighbors.length < index.vectorCount) {
        const lowest = Math.min(...neighbors.map((neighbor) => cosineSimilarity(vector, this.list[neighbor.index]!.embedding)));
        // Items with a zero embedding are outside the graph and have relevance 0, possibly above `lowest`.
        bound = index.count > index.vectorCount ? Math.max(lowest, 0) : lowest;
      }
    }
    for (let itemIndex = size - 1; itemIndex >= 0; itemIndex--) {
      const bonus = recencyWeight * 0.5 ** ((size - 1 - itemIndex) / recencyHalfLife);
      if (bound + bonus <= ranking.threshold()) break;
      score(itemIndex);
    }
    return ranking.best();
  }

  /** Write the index now (it is otherwise written every {@link INDEX_FLUSH_INTERVAL} adds and on close). */
  flush(): Promise<void> {
    return this.exclusive(() => this.flushIndex());
  }

  /** Wait for queued adds, write the index, and close the store. Closing twice is harmless. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      try {
        await this.flushIndex();
      } finally {
        await this.store.close();
      }
    });
  }

  private async flushIndex(): Promise<void> {
    await this.index?.flush();
    this.addsSinceFlush = 0;
  }

  private embeddingText(memory: NewMemory): string {
    if (this.embedFrom === 'summary') return memory.summary;
    if (this.embedFrom === 'text') return memory.text;
    return `${memory.summary}\n${memory.text}`;
  }

  /** Checked before anything is stored, so a bad vector never leaves the stream and the index out of step. */
  private checkDimensions(vector: readonly number[], method: string): void {
    if (vector.length === 0 || !vector.every(Number.isFinite)) {
      throw new InvalidOptionError('embeddings', `${method} returned ${vector.length === 0 ? 'an empty vector' : 'non-finite numbers'}`, 'embeddings that return non-empty vectors of finite numbers');
    }
    const expected = this.index?.dimensions ?? this.list[0]?.embedding.length;
    if (expected !== undefined && vector.length !== expected) {
      throw new InvalidOptionError('embeddings', `${method} returned ${vector.length} dimensions`, `embeddings of ${expected} dimensions, like those this memory was built with`);
    }
  }

  /** Runs `work` after everything queued before it, so adds commit in call order and close waits for them. */
  private exclusive<Value>(work: () => Promise<Value>): Promise<Value> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** The best `k` offers by score (ties to the newer item), with the score an offer must beat to get in. */
class Ranking {
  private readonly entries: RetrievedMemory[] = [];

  constructor(private readonly k: number) {}

  offer(entry: RetrievedMemory): void {
    this.entries.push(entry);
    this.entries.sort(compareRetrieved);
    if (this.entries.length > this.k) this.entries.pop();
  }

  /** The k-th best score, or −∞ while fewer than k are held. */
  threshold(): number {
    return this.entries.length < this.k ? -Infinity : this.entries[this.k - 1]!.score;
  }

  best(): RetrievedMemory[] {
    return [...this.entries];
  }
}

function compareRetrieved(first: RetrievedMemory, second: RetrievedMemory): number {
  return second.score - first.score || second.item.index - first.item.index;
}

function checkNewMemory(memory: NewMemory): void {
  if (memory.kind !== 'turn' && memory.kind !== 'segment') throw new InvalidOptionError('kind', memory.kind, '"turn" or "segment"');
  if (typeof memory.text !== 'string') throw new InvalidOptionError('text', memory.text, 'a string');
  if (typeof memory.summary !== 'string') throw new InvalidOptionError('summary', memory.summary, 'a string');
  if (memory.response !== undefined && typeof memory.response !== 'string') throw new InvalidOptionError('response', memory.response, 'a string or undefined');
}

function freezeItem(item: MemoryItem): MemoryItem {
  Object.freeze(item.embedding);
  if (item.source) Object.freeze(item.source);
  return Object.freeze(item);
}
