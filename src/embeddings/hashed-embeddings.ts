import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import { InvalidOptionError } from '../errors.js';
import { extractTerms } from '../models/extractive/terms.js';
import { vectorNorm } from './vectors.js';

/** 2048 buckets; see {@link HashedEmbeddings} for the measurements behind it (512 is too few for long segments). */
export const DEFAULT_EMBEDDING_DIMENSIONS = 2048;

/** Bigrams count half as much as single terms: they add word order, but single terms carry the topic. */
const BIGRAM_WEIGHT = 0.5;

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** A second, independent offset basis for the sign hash, so the sign does not follow from the bucket. */
const SIGN_OFFSET_BASIS = 0x9747b28c;
/** 2^32 / golden ratio: added once per probe, it gives each probe of a feature its own well-spread hash input. */
const PROBE_STEP = 0x9e3779b9;

/** Buckets each feature is spread over; see the class comment for why more than one. */
export const DEFAULT_HASHES_PER_FEATURE = 4;

export interface HashedEmbeddingsParams extends EmbeddingsParams {
  /** Length of every vector, a positive integer. Default {@link DEFAULT_EMBEDDING_DIMENSIONS}. */
  dimensions?: number;
  /** Buckets each feature is spread over, a positive integer. Default {@link DEFAULT_HASHES_PER_FEATURE}. */
  hashesPerFeature?: number;
}

/**
 * Offline, deterministic embeddings that need no model: the feature-hashing trick (Weinberger et al., 2009) over
 * the same terms the extractive engine scores by. It exists so that memory retrieval works, and is testable,
 * everywhere tome runs, with no download and no service; any LangChain `Embeddings` can replace it.
 *
 * - Features are the stemmed, stopword-free terms of {@link extractTerms}, plus each pair of adjacent terms
 *   (bigram) at half weight, so "harbour code" is closer to "harbour code" than to "code … harbour".
 * - Each feature is hashed with 32-bit FNV-1a (over its UTF-8 bytes) into one of `dimensions` buckets; a second
 *   FNV-1a hash with another offset basis picks a sign of +1 or −1. With the sign, two features that collide in
 *   a bucket cancel as often as they add, so collisions add noise but no bias to dot products.
 * - Both hashes go through MurmurHash3's 32-bit finalizer before they are reduced. FNV-1a alone mixes its low
 *   bits poorly (bit k of the hash depends only on bits 0..k of the input bytes, and bit 0 is their parity), so
 *   `hash % 512` and `hash & 1` are far from uniform: without the finalizer, a planted fact ("The secret harbour
 *   code is 48213.") ranked first among ~500 Moby Dick segments from 39 of 167 positions; with it, 149 (both
 *   at 512 dimensions and one hash per feature).
 * - Each feature is spread over `hashesPerFeature` (default 4) buckets, each probe with its own bucket and sign
 *   and weight/√4, so a feature's share of the norm is unchanged. Collision noise keeps the same variance
 *   (1/dimensions) but loses its heavy tail: one unlucky collision between a query term and a frequent word of
 *   the corpus no longer shifts every document holding that word.
 * - A feature seen `tf` times weighs `1 + ln(tf)` (times 0.5 for bigrams): repetition counts, but sublinearly, so
 *   one word repeated does not outweigh the rest of a passage.
 * - The vector is L2-normalized, so a dot product is a cosine similarity.
 *
 * Why 2048 dimensions and 4 hashes per feature: collision noise has a spread of about 1/√dimensions, while the
 * signal of a three-word question matching inside a long segment is small (cosine ≈ 0.13 for a 512-token segment).
 * With a fact ("The secret harbour code is 48213.") planted at 30 depths of Moby Dick cut into 792 segments of
 * 512 tokens (the SCM pipeline's default), its segment ranks first at 17–25 of the 30 depths with 512 dimensions,
 * 25–27 with 1024, and 28–30 with 2048 or 4096. Among 2,262 segments of 200 tokens, one hash per feature ranks it
 * first at only 15–17 of 30 depths at any size (one collision with a frequent word, kept at every size because
 * the bucket is the hash modulo a power of two), and four hashes at 30 of 30 from 1024 dimensions up. On 72k pairs of unrelated short
 * sentences, cosines above 0.2 occur for 0.67% of pairs at 512 × 1 and 0.003% at 2048 × 4. The cost is size:
 * 2048 numbers per stored item, and 8 KiB per item in the hnswlib index.
 *
 * A text with no content terms (empty, only stopwords or punctuation) has no features and embeds as the zero
 * vector. It cannot be normalized; its cosine with anything is taken to be 0 (it is similar to nothing). Indexes
 * must not divide by its norm; see `MemoryIndex`.
 *
 * Being lexical, it matches shared words (after stemming), not synonyms: "ship" does not find "vessel".
 */
