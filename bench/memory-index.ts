/**
 * Memory index benchmark: hnswlib (through MemoryIndex) against exact brute-force cosine, on seeded random unit
 * vectors (64 dimensions by default) at 10k and 100k items. Random vectors are the hard case for HNSW (no low-dimensional
 * structure), so the recall here is a floor for real embeddings.
 *
 * Measured per size: build time, mean latency of a k=10 query, recall@10 against the exact answer (200 queries),
 * and the mean latency of the exact answer itself, computed side by side in this run (absolute times drift on
 * shared machines; the ratio holds). The brute force is the fastest plain-JS form: one contiguous Float64Array
 * and dot products (the vectors are unit length), so the ratio understates what the index saves over looping
 * through items' `number[]` embeddings.
 *
 * Run alone: `npx tsx --conditions=source bench/memory-index.ts`. It takes about 80 s on 2 cores, 70 of them
 * building the 100k index: hnswlib inserts one point at a time (the Node binding has no parallel insert), and
 * M 16 / efConstruction 200 cost about 0.7 ms a point at that size. `TOME_BENCH_MEMORY_SIZES=10000` (comma
 * separated) limits the sizes for a quick run (about 5 s).
 */
import { pathToFileURL } from 'node:url';
import { MemoryIndex, searchEf } from '../src/memory/memory-index.js';

/** 64 by default, the size the platform's reference hnswlib measurement used; `TOME_BENCH_MEMORY_DIMENSIONS` overrides. */
const DIMENSIONS = Number(process.env.TOME_BENCH_MEMORY_DIMENSIONS ?? 64);
const K = 10;
const QUERIES = 200;
const WARMUP_QUERIES = 20;
const EF_SWEEP = [50, 100, 200, 400, 800];
const SIZES = (process.env.TOME_BENCH_MEMORY_SIZES ?? '10000,100000').split(',').map(Number);

/** mulberry32: small, seeded, good enough to spread points on a sphere. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` points uniform on the unit sphere: normalized Gaussian components (Box–Muller). */
function randomUnitVectors(count: number, seed: number): number[][] {
  const random = seededRandom(seed);
  const vectors: number[][] = [];
  for (let item = 0; item < count; item++) {
    const vector = new Array<number>(DIMENSIONS);
    let squares = 0;
    for (let component = 0; component < DIMENSIONS; component++) {
      const value = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      vector[component] = value;
      squares += value * value;
    }
    const scale = 1 / Math.sqrt(squares);
    for (let component = 0; component < DIMENSIONS; component++) vector[component]! *= scale;
    vectors.push(vector);
  }
  return vectors;
}

/** Exact top-k by dot product over a flat row-major matrix of unit vectors. */
function bruteForceTopK(matrix: Float64Array, count: number, query: readonly number[], k: number): number[] {
  const bestScores: number[] = [];
  const bestIndices: number[] = [];
  for (let item = 0; item < count; item++) {
    const offset = item * DIMENSIONS;
    let dot = 0;
    for (let component = 0; component < DIMENSIONS; component++) dot += matrix[offset + component]! * query[component]!;
    if (bestScores.length === k && dot <= bestScores[k - 1]!) continue;
    let position = bestScores.length === k ? k - 1 : bestScores.length;
    while (position > 0 && bestScores[position - 1]! < dot) {
      bestScores[position] = bestScores[position - 1]!;
      bestIndices[position] = bestIndices[position - 1]!;
      position--;
    }
    bestScores[position] = dot;
    bestIndices[position] = item;
  }
  return bestIndices;
}

async function benchSize(items: number) {
  const vectors = randomUnitVectors(items, items);
  const queries = randomUnitVectors(QUERIES + WARMUP_QUERIES, items + 1);

  const buildStarted = performance.now();
  const index = await MemoryIndex.open({ dimensions: DIMENSIONS, items: vectors.map((embedding) => ({ embedding })) });
  const buildSeconds = (performance.now() - buildStarted) / 1000;

  for (const query of queries.slice(QUERIES)) index.search(query, K);
  const measured = queries.slice(0, QUERIES);
  const searchStarted = performance.now();
  const found = measured.map((query) => index.search(query, K).map((neighbor) => neighbor.index));
  const meanQueryMicros = ((performance.now() - searchStarted) * 1000) / QUERIES;

  const matrix = new Float64Array(items * DIMENSIONS);
  vectors.forEach((vector, item) => matrix.set(vector, item * DIMENSIONS));
  for (const query of queries.slice(QUERIES, QUERIES + 3)) bruteForceTopK(matrix, items, query, K);
  const exactStarted = performance.now();
  const exact = measured.map((query) => bruteForceTopK(matrix, items, query, K));
  const bruteForceMeanQueryMicros = ((performance.now() - exactStarted) * 1000) / QUERIES;

  const recall = (results: number[][]) => {
    let hits = 0;
    results.forEach((neighbors, query) => {
      const truth = new Set(exact[query]);
      hits += neighbors.filter((neighbor) => truth.has(neighbor)).length;
    });
    return round(hits / (QUERIES * K), 3);
  };
  const hits = recall(found) * QUERIES * K;
  // The recall/latency trade-off of the search breadth, side by side.
  const efSweep = EF_SWEEP.map((ef) => {
    const started = performance.now();
    const results = measured.map((query) => index.search(query, K, ef).map((neighbor) => neighbor.index));
    return { ef, meanQueryMicros: round(((performance.now() - started) * 1000) / QUERIES, 1), recallAt10: recall(results) };
  });
  return {
    efSweep,
    items,
    buildSeconds: round(buildSeconds, 2),
    meanQueryMicros: round(meanQueryMicros, 1),
    recallAt10: round(hits / (QUERIES * K), 3),
    bruteForceMeanQueryMicros: round(bruteForceMeanQueryMicros, 1),
    speedupOverBruteForce: round(bruteForceMeanQueryMicros / meanQueryMicros, 1),
  };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export async function benchMemoryIndex(): Promise<object> {
  for (const items of SIZES) if (!Number.isInteger(items) || items < K) throw new Error(`TOME_BENCH_MEMORY_SIZES: ${items} is not a whole number of items ≥ ${K}`);
  const results = [];
  for (const items of SIZES) results.push(await benchSize(items));
  return { dimensions: DIMENSIONS, k: K, queries: QUERIES, efSearch: SIZES.map((items) => ({ items, ef: searchEf(K, items) })), m: 16, efConstruction: 200, results };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const result = await benchMemoryIndex();
  console.log(JSON.stringify({ ...result, totalSeconds: round((performance.now() - started) / 1000, 1) }, null, 2));
}
