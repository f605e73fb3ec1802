import hnswlib from 'hnswlib-node';

/**
 * Maximum-inner-product search over vectors that only ever get appended (labels 0, 1, 2, … in insertion order):
 * block representative keys, or every key of a layer. `hnsw` is hnswlib-node's graph index ('ip' space, fixed seed,
 * so the same insertions give the same index); `exact` scans. Both return labels in ascending order, the order
 * attention wants them in.
 */
export interface RetrievalIndex {
  readonly size: number;
  /** Append `count` vectors stored one after another in `rows` (labels size, size + 1, …). */
  addRows(rows: Float32Array, count: number): void;
  /**
   * Labels of the `k` vectors with the largest inner product with `query`, ascending, among labels < `below` (all
   * labels by default). All of those when k covers them.
   */
  search(query: Float32Array, k: number, below?: number): number[];
  /**
   * Share of the exact top-k that `search` finds, counting ties as found: an answer scoring at least the exact
   * k-th best score is as good as the one it replaced.
   */
  recall(query: Float32Array, k: number): number;
  /** Release what the index holds outside the JS heap (a background thread's copy). */
  close?(): void;
}

export interface RetrievalIndexOptions {
  kind: 'hnsw' | 'exact';
  efSearch: number;
  efConstruction: number;
}

export function createRetrievalIndex(dimensions: number, options: RetrievalIndexOptions): RetrievalIndex {
  return options.kind === 'hnsw' ? new HnswIndex(dimensions, options) : new ExactIndex(dimensions);
}

function tieAwareRecall(store: VectorStore, query: Float32Array, found: readonly number[], exact: readonly number[]): number {
  if (exact.length === 0) return 1;
  const kth = Math.min(...exact.map((label) => store.score(query, label)));
  const tolerance = 1e-5 * Math.max(1, Math.abs(kth));
  return Math.min(1, found.filter((label) => store.score(query, label) >= kth - tolerance).length / exact.length);
}

/** Vectors kept in one growing buffer: the exact scan reads it, and so does HNSW's recall check. */
class VectorStore {
  data: Float32Array;
  size = 0;

  constructor(readonly dimensions: number) {
    this.data = new Float32Array(dimensions * 64);
  }

  push(vector: Float32Array): void {
    if ((this.size + 1) * this.dimensions > this.data.length) {
      const grown = new Float32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data.set(vector.subarray(0, this.dimensions), this.size * this.dimensions);
    this.size++;
  }

  score(query: Float32Array, label: number): number {
    let total = 0;
    const base = label * this.dimensions;
    for (let i = 0; i < this.dimensions; i++) total += query[i]! * this.data[base + i]!;
    return total;
  }

  topK(query: Float32Array, k: number, below = this.size): number[] {
    const candidates = Math.min(below, this.size);
    const count = Math.min(k, candidates);
    if (count >= candidates) return Array.from({ length: candidates }, (_, label) => label);
    // A small heap would do; k is small against size, so keep the best `count` in a sorted array.
    const bestScores = new Float64Array(count).fill(-Infinity);
    const bestLabels = new Int32Array(count).fill(-1);
    const d = this.dimensions;
    for (let label = 0; label < candidates; label++) {
      let score = 0;
      const base = label * d;
      for (let i = 0; i < d; i++) score += query[i]! * this.data[base + i]!;
      if (score <= bestScores[count - 1]!) continue;
      let slot = count - 1;
      while (slot > 0 && bestScores[slot - 1]! < score) {
        bestScores[slot] = bestScores[slot - 1]!;
        bestLabels[slot] = bestLabels[slot - 1]!;
        slot--;
      }
      bestScores[slot] = score;
      bestLabels[slot] = label;
    }
    return Array.from(bestLabels).sort((a, b) => a - b);
  }
}

class ExactIndex implements RetrievalIndex {
  private readonly store: VectorStore;

  constructor(dimensions: number) {
    this.store = new VectorStore(dimensions);
  }

  get size(): number {
    return this.store.size;
  }

  addRows(rows: Float32Array, count: number): void {
    for (let row = 0; row < count; row++) this.store.push(rows.subarray(row * this.store.dimensions, (row + 1) * this.store.dimensions));
  }

  search(query: Float32Array, k: number, below?: number): number[] {
    return this.store.topK(query, k, below);
  }

