/**
 * The persistent memory of the Self-Controlled Memory (SCM) system: items, the store contract and its file,
 * Redis and in-memory implementations, the hnswlib index, and the memory stream that ties them together.
 */
export type { MemoryItem } from './memory-item.js';
export { parseMemoryItem } from './memory-item.js';
export type { MemoryStore } from './memory-store.js';
export { MemoryStoreError, MemoryIndexError } from './memory-errors.js';
export { LogMemoryStore, STREAM_FILE_NAME } from './log-memory-store.js';
export { RedisMemoryStore, type RedisMemoryStoreOptions } from './redis-memory-store.js';
export { InMemoryMemoryStore } from './in-memory-memory-store.js';
export { MemoryIndex, searchEf, SEARCH_EF_FLOOR, type MemoryIndexOptions, type IndexableItem, type IndexNeighbor } from './memory-index.js';
export {
  MemoryStream,
  INDEX_FLUSH_INTERVAL,
  type EmbedFrom,
  type MemoryStreamOptions,
  type NewMemory,
  type RetrieveOptions,
  type RetrievedMemory,
  type MemoryIndexState,
} from './memory-stream.js';
export { HashedEmbeddings, DEFAULT_EMBEDDING_DIMENSIONS, type HashedEmbeddingsParams } from '../embeddings/hashed-embeddings.js';
