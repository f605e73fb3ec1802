import type { MemoryItem } from './memory-item.js';
import { MemoryStoreError } from './memory-errors.js';
import type { MemoryStore } from './memory-store.js';

/**
 * A memory kept only in this process: for one-off runs that need no persistence, and for tests. Same contract as
 * the persistent stores (append-only, in index order), so code that works on it works on them.
 */
export class InMemoryMemoryStore implements MemoryStore {
  readonly description = 'in-memory store';
  private readonly stored: MemoryItem[] = [];
  private closed = false;

  async load(): Promise<MemoryItem[]> {
    return [...this.stored];
  }

  async append(item: MemoryItem): Promise<void> {
    if (this.closed) throw new MemoryStoreError(this.description, 'is closed', 'create a new store');
    if (item.index !== this.stored.length) {
      throw new MemoryStoreError(this.description, `item ${item.index} appended out of order: the store holds ${this.stored.length} items`, 'append items in index order, from one writer at a time');
    }
    this.stored.push(item);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
