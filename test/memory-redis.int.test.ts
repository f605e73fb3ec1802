/**
 * Integration tests against a real Redis at 127.0.0.1:6379 (override with TOME_TEST_REDIS_URL). Every test uses
 * its own key under `tome-test:<uuid>` and deletes it afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HashedEmbeddings } from '../src/embeddings/hashed-embeddings.js';
import { TomeError } from '../src/errors.js';
import type { MemoryItem } from '../src/memory/memory-item.js';
import { MemoryStream, type NewMemory } from '../src/memory/memory-stream.js';
import { RedisMemoryStore } from '../src/memory/redis-memory-store.js';
import { segmentText } from '../src/segmentation.js';
import { mobyDickChapter } from './helpers/books.js';

const URL = process.env.TOME_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const FACT = 'The secret harbour code is 48213.';
const QUESTION = 'What is the secret harbour code?';
const embeddings = new HashedEmbeddings();

let client: Redis;
let key: string;
let directory: string;
const closers: (() => Promise<void>)[] = [];

beforeAll(() => {
  client = new Redis(URL);
});
afterAll(async () => {
  await client.quit();
});
beforeEach(() => {
  key = `tome-test:${randomUUID()}`;
  directory = mkdtempSync(join(tmpdir(), 'tome-memory-redis-'));
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => undefined);
  await client.del(key);
  rmSync(directory, { recursive: true, force: true });
});

function store(redis: Redis | string = URL): RedisMemoryStore {
  const opened = new RedisMemoryStore({ redis, key });
  closers.push(() => opened.close());
  return opened;
}

function item(index: number, text = `item ${index}`): MemoryItem {
  return { index, kind: 'turn', text, response: `reply ${index}`, summary: `summary ${index}`, embedding: [index, 1, 0.5], createdAt: new Date(Date.UTC(2024, 0, 1, 0, index)).toISOString() };
}

async function thrownBy(action: () => Promise<unknown>): Promise<TomeError> {
  try {
    await action();
  } catch (error) {
    expect(TomeError.is(error)).toBe(true);
    return error as TomeError;
  }
  throw new Error('expected the action to throw');
}

function mobySegments(): NewMemory[] {
  const segments: NewMemory[] = [];
  for (let chapter = 1; chapter <= 6; chapter++) {
    for (const segment of segmentText(mobyDickChapter(chapter), { maxTokens: 200 })) {
      segments.push({ kind: 'segment', text: segment.text, summary: segment.text.trim().split(/(?<=[.!?])\s/)[0]!.slice(0, 200), source: { charStart: segment.start, charEnd: segment.end } });
    }
  }
  const target = segments[Math.floor(segments.length / 2)]!;
  const middle = target.text.indexOf('. ', Math.floor(target.text.length / 2)) + 2;
  segments[Math.floor(segments.length / 2)] = { ...target, text: `${target.text.slice(0, middle)}${FACT} ${target.text.slice(middle)}` };
  return segments;
}

describe('RedisMemoryStore', () => {
  it('loads what it appended, in order, across connections', async () => {
    const writer = store();
    expect(await writer.load()).toEqual([]);
    const items = [item(0), item(1, 'line one\nline two 🐋'), { ...item(2), kind: 'segment' as const, source: { charStart: 5, charEnd: 9 } }];
    for (const stored of items) await writer.append(stored);
    expect(await writer.load()).toEqual(items);
    await writer.close();
    expect(await store().load()).toEqual(items);
    expect(await store(client).load()).toEqual(items);
    // Element 0 is the same header as the log file's first line.
    expect(JSON.parse((await client.lindex(key, 0))!)).toEqual({ tome: 'memory-stream', version: 1 });
    expect(await client.llen(key)).toBe(4);
  });

  it('refuses appends out of order, including a second writer that fell behind', async () => {
    const first = store();
    const second = store(client);
    await first.append(item(0));
    const late = await thrownBy(() => second.append(item(0)));
    expect(late.code).toBe('INPUT_UNREADABLE');
    expect(late.message).toContain(key);
    expect(late.fix.length).toBeGreaterThan(0);
    const gap = await thrownBy(() => first.append(item(2)));
    expect(gap.message).toContain('out of order');
    await second.append(item(1));
    expect((await first.load()).map((loaded) => loaded.index)).toEqual([0, 1]);
  });

  it('refuses a key that is not a tome memory stream', async () => {
    await client.rpush(key, 'not a header', '{}');
    expect((await thrownBy(() => store().load())).message).toContain('element 0');
    await client.del(key);
    await client.rpush(key, JSON.stringify({ tome: 'memory-stream', version: 1 }), JSON.stringify(item(0)), '{"index":1,"kind":"turn"');
    const damaged = await thrownBy(() => store().load());
    expect(damaged.message).toContain('element 2');
    expect(damaged.name).toBe('MemoryStoreError');
    await client.del(key);
    await client.set(key, 'a string, not a list');
    expect((await thrownBy(() => store().load())).message).toMatch(/WRONGTYPE/);
  });

  it('closes a connection it opened, and leaves a client it was given open', async () => {
    const given = store(client);
    await given.append(item(0));
    await given.close();
    expect(await client.ping()).toBe('PONG');
    expect((await thrownBy(() => given.append(item(1)))).message).toContain('closed');
    const owned = store();
    expect(await owned.load()).toHaveLength(1);
    await owned.close();
    await owned.close(); // harmless
  });

  it('never puts the URL (which may carry a password) in its description or messages', async () => {
    const secretUrl = URL.replace('redis://', 'redis://tome:hunter2-secret@');
    const failing = new Redis(secretUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const connectionErrors: Error[] = [];
    failing.on('error', (connectionError: Error) => connectionErrors.push(connectionError));
    closers.push(async () => failing.disconnect());
    const withPassword = new RedisMemoryStore({ redis: failing, key });
    expect(withPassword.description).toContain(key);
    expect(withPassword.description).not.toContain('hunter2');
    // This server has no such user: the command fails, and the message must not echo the password.
    const error = await thrownBy(() => withPassword.load());
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain(key);
  });

  it('fails fast with a typed error when Redis is unreachable, again without the password', async () => {
    const unreachable = store('redis://:hunter2-secret@127.0.0.1:1');
    const started = Date.now();
    const error = await thrownBy(() => unreachable.load());
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error.name).toBe('MemoryStoreError');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).not.toContain('hunter2');
    await unreachable.close();
  });
});

describe('MemoryStream over Redis', () => {
  it('retrieves the planted fact, before and after reopening, with the same results', async () => {
    const stream = await MemoryStream.open({ store: store(), embeddings, indexPath: join(directory, 'index.hnsw') });
    for (const memory of mobySegments()) await stream.add(memory);
    const planted = stream.items().findIndex((stored) => stored.text.includes(FACT));
    const before = await stream.retrieve(QUESTION, { k: 5 });
    expect(before[0]!.item.index).toBe(planted);
    const items = stream.items().map((stored) => ({ ...stored }));
    await stream.close();

    const reopened = await MemoryStream.open({ store: store(), embeddings, indexPath: join(directory, 'index.hnsw') });
    closers.push(() => reopened.close());
    expect(reopened.indexState.rebuilt).toBe(false);
    expect(reopened.items()).toEqual(items);
    const after = await reopened.retrieve(QUESTION, { k: 5 });
    expect(after.map((memory) => [memory.item.index, memory.score])).toEqual(before.map((memory) => [memory.item.index, memory.score]));

    // Without an index file the index is rebuilt from the list, with the same answer.
    const unindexed = await MemoryStream.open({ store: store(), embeddings });
    closers.push(() => unindexed.close());
    expect(unindexed.indexState.rebuilt).toBe(true);
    expect((await unindexed.retrieve(QUESTION, { k: 1 }))[0]!.item.index).toBe(planted);
  });
});
