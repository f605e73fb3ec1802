import { Redis } from 'ioredis';
import { findIndexBreak, parseMemoryItem, type MemoryItem } from './memory-item.js';
import { MemoryStoreError } from './memory-errors.js';
import type { MemoryStore } from './memory-store.js';

const HEADER = JSON.stringify({ tome: 'memory-stream', version: 1 });
/** Items are read in pages, so a large memory does not arrive as one huge reply. */
const LOAD_PAGE = 1000;
const OWNED_RETRIES_PER_REQUEST = 3;
const UNREACHABLE_FIX = 'check that the Redis server is running and reachable with the URL or client you passed';
const DAMAGED_FIX = 'point the store at another key, or delete this one to start an empty memory';

/**
 * Appends `ARGV[2]` as item `ARGV[1]` only if the list holds exactly the header and the items before it, creating
 * the header for item 0. Atomic on the server, so two writers can never interleave or duplicate an index.
 * Returns -1 on success, otherwise the list's length.
 */
const APPEND_SCRIPT = `
local length = redis.call('LLEN', KEYS[1])
local index = tonumber(ARGV[1])
if length == 0 and index == 0 then
  redis.call('RPUSH', KEYS[1], ARGV[3])
  length = 1
end
if length ~= index + 1 then return length end
redis.call('RPUSH', KEYS[1], ARGV[2])
return -1`;

export interface RedisMemoryStoreOptions {
  /** A connected client (the caller keeps owning it) or a `redis://` URL (the store opens and closes its own). */
  redis: Redis | string;
  /** The list that holds the stream: element 0 is a header, element n + 1 is item n as JSON. */
  key: string;
}

/**
 * A memory stream kept in a Redis list, for memories shared by several processes or machines. Element 0 is the
 * same header as the log file's first line, then one JSON item per element. Appends go through a small Lua script
 * that checks the list length first, so the store keeps the contract's order (no gaps, no duplicates) even with
 * concurrent writers. An item is committed when Redis acknowledges it; how durable that is depends on the
 * server's persistence settings (AOF with `appendfsync always` matches the log store).
 *
 * The description names the key only: a URL can carry a password, so it is never logged or put in a message.
 */
export class RedisMemoryStore implements MemoryStore {
  readonly key: string;
  private readonly client: Redis;
  private readonly ownsClient: boolean;
  private closed = false;
  private lastConnectionError: Error | undefined;

  constructor(options: RedisMemoryStoreOptions) {
    this.key = options.key;
    if (typeof options.redis === 'string') {
      // Fail a command after a few reconnect attempts (well under a second) instead of ioredis' 20, which leave
      // a caller with a wrong URL waiting for over a minute.
      this.client = new Redis(options.redis, { lazyConnect: true, maxRetriesPerRequest: OWNED_RETRIES_PER_REQUEST });
      this.ownsClient = true;
      // Without a listener ioredis prints every reconnect failure; the failure reaches the caller through the
      // command that needed the connection instead.
      this.client.on('error', (error: Error) => {
        this.lastConnectionError = error;
      });
    } else {
      this.client = options.redis;
      this.ownsClient = false;
    }
  }

  get description(): string {
    return `redis list "${this.key}"`;
  }

  async load(): Promise<MemoryItem[]> {
    const elements: string[] = [];
    for (let start = 0; ; start += LOAD_PAGE) {
      const page = await this.command(() => this.client.lrange(this.key, start, start + LOAD_PAGE - 1));
      elements.push(...page);
      if (page.length < LOAD_PAGE) break;
    }
    if (elements.length === 0) return [];
    if (elements[0] !== HEADER) throw new MemoryStoreError(this.description, 'element 0 is not a tome memory stream header', DAMAGED_FIX);
    const items: MemoryItem[] = [];
    for (let position = 1; position < elements.length; position++) {
      let value: unknown;
      try {
        value = JSON.parse(elements[position]!);
      } catch (cause) {
        throw new MemoryStoreError(this.description, `element ${position} is not JSON`, DAMAGED_FIX, cause);
      }
      const item = parseMemoryItem(value);
      if (typeof item === 'string') throw new MemoryStoreError(this.description, `element ${position} is not a memory item: ${item}`, DAMAGED_FIX);
      items.push(item);
    }
    const broken = findIndexBreak(items);
    if (broken) throw new MemoryStoreError(this.description, `element ${broken.position + 1} ${broken.problem}`, DAMAGED_FIX);
    return items;
  }

  async append(item: MemoryItem): Promise<void> {
    if (this.closed) throw new MemoryStoreError(this.description, 'is closed', 'open the memory again');
    const result = await this.command(() => this.client.eval(APPEND_SCRIPT, 1, this.key, item.index, JSON.stringify(item), HEADER));
    if (result !== -1) {
      const held = typeof result === 'number' ? Math.max(0, result - 1) : result;
      throw new MemoryStoreError(this.description, `item ${item.index} appended out of order: the list holds ${String(held)} items`, 'append items in index order, from one writer at a time (reopen the memory to see what another writer added)');
    }
  }

  /** Closes the connection only if the store opened it; a client passed in stays the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsClient) return;
    // QUIT needs a live connection; one that never came up (or went down) is just dropped.
    if (this.client.status !== 'ready') {
      this.client.disconnect();
      return;
    }
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private async command<Value>(run: () => Promise<Value>): Promise<Value> {
    try {
      return await run();
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      const connection = this.lastConnectionError ? ` (last connection error: ${this.lastConnectionError.message})` : '';
      throw new MemoryStoreError(this.description, `Redis command failed: ${reason}${connection}`, UNREACHABLE_FIX, cause);
    }
  }
}
