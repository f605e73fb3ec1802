import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import hnswlib from 'hnswlib-node';
import { InvalidOptionError } from '../errors.js';
import { isZeroVector, vectorNorm } from '../embeddings/vectors.js';
import { MemoryIndexError } from './memory-errors.js';

/**
 * hnswlib-node is a CommonJS addon; its named exports are not visible to Node's ESM loader, so take the class
 * from the default export and its type from the declarations.
 */
const { HierarchicalNSW } = hnswlib;
type HierarchicalNSW = InstanceType<typeof HierarchicalNSW>;

/** Graph degree: hnswlib's recommended default; 16 links per node keeps recall high up to millions of items. */
const M = 16;
/** Candidate list while inserting: build-time quality, paid once per item. */
const EF_CONSTRUCTION = 200;
/** Fixed so that the same items always build the same graph (tests and rebuilds are reproducible). */
const RANDOM_SEED = 100;
/** Capacity of a new index; it doubles whenever it fills (hnswlib preallocates its memory per element). */
const INITIAL_CAPACITY = 1024;
const SIDECAR_VERSION = 1;

/**
 * Candidate list while searching: ef = max(200, 2k, n/125) for n indexed items. The n term keeps recall as the
 * memory grows: on 100,000 random 64-dimensional vectors recall@10 is 0.80 at ef 200 but 0.985 at 800 (1.3 ms a
 * query, still 5× faster than exact search). The 2k term keeps the list well above the answer size when
 * callers ask for many neighbors. The floor is 200, not the more common 50, because measured recall@10 on 10,000
 * random unit vectors of 64 dimensions (the hard case: no low-dimensional structure) is about 0.78 at ef 50,
 * 0.90–0.93 at 100, 0.97 at 150 and 0.98 at 200 (about 75, 95 and 190 µs a query at 50, 100 and 200), while
 * `HashedEmbeddings` of real sentences reach 0.99 already at 50. A query that costs 0.2 ms instead of 0.07 ms is
 * free next to the model call it feeds. `bench/memory-index.ts` measures both at 10k and 100k items.
 */
export const SEARCH_EF_FLOOR = 200;

/** Items per unit of search breadth as the index grows (see above). */
const ITEMS_PER_EF = 125;

export function searchEf(k: number, items = 0): number {
  return Math.max(SEARCH_EF_FLOOR, 2 * k, Math.ceil(items / ITEMS_PER_EF));
}

/** What is known about an item when (re)building: its embedding; its label is its position in the list. */
export interface IndexableItem {
  readonly embedding: readonly number[];
}

export interface MemoryIndexOptions {
  /** Where the index is persisted (plus a `<path>.json` sidecar); without one the index lives in memory only. */
  path?: string;
  /** Length of every embedding. */
  dimensions: number;
  /** Every item of the stream, in index order: the truth the index is checked against and rebuilt from. */
  items: readonly IndexableItem[];
}

/** One search hit: the item's index and its cosine similarity to the query (float32 precision). */
export interface IndexNeighbor {
  index: number;
  similarity: number;
}

/** `<path>.json`: lets `open` check that an index file is whole and belongs to the stream before reading it. */
interface Sidecar {
  version: number;
  /** Items 0..count-1 are covered. */
  count: number;
  dimensions: number;
  /** Points actually in the graph (items with a zero embedding are not). */
  vectors: number;
  /** Of the index file's bytes. */
  sha256: string;
}

/**
 * A cosine k-nearest-neighbor index over memory item embeddings (hnswlib HNSW, `cosine` space), labelled by item
 * index. It is derived data: the memory stream is the truth, and the index only makes retrieval sub-linear.
 *
 * Persistence: `flush` writes the index with hnswlib's `writeIndex` to `path` and a sidecar `<path>.json` with
 * `{ version, count, dimensions, vectors, sha256 }`, each through a temporary file, fsync and rename. `open`
 * trusts the file only when the sidecar matches it byte for byte (SHA-256), matches the stream (dimensions, no
 * more items than the stream, spot-checked vectors), and hnswlib reads it; an index that covers fewer items than
 * the stream is extended from the stored embeddings. In every other case (missing, corrupt, unreadable,
 * mismatched) it is rebuilt from the items: a bad index file never stops a memory from opening. The checksum is
 * checked before hnswlib sees the file, because hnswlib trusts the sizes in a file's header and garbage there
 * can make it allocate without bound.
 *
 * Zero vectors (text without content terms under `HashedEmbeddings`) are not put in the graph: their cosine with
 * anything is 0 by definition, while hnswlib would leave them unnormalized and place them at distance 1 from
 * every query, where they would only crowd out real neighbors. They still count as covered items. A zero query
 * has no neighbors.
 */
