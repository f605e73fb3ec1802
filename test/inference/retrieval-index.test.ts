import { afterAll, describe, expect, it } from 'vitest';
import { HnswThread } from '../../inference/engine/attention/hnsw-thread.js';
import { createRetrievalIndex, HnswIndex, type RetrievalIndexOptions } from '../../inference/engine/attention/retrieval-index.js';
import { EngineError } from '../../src/errors.js';

/**
 * The retrieval indexes behind blocks and kNN attention: the exact scan, inline HNSW, and HNSW in the background
 * thread, which must answer exactly as inline HNSW does (same insertions in the same order build the same graph).
 */
const DIMENSIONS = 12;
const hnsw: RetrievalIndexOptions = { kind: 'hnsw', efSearch: 64, efConstruction: 100 };

/** Deterministic vectors with some exact repeats (as layer-0 keys of repeated tokens are). */
function vectors(count: number, seed: number): Float32Array {
  const rows = new Float32Array(count * DIMENSIONS);
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648 - 0.5;
  };
  for (let row = 0; row < count; row++) {
    if (row % 7 === 6) rows.copyWithin(row * DIMENSIONS, (row - 5) * DIMENSIONS, (row - 4) * DIMENSIONS);
    else for (let i = 0; i < DIMENSIONS; i++) rows[row * DIMENSIONS + i] = next() * (1 + (row % 5));
  }
  return rows;
}

/** Brute force: labels < below with the k largest inner products, ascending. */
function exactTopK(rows: Float32Array, query: Float32Array, k: number, below: number): number[] {
  const scored = Array.from({ length: below }, (_, label) => {
    let dot = 0;
    for (let i = 0; i < DIMENSIONS; i++) dot += query[i]! * rows[label * DIMENSIONS + i]!;
    return { label, dot };
  });
  return scored
    .sort((a, b) => b.dot - a.dot || a.label - b.label)
    .slice(0, k)
    .map(({ label }) => label)
    .sort((a, b) => a - b);
}

const threads: HnswThread[] = [];
afterAll(() => threads.forEach((thread) => thread.close()));

describe('retrieval indexes', () => {
  const rows = vectors(600, 7);
  const queries = vectors(20, 99);
  const query = (index: number) => queries.subarray(index * DIMENSIONS, (index + 1) * DIMENSIONS);

  it('search below a label sees only the labels before it: exact = brute force, HNSW finds ≥ 95% of it', () => {
    const exact = createRetrievalIndex(DIMENSIONS, { ...hnsw, kind: 'exact' });
    const graph = createRetrievalIndex(DIMENSIONS, hnsw);
    exact.addRows(rows, 600);
    graph.addRows(rows, 600);
    let found = 0;
    let wanted = 0;
    for (let index = 0; index < 20; index++) {
      for (const below of [600, 450, 37]) {
        const truth = exactTopK(rows, query(index), 16, below);
        expect(exact.search(query(index), 16, below)).toEqual(truth);
        const labels = graph.search(query(index), 16, below);
        expect(labels.every((label) => label < below)).toBe(true);
        expect(labels).toHaveLength(16);
        found += labels.filter((label) => truth.includes(label)).length;
        wanted += truth.length;
      }
    }
    expect(found / wanted).toBeGreaterThanOrEqual(0.95);
    // k covering everything below the limit returns exactly that prefix.
    expect(graph.search(query(0), 50, 40)).toEqual(Array.from({ length: 40 }, (_, label) => label));
    expect(exact.search(query(0), 50, 40)).toEqual(Array.from({ length: 40 }, (_, label) => label));
  });

  it('HNSW in the background thread answers exactly as inline HNSW, insertions interleaved with searches', () => {
    const thread = new HnswThread();
    threads.push(thread);
    const background = thread.createIndex(DIMENSIONS, hnsw);
    const inline = new HnswIndex(DIMENSIONS, hnsw);
    for (let start = 0; start < 600; start += 100) {
      const batch = rows.subarray(start * DIMENSIONS, (start + 100) * DIMENSIONS);
      background.addRows(batch, 100);
      inline.addRows(batch, 100);
      // size is known at once, without waiting for the thread.
      expect(background.size).toBe(start + 100);
      for (let index = 0; index < 20; index++) {
        expect(background.search(query(index), 24), `after ${start + 100}, query ${index}`).toEqual(inline.search(query(index), 24));
        expect(background.search(query(index), 24, start + 50)).toEqual(inline.search(query(index), 24, start + 50));
      }
      expect(background.recall(query(3), 24)).toBe(inline.recall(query(3), 24));
    }
  });

  it('one thread serves many indexes; a failure comes back as a typed error, and a closed thread refuses work', () => {
    const thread = new HnswThread();
    threads.push(thread);
    const first = thread.createIndex(DIMENSIONS, hnsw);
    const second = thread.createIndex(DIMENSIONS, hnsw);
    const secondRows = rows.subarray(300 * DIMENSIONS);
    first.addRows(rows, 300);
    second.addRows(secondRows, 300);
    const inline = new HnswIndex(DIMENSIONS, hnsw);
    inline.addRows(secondRows, 300);
    expect(second.search(query(0), 5)).toEqual(inline.search(query(0), 5));
    expect(first.search(query(0), 5).every((label) => label < 300)).toBe(true);
    // A dropped index is gone from the thread.
    first.close?.();
    expect(() => first.search(query(0), 5)).toThrow(EngineError);
    expect(() => first.search(query(0), 5)).toThrow(/index 0 does not exist/);
    // An insertion fails inside the thread (a vector of the wrong width): nobody waits for it, so the next answer
    // carries the error, as a typed error and not a crash.
    second.addRows(new Float32Array(0), 1);
    expect(() => second.search(query(0), 5)).toThrow(/retrieval index failed: .*length/);
    thread.close();
    expect(() => second.search(query(0), 5)).toThrow(/closed/);
  });
});