  recall(): number {
    return 1;
  }
}

/**
 * hnswlib-node over the *distinct* vectors: a graph index degrades badly on exact duplicates (seen: layer-0 keys,
 * which depend on the token alone, so every repeat of a token adds the same vector), so each distinct vector is
 * inserted once and a hit expands to every label that shares it.
 *
 * Inner product is not a metric, and hnswlib's 'ip' space found only ~80% of the true top-k on attention keys even
 * at ef 2000. So search runs in L2 space after the standard reduction (Bachrach et al., 2014): x → [x, √(Φ² − ‖x‖²)],
 * q → [q, 0], whose nearest neighbours are exactly the largest inner products. Φ must bound every norm; when a
 * larger vector arrives, Φ doubles past it and the index is rebuilt (rare: geometric growth).
 */
export class HnswIndex implements RetrievalIndex {
  private index: hnswlib.HierarchicalNSW;
  private readonly store: VectorStore;
  private capacity = 1024;
  /** Distinct vector bytes → its index in `sharing`; sharing[i] = the labels holding distinct vector i. */
  private readonly distinct = new Map<string, number>();
  private readonly sharing: number[][] = [];
  /** Φ: bounds the norm of every vector inserted. 0 until the first one. */
  private normBound = 0;

  constructor(
    readonly dimensions: number,
    private readonly options: RetrievalIndexOptions,
  ) {
    this.index = this.emptyIndex();
    this.store = new VectorStore(dimensions);
  }

  get size(): number {
    return this.store.size;
  }

  private add(vector: Float32Array): void {
    const row = vector.subarray(0, this.dimensions);
    const key = Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('latin1');
    const label = this.store.size;
    this.store.push(row);
    const known = this.distinct.get(key);
    if (known !== undefined) {
      this.sharing[known]!.push(label);
      return;
    }
    const norm = Math.sqrt(row.reduce((sum, value) => sum + value * value, 0));
    if (norm > this.normBound) this.rebuild(2 * norm);
    if (this.sharing.length >= this.capacity) {
      this.capacity *= 2;
      this.index.resizeIndex(this.capacity);
    }
    this.distinct.set(key, this.sharing.length);
    this.index.addPoint(this.lifted(row), this.sharing.length);
    this.sharing.push([label]);
  }

  addRows(rows: Float32Array, count: number): void {
    for (let row = 0; row < count; row++) this.add(rows.subarray(row * this.dimensions, (row + 1) * this.dimensions));
  }

  private emptyIndex(): hnswlib.HierarchicalNSW {
    const index = new hnswlib.HierarchicalNSW('l2', this.dimensions + 1);
    index.initIndex(this.capacity, 16, this.options.efConstruction, 100);
    return index;
  }

  /** [x, √(Φ² − ‖x‖²)] */
  private lifted(row: Float32Array): number[] {
    const point = Array.from(row);
    const squared = point.reduce((sum, value) => sum + value * value, 0);
    point.push(Math.sqrt(Math.max(0, this.normBound ** 2 - squared)));
    return point;
  }

  /** A new norm bound: every distinct vector re-inserted under it, in the original order. */
  private rebuild(normBound: number): void {
    this.normBound = normBound;
    this.index = this.emptyIndex();
    this.sharing.forEach((labels, distinctIndex) => this.index.addPoint(this.lifted(this.store.data.subarray(labels[0]! * this.dimensions, (labels[0]! + 1) * this.dimensions)), distinctIndex));
  }

  search(query: Float32Array, k: number, below = this.store.size): number[] {
    const candidates = Math.min(below, this.store.size);
    if (k >= candidates) return Array.from({ length: candidates }, (_, label) => label);
    // A distinct vector is a candidate when its first holder is (the graph still routes through the others).
    const filter = candidates < this.store.size ? (distinctIndex: number) => this.sharing[distinctIndex]![0]! < candidates : undefined;
    const wanted = Math.min(k, this.sharing.length);
    this.index.setEf(Math.max(this.options.efSearch, wanted));
    const { neighbors, distances } = this.index.searchKnn([...query.subarray(0, this.dimensions), 0], wanted, filter);
    // Best first (smallest lifted distance = largest dot), each distinct vector expanded to its labels, until k labels.
    const order = neighbors.map((neighbor, index) => ({ neighbor, distance: distances[index]! })).sort((a, b) => a.distance - b.distance || a.neighbor - b.neighbor);
    const labels: number[] = [];
    for (const { neighbor } of order) {
      for (const label of this.sharing[neighbor]!) {
        if (labels.length === k || label >= candidates) break;
        labels.push(label);
      }
      if (labels.length === k) break;
    }
    return labels.sort((a, b) => a - b);
  }

  recall(query: Float32Array, k: number): number {
    return tieAwareRecall(this.store, query, this.search(query, k), this.store.topK(query, k));
  }
}
