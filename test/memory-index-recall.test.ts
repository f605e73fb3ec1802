import { describe, expect, it } from 'vitest';
import { HashedEmbeddings } from '../src/embeddings/hashed-embeddings.js';
import { cosineSimilarity, isZeroVector } from '../src/embeddings/vectors.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { extractTerms } from '../src/models/extractive/terms.js';
import { splitSentences } from '../src/models/extractive/sentences.js';
import { mobyDickChapter } from './helpers/books.js';

const K = 10;

/** mulberry32: a small seeded generator, so the vectors (and the measured recall) are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform on the unit sphere: normalized Gaussian components (Box–Muller). */
function randomUnitVectors(count: number, dimensions: number, seed: number): number[][] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const vector = Array.from({ length: dimensions }, () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
    const norm = Math.hypot(...vector);
    return vector.map((value) => value / norm);
  });
}

/**
 * recall@k of the index against exact cosine, tie-aware: a returned item counts when its exact cosine is at least
 * the exact k-th best (lexical embeddings tie often, and any of the tied items is a correct answer).
 */
function recallAtK(index: MemoryIndex, vectors: readonly number[][], queries: readonly number[][]): number {
  let found = 0;
  let wanted = 0;
  for (const query of queries) {
    const exact = vectors.map((vector) => (isZeroVector(vector) ? -Infinity : cosineSimilarity(query, vector))).sort((a, b) => b - a);
    const kth = exact[K - 1]!;
    const returned = index.search(query, K);
    wanted += K;
    found += returned.filter((neighbor) => cosineSimilarity(query, vectors[neighbor.index]!) >= kth - 1e-12).length;
  }
  return found / wanted;
}

describe('MemoryIndex recall', () => {
  it('finds ≥ 95% of the exact 10 nearest among 10,000 random unit vectors of 64 dimensions', async () => {
    const vectors = randomUnitVectors(10_000, 64, 1);
    const queries = randomUnitVectors(100, 64, 2);
    const index = await MemoryIndex.open({ dimensions: 64, items: vectors.map((embedding) => ({ embedding })) });
    expect(index.count).toBe(10_000);
    const recall = recallAtK(index, vectors, queries);
    console.log(`recall@10, 10k random 64-d: ${recall.toFixed(3)}`);
    expect(recall).toBeGreaterThanOrEqual(0.95);
  }, 60_000);

  it('finds ≥ 95% of the exact 10 nearest among 1,000 Moby Dick sentences under HashedEmbeddings', async () => {
    // Chapter by chapter: Intl.Segmenter slows down sharply (worse than linearly) on a whole book at once.
    const sentences = Array.from({ length: 40 }, (_, chapter) => splitSentences(mobyDickChapter(chapter + 1)))
      .flat()
      .map((sentence) => sentence.text)
      .filter((text) => extractTerms(text).length >= 3);
    expect(sentences.length).toBeGreaterThan(2100);
    const embeddings = new HashedEmbeddings();
    const vectors = await embeddings.embedDocuments(sentences.slice(500, 1500));
    // Held-out sentences as queries: each shares only some words with the indexed ones, like a real question.
    const queries = await embeddings.embedDocuments(sentences.slice(2000, 2100));
    const index = await MemoryIndex.open({ dimensions: embeddings.dimensions, items: vectors.map((embedding) => ({ embedding })) });
    const recall = recallAtK(index, vectors, queries);
    console.log(`recall@10, 1k Moby Dick sentences: ${recall.toFixed(3)}`);
    expect(recall).toBeGreaterThanOrEqual(0.95);
  }, 60_000);
});
