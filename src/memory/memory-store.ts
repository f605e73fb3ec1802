import type { MemoryItem } from './memory-item.js';

/**
 * Where a memory stream is kept. The contract is append-only: `append` adds the next item (index = number of
 * items stored) and never rewrites one, and `load` returns every stored item in index order. When `append`
 * resolves the item is durable (what durable means is the store's to say: fsync'd for a file, acknowledged for
 * Redis). A store refuses an item whose index is not the next one, so two writers cannot interleave unnoticed.
 *
 * Implementations: `LogMemoryStore` (a JSONL file, embedded) and `RedisMemoryStore` (a Redis list, shared).
 */
export interface MemoryStore {
  /** Human-readable location for messages and logs; never holds credentials. */
  readonly description: string;
  /** Every stored item, in index order. */
  load(): Promise<MemoryItem[]>;
  /** Store the next item; durable when the promise resolves. */
  append(item: MemoryItem): Promise<void>;
  /** Release the file or connection; the store cannot be used afterwards. */
  close(): Promise<void>;
}
