import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import { InvalidOptionError } from '../../src/errors.js';
import { vectorNorm } from '../../src/embeddings/vectors.js';
import type { LocalEngine } from '../engine/engine-contract.js';

/** Texts per `engine.embed` call unless told otherwise: big enough to amortize a call, small enough to bound memory. */
export const DEFAULT_EMBEDDING_BATCH_SIZE = 16;

/** Constructor fields of {@link OnnxEmbeddings}. */
export interface OnnxEmbeddingsFields extends EmbeddingsParams {
  /** The local model; OnnxEmbeddings never disposes it (whoever created the engine owns it). */
  engine: LocalEngine;
  /** Texts per `engine.embed` call, a positive integer. Default {@link DEFAULT_EMBEDDING_BATCH_SIZE}. */
  batchSize?: number;
  /** Scale every vector to length 1, so a dot product is a cosine similarity. Default true. */
  normalize?: boolean;
}

/**
 * LangChain embeddings from tome's local engine: the mean-pooled final hidden states of the checkpoint, one
 * vector per text. Documents are sent in batches of `batchSize`, one batch at a time (the engine runs one model,
 * so concurrent batches would only queue and hold more memory).
 *
 * A zero vector (possible for an empty text) is returned as is rather than divided by its norm of 0, the same
 * convention as tome's other embeddings: it is similar to nothing.
 */
export class OnnxEmbeddings extends Embeddings {
  readonly engine: LocalEngine;
  readonly batchSize: number;
  readonly normalize: boolean;

  constructor(fields: OnnxEmbeddingsFields) {
    const { engine, batchSize = DEFAULT_EMBEDDING_BATCH_SIZE, normalize = true, ...rest } = fields;
    super(rest);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidOptionError('batchSize', batchSize, 'a positive integer');
    this.engine = engine;
    this.batchSize = batchSize;
    this.normalize = normalize;
  }

  async embedDocuments(documents: string[]): Promise<number[][]> {
    const vectors: number[][] = [];
    for (let start = 0; start < documents.length; start += this.batchSize) {
      const batch = documents.slice(start, start + this.batchSize);
      const embedded = await this.engine.embed(batch);
      if (embedded.length !== batch.length) throw new RangeError(`engine.embed returned ${embedded.length} vectors for ${batch.length} texts`);
      for (const vector of embedded) vectors.push(this.normalize ? unitLength(vector) : vector);
    }
    return vectors;
  }

  async embedQuery(document: string): Promise<number[]> {
    const [vector] = await this.embedDocuments([document]);
    if (!vector) throw new RangeError('engine.embed returned no vector for the query');
    return vector;
  }
}

function unitLength(vector: readonly number[]): number[] {
  const norm = vectorNorm(vector);
  return norm === 0 ? [...vector] : vector.map((value) => value / norm);
}
