import { describe, expect, it } from 'vitest';
import { DEFAULT_EMBEDDING_DIMENSIONS, HashedEmbeddings, fnv1a } from '../src/embeddings/hashed-embeddings.js';
import { cosineSimilarity, vectorNorm } from '../src/embeddings/vectors.js';
import { TomeError } from '../src/errors.js';

const embeddings = new HashedEmbeddings();

describe('HashedEmbeddings', () => {
  it('hashes with standard 32-bit FNV-1a over UTF-8 bytes', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
    // "é" is two UTF-8 bytes: the same as hashing them one by one.
    expect(fnv1a('é')).toBe(Math.imul(Math.imul(0x811c9dc5 ^ 0xc3, 0x01000193) >>> 0 ^ 0xa9, 0x01000193) >>> 0);
  });

  it('is deterministic, across calls and instances', async () => {
    const text = 'Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about.';
    const first = await embeddings.embedQuery(text);
    expect(await embeddings.embedQuery(text)).toEqual(first);
    expect(await new HashedEmbeddings().embedQuery(text)).toEqual(first);
  });

  it('returns unit vectors of the configured dimensions', async () => {
    const vector = await embeddings.embedQuery('The whale breached beside the ship.');
    expect(vector).toHaveLength(DEFAULT_EMBEDDING_DIMENSIONS);
    expect(DEFAULT_EMBEDDING_DIMENSIONS).toBe(2048);
    expect(vectorNorm(vector)).toBeCloseTo(1, 12);
    const small = await new HashedEmbeddings({ dimensions: 64 }).embedQuery('The whale breached beside the ship.');
    expect(small).toHaveLength(64);
    expect(vectorNorm(small)).toBeCloseTo(1, 12);
  });

  it('refuses dimensions or hashes per feature that are not positive integers', () => {
    const settings = [0, -3, 1.5, Number.NaN].flatMap((value) => [{ dimensions: value }, { hashesPerFeature: value }]);
    for (const params of settings) {
      let thrown: unknown;
      try {
        new HashedEmbeddings(params);
      } catch (error) {
        thrown = error;
      }
      expect(TomeError.is(thrown) && thrown.code, JSON.stringify(params)).toBe('INVALID_OPTION');
    }
  });

  it('spreads each feature over hashesPerFeature buckets without changing self-similarity', async () => {
    const text = 'The whale breached beside the ship.';
    const single = new HashedEmbeddings({ hashesPerFeature: 1 }).embed(text);
    const spread = new HashedEmbeddings().embed(text);
    const nonZero = (vector: number[]) => vector.filter((value) => value !== 0).length;
    // whale, breach, beside, ship + 3 bigrams = 7 features.
    expect(nonZero(single)).toBeLessThanOrEqual(7);
    expect(nonZero(spread)).toBeGreaterThan(nonZero(single));
    expect(vectorNorm(single)).toBeCloseTo(1, 12);
    expect(cosineSimilarity(spread, new HashedEmbeddings().embed(text))).toBeCloseTo(1, 12);
  });

  it('scores texts that share terms higher than unrelated texts', async () => {
    const [query, related, unrelated] = await embeddings.embedDocuments([
      'What is the secret harbour code?',
      'The secret harbour code is 48213.',
      'Queequeg sharpened his harpoon by the fire in the inn.',
    ]);
    const relatedCosine = cosineSimilarity(query!, related!);
    const unrelatedCosine = cosineSimilarity(query!, unrelated!);
    expect(relatedCosine).toBeGreaterThan(0.5);
    expect(Math.abs(unrelatedCosine)).toBeLessThan(0.2);
    expect(relatedCosine).toBeGreaterThan(unrelatedCosine);
  });

  it('matches inflections through the shared stemmer, and word order through bigrams', async () => {
    const [whales, whale] = await embeddings.embedDocuments(['whales sailing', 'whale sailed']);
    expect(cosineSimilarity(whales!, whale!)).toBeCloseTo(1, 12);
    const [ordered, same, reversed] = await embeddings.embedDocuments(['harbour code', 'harbour code', 'code harbour']);
    expect(cosineSimilarity(ordered!, same!)).toBeCloseTo(1, 12);
    expect(cosineSimilarity(ordered!, reversed!)).toBeLessThan(0.99);
    expect(cosineSimilarity(ordered!, reversed!)).toBeGreaterThan(0.5);
  });

  it('embedDocuments is embedQuery of each document, in order', async () => {
    const documents = ['first whale', '', 'a ship, a sea, a crew', 'first whale'];
    const batch = await embeddings.embedDocuments(documents);
    expect(batch).toEqual(await Promise.all(documents.map((document) => embeddings.embedQuery(document))));
  });

  it('embeds a text without content terms as the zero vector, whose cosine with anything is 0', async () => {
    for (const text of ['', '   ', 'the and of it', '!?…']) {
      const vector = await embeddings.embedQuery(text);
      expect(vector).toHaveLength(DEFAULT_EMBEDDING_DIMENSIONS);
      expect(vector.every((value) => value === 0)).toBe(true);
      expect(cosineSimilarity(vector, await embeddings.embedQuery('whale'))).toBe(0);
      expect(cosineSimilarity(vector, vector)).toBe(0);
    }
  });
});
