/** Embeddings that run anywhere (no model, no service) and the vector helpers memory retrieval shares. */
export { HashedEmbeddings, DEFAULT_EMBEDDING_DIMENSIONS, fnv1a, type HashedEmbeddingsParams } from './hashed-embeddings.js';
export { cosineSimilarity, isZeroVector, vectorNorm } from './vectors.js';