export class HashedEmbeddings extends Embeddings {
  readonly dimensions: number;
  readonly hashesPerFeature: number;

  constructor(params: HashedEmbeddingsParams = {}) {
    const { dimensions = DEFAULT_EMBEDDING_DIMENSIONS, hashesPerFeature = DEFAULT_HASHES_PER_FEATURE, ...rest } = params;
    super(rest);
    if (!Number.isInteger(dimensions) || dimensions < 1) throw new InvalidOptionError('dimensions', dimensions, 'a positive integer');
    if (!Number.isInteger(hashesPerFeature) || hashesPerFeature < 1) throw new InvalidOptionError('hashesPerFeature', hashesPerFeature, 'a positive integer');
    this.dimensions = dimensions;
    this.hashesPerFeature = hashesPerFeature;
  }

  async embedQuery(text: string): Promise<number[]> {
    return this.embed(text);
  }

  async embedDocuments(documents: string[]): Promise<number[][]> {
    return documents.map((document) => this.embed(document));
  }

  /** The embedding of `text`, synchronously (the work is pure CPU; the async methods are LangChain's contract). */
  embed(text: string): number[] {
    const vector = new Array<number>(this.dimensions).fill(0);
    // Each of the P probes carries weight/√P, so a feature's share of the squared norm does not depend on P.
    const probeScale = 1 / Math.sqrt(this.hashesPerFeature);
    for (const [feature, weight] of weightedFeatures(text)) {
      const bucketHash = fnv1a(feature, FNV_OFFSET_BASIS);
      const signHash = fnv1a(feature, SIGN_OFFSET_BASIS);
      for (let probe = 0; probe < this.hashesPerFeature; probe++) {
        const bucket = finalize(bucketHash + probe * PROBE_STEP) % this.dimensions;
        const sign = (finalize(signHash + probe * PROBE_STEP) & 1) === 0 ? 1 : -1;
        vector[bucket]! += sign * weight * probeScale;
      }
    }
    return normalize(vector);
  }
}

/** Each distinct feature of `text` with its weight: (1 + ln tf) × (1 for terms, 0.5 for bigrams). */
function weightedFeatures(text: string): Map<string, number> {
  const terms = extractTerms(text);
  const counts = new Map<string, { count: number; weight: number }>();
  const count = (feature: string, weight: number) => {
    const entry = counts.get(feature);
    if (entry) entry.count++;
    else counts.set(feature, { count: 1, weight });
  };
  terms.forEach((term, position) => {
    // The prefix keeps a term apart from a bigram that happens to spell the same (terms hold no spaces anyway).
    count(`t:${term}`, 1);
    if (position > 0) count(`b:${terms[position - 1]} ${term}`, BIGRAM_WEIGHT);
  });
  const weights = new Map<string, number>();
  for (const [feature, { count: tf, weight }] of counts) weights.set(feature, (1 + Math.log(tf)) * weight);
  return weights;
}

/** 32-bit FNV-1a over the UTF-8 bytes of `text`, starting from `basis`; an unsigned integer. */
export function fnv1a(text: string, basis = FNV_OFFSET_BASIS): number {
  let hash = basis >>> 0;
  const mix = (byte: number) => {
    hash = Math.imul(hash ^ byte, FNV_PRIME) >>> 0;
  };
  for (const character of text) {
    const code = character.codePointAt(0)!;
    if (code < 0x80) mix(code);
    else if (code < 0x800) {
      mix(0xc0 | (code >> 6));
      mix(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      mix(0xe0 | (code >> 12));
      mix(0x80 | ((code >> 6) & 0x3f));
      mix(0x80 | (code & 0x3f));
    } else {
      mix(0xf0 | (code >> 18));
      mix(0x80 | ((code >> 12) & 0x3f));
      mix(0x80 | ((code >> 6) & 0x3f));
      mix(0x80 | (code & 0x3f));
    }
  }
  return hash;
}

/** MurmurHash3's fmix32: every output bit depends on every input bit (avalanche); unsigned. */
function finalize(hash: number): number {
  let mixed = hash ^ (hash >>> 16);
  mixed = Math.imul(mixed, 0x85ebca6b);
  mixed ^= mixed >>> 13;
  mixed = Math.imul(mixed, 0xc2b2ae35);
  mixed ^= mixed >>> 16;
  return mixed >>> 0;
}

/** `vector` scaled to unit length in place; the zero vector stays zero. */
function normalize(vector: number[]): number[] {
  const norm = vectorNorm(vector);
  if (norm === 0) return vector;
  const scale = 1 / norm;
  for (let index = 0; index < vector.length; index++) vector[index]! *= scale;
  return vector;
}