export class MemoryIndex {
  /** True when `open` could not use the index file and built the index from the items. */
  readonly rebuilt: boolean;
  /** Why the file was not used, when `rebuilt`. */
  readonly rebuildReason: string | undefined;
  /** Items added from the stream on `open` because the index file covered fewer than the stream holds. */
  readonly extended: number;
  private covered = 0;
  private vectors = 0;
  private dirty: boolean;

  private constructor(
    private readonly graph: HierarchicalNSW,
    readonly dimensions: number,
    readonly path: string | undefined,
    state: { covered: number; vectors: number; rebuildReason?: string; extended: number },
  ) {
    this.covered = state.covered;
    this.vectors = state.vectors;
    this.rebuildReason = state.rebuildReason;
    this.rebuilt = state.rebuildReason !== undefined;
    this.extended = state.extended;
    this.dirty = this.rebuilt;
  }

  /** Load the index at `path` if it is whole and agrees with `items`, otherwise rebuild it; never fails on the file. */
  static async open(options: MemoryIndexOptions): Promise<MemoryIndex> {
    const { path, dimensions, items } = options;
    if (!Number.isInteger(dimensions) || dimensions < 1) throw new InvalidOptionError('dimensions', dimensions, 'a positive integer');
    for (const [position, item] of items.entries()) checkEmbedding(item.embedding, dimensions, position);
    const loaded = path === undefined ? { reason: 'no index path was given' } : await loadGraph(path, dimensions, items);
    if ('graph' in loaded) {
      const index = new MemoryIndex(loaded.graph, dimensions, path, { covered: loaded.count, vectors: loaded.vectors, extended: items.length - loaded.count });
      for (let position = loaded.count; position < items.length; position++) index.add(position, items[position]!.embedding);
      return index;
    }
    const graph = new HierarchicalNSW('cosine', dimensions);
    graph.initIndex({ maxElements: Math.max(INITIAL_CAPACITY, items.length), m: M, efConstruction: EF_CONSTRUCTION, randomSeed: RANDOM_SEED });
    const index = new MemoryIndex(graph, dimensions, path, { covered: 0, vectors: 0, rebuildReason: loaded.reason, extended: 0 });
    for (const [position, item] of items.entries()) index.add(position, item.embedding);
    return index;
  }

  /** Items covered: 0..count-1, including those with a zero embedding. */
  get count(): number {
    return this.covered;
  }

  /** Points in the graph: covered items whose embedding is not zero. */
  get vectorCount(): number {
    return this.vectors;
  }

  /** Add the next item (`index` must equal `count`: the index is append-only, like the stream). */
  add(index: number, embedding: readonly number[]): void {
    if (index !== this.covered) throw new InvalidOptionError('index', index, `the next item index, ${this.covered}`);
    checkEmbedding(embedding, this.dimensions, index);
    if (!isZeroVector(embedding)) {
      if (this.vectors >= this.graph.getMaxElements()) this.graph.resizeIndex(Math.max(INITIAL_CAPACITY, 2 * this.graph.getMaxElements()));
      this.graph.addPoint([...embedding], index);
      this.vectors++;
    }
    this.covered++;
    this.dirty = true;
  }

  /**
   * The `k` nearest items by cosine, nearest first (fewer when fewer are indexed). `ef` (the search breadth, trading
   * latency for recall) defaults to {@link searchEf}(k, items indexed).
   */
  search(query: readonly number[], k: number, ef?: number): IndexNeighbor[] {
    if (!Number.isInteger(k) || k < 1) throw new InvalidOptionError('k', k, 'a positive integer');
    if (query.length !== this.dimensions) throw new InvalidOptionError('query.length', query.length, `${this.dimensions}, the index's dimensions`);
    const wanted = Math.min(k, this.vectors);
    if (wanted === 0 || isZeroVector(query)) return [];
    this.graph.setEf(Math.max(ef ?? searchEf(wanted, this.vectors), wanted));
    const { neighbors, distances } = this.graph.searchKnn([...query], wanted);
    return neighbors.map((index, rank) => ({ index, similarity: 1 - distances[rank]! }));
  }

  /**
   * Write the index and its sidecar when anything changed since the last write (or since a rebuild). Both go to a
   * temporary file first, are fsync'd and renamed into place: a crash leaves the old pair, a new pair, or a pair
   * whose checksum disagrees (which `open` rebuilds from).
   * @throws MemoryIndexError when the files cannot be written (the memory itself is unaffected).
   */
  async flush(): Promise<void> {
    if (this.path === undefined || !this.dirty) return;
    const path = this.path;
    try {
      mkdirSync(dirname(path), { recursive: true });
      const temporary = `${path}.tmp`;
      this.graph.writeIndexSync(temporary);
      syncFile(temporary);
      const sha256 = createHash('sha256').update(readFileSync(temporary)).digest('hex');
      renameSync(temporary, path);
      const sidecar: Sidecar = { version: SIDECAR_VERSION, count: this.covered, dimensions: this.dimensions, vectors: this.vectors, sha256 };
      writeFileSync(temporary, JSON.stringify(sidecar));
      syncFile(temporary);
      renameSync(temporary, `${path}.json`);
      syncDirectory(dirname(path));
    } catch (cause) {
      throw new MemoryIndexError(path, `cannot be written (${(cause as NodeJS.ErrnoException).code ?? (cause instanceof Error ? cause.message : String(cause))})`, cause);
    }
    this.dirty = false;
  }
}

/** The persisted graph when it can be trusted for a prefix of `items`, or why not. */
async function loadGraph(path: string, dimensions: number, items: readonly IndexableItem[]): Promise<{ graph: HierarchicalNSW; count: number; vectors: number } | { reason: string }> {
  let sidecar: Sidecar;
  let bytes: Buffer;
  try {
    sidecar = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as Sidecar;
    bytes = readFileSync(path);
  } catch (error) {
    return { reason: `index file or its sidecar is missing or unreadable (${(error as NodeJS.ErrnoException).code ?? 'not JSON'})` };
  }
  if (typeof sidecar !== 'object' || sidecar === null || sidecar.version !== SIDECAR_VERSION) return { reason: 'sidecar is not a version 1 index description' };
  if (sidecar.dimensions !== dimensions) return { reason: `index has ${String(sidecar.dimensions)} dimensions, the memory ${dimensions}` };
  if (!Number.isInteger(sidecar.count) || sidecar.count < 0 || sidecar.count > items.length) return { reason: `index covers ${String(sidecar.count)} items, the stream holds ${items.length}` };
  if (createHash('sha256').update(bytes).digest('hex') !== sidecar.sha256) return { reason: 'index file does not match the checksum in its sidecar (corrupt or torn)' };
  const nonZero: number[] = [];
  for (let position = 0; position < sidecar.count; position++) if (!isZeroVector(items[position]!.embedding)) nonZero.push(position);
  if (sidecar.vectors !== nonZero.length) return { reason: `index holds ${String(sidecar.vectors)} vectors, the stream's first ${sidecar.count} items have ${nonZero.length}` };
  const graph = new HierarchicalNSW('cosine', dimensions);
  try {
    await graph.readIndex(path);
  } catch (error) {
    return { reason: `hnswlib cannot read the index file (${error instanceof Error ? error.message : String(error)})` };
  }
  if (graph.getNumDimensions() !== dimensions || graph.getCurrentCount() !== nonZero.length) return { reason: 'index file disagrees with its sidecar' };
  // The checksum proves the file is the one the sidecar describes, not that it was built from this stream: compare
  // the first, middle and last stored vectors with the stream's embeddings.
  const samples = new Set([nonZero[0], nonZero[Math.floor(nonZero.length / 2)], nonZero[nonZero.length - 1]]);
  for (const label of samples) {
    if (label === undefined) continue;
    if (!sameDirection(pointOf(graph, label), items[label]!.embedding)) return { reason: `the vector stored for item ${label} is not that item's embedding` };
  }
  return { graph, count: sidecar.count, vectors: nonZero.length };
}

function pointOf(graph: HierarchicalNSW, label: number): number[] | undefined {
  try {
    return graph.getPoint(label);
  } catch {
    return undefined;
  }
}

/** Whether a stored (normalized, float32) vector is `embedding` normalized, within float32 rounding. */
function sameDirection(stored: readonly number[] | undefined, embedding: readonly number[]): boolean {
  if (stored === undefined || stored.length !== embedding.length) return false;
  const norm = vectorNorm(embedding);
  return stored.every((value, position) => Math.abs(value - embedding[position]! / norm) <= 1e-5);
}

function checkEmbedding(embedding: readonly number[], dimensions: number, index: number): void {
  if (embedding.length !== dimensions) throw new InvalidOptionError(`embedding of item ${index}`, `${embedding.length} numbers`, `${dimensions} numbers, the index's dimensions`);
  if (!embedding.every(Number.isFinite)) throw new InvalidOptionError(`embedding of item ${index}`, 'non-finite numbers', 'finite numbers only');
}

/** fsync a file, so the rename that follows publishes whole contents. */
function syncFile(path: string): void {
  const descriptor = openSync(path, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

/** fsync a directory so renames in it are durable; not every platform allows it, so this is best effort. */
function syncDirectory(path: string): void {
  try {
    syncFile(path);
  } catch {
    // e.g. Windows: the files themselves are already synced.
  }
}
