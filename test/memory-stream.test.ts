import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashedEmbeddings } from '../src/embeddings/hashed-embeddings.js';
import { cosineSimilarity } from '../src/embeddings/vectors.js';
import { TomeError } from '../src/errors.js';
import { InMemoryMemoryStore } from '../src/memory/in-memory-memory-store.js';
import { LogMemoryStore } from '../src/memory/log-memory-store.js';
import { MemoryStream, type NewMemory, type RetrieveOptions } from '../src/memory/memory-stream.js';
import { segmentText } from '../src/segmentation.js';
import { mobyDickChapter } from './helpers/books.js';

const FACT = 'The secret harbour code is 48213.';
const QUESTION = 'What is the secret harbour code?';
const embeddings = new HashedEmbeddings();

let directory: string;
const open: MemoryStream[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'tome-memory-'));
});
afterEach(async () => {
  for (const stream of open.splice(0)) await stream.close().catch(() => undefined);
  rmSync(directory, { recursive: true, force: true });
});

const indexPath = (at = directory) => join(at, 'index.hnsw');
const streamPath = (at = directory) => join(at, 'stream.jsonl');

/** A memory in `at` with its index beside the stream; closed after the test. */
async function openMemory(at = directory, options: { indexed?: boolean } = {}): Promise<MemoryStream> {
  const store = await LogMemoryStore.open(at);
  const stream = await MemoryStream.open({ store, embeddings, indexPath: options.indexed === false ? undefined : indexPath(at) });
  open.push(stream);
  return stream;
}

/**
 * Moby Dick chapters 1–8 cut into ~200-token segments (about 90), each summarized by its first sentence; the
 * planted fact goes into the middle of a segment halfway through, where its summary does not mention it.
 */
function mobySegments(): NewMemory[] {
  const segments: NewMemory[] = [];
  for (let chapter = 1; chapter <= 8; chapter++) {
    const text = mobyDickChapter(chapter);
    for (const segment of segmentText(text, { maxTokens: 200 })) {
      const summary = segment.text.trim().split(/(?<=[.!?])\s/)[0]!.slice(0, 200);
      segments.push({ kind: 'segment', text: segment.text, summary, source: { charStart: segment.start, charEnd: segment.end } });
    }
  }
  const planted = Math.floor(segments.length / 2);
  const target = segments[planted]!;
  const middle = target.text.indexOf('. ', Math.floor(target.text.length / 2)) + 2;
  segments[planted] = { ...target, text: `${target.text.slice(0, middle)}${FACT} ${target.text.slice(middle)}` };
  return segments;
}

async function addAll(stream: MemoryStream, memories: readonly NewMemory[]): Promise<void> {
  for (const memory of memories) await stream.add(memory);
}

function plantedIndex(stream: MemoryStream): number {
  return stream.items().findIndex((item) => item.text.includes(FACT));
}

/** Retrieval results reduced to what must be identical across reopen and rebuild. */
async function ranking(stream: MemoryStream, query: string, options: RetrieveOptions) {
  return (await stream.retrieve(query, options)).map((memory) => ({ index: memory.item.index, relevance: memory.relevance, recency: memory.recency, score: memory.score }));
}

const QUERIES = [QUESTION, 'Queequeg and his harpoon at the Spouter-Inn', 'the sermon in the whaleman chapel', 'Nantucket', ''];

async function rankings(stream: MemoryStream) {
  return Promise.all(QUERIES.map((query) => ranking(stream, query, { k: 5 })));
}

function expectStoreError(error: unknown, file: string, line?: number): void {
  expect(TomeError.is(error)).toBe(true);
  const tomeError = error as TomeError;
  expect(tomeError.name).toBe('MemoryStoreError');
  expect(tomeError.code).toBe('INPUT_UNREADABLE');
  expect(tomeError.message).toContain(file);
  if (line !== undefined) expect(tomeError.message).toContain(`line ${line}`);
  expect(tomeError.fix.length).toBeGreaterThan(0);
}

async function thrownBy(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error('expected the action to throw');
}

describe('MemoryStream', () => {
  it('adds items with consecutive indices, embeddings and times, and retrieves them', async () => {
    const stream = await openMemory();
    expect(stream.size).toBe(0);
    expect(await stream.retrieve('anything', { k: 3 })).toEqual([]);
    const before = Date.now();
    const first = await stream.add({ kind: 'turn', text: 'Where does the Pequod sail from?', response: 'From Nantucket.', summary: 'The user asked where the Pequod sails from.' });
    const second = await stream.add({ kind: 'segment', text: 'Queequeg carried his harpoon everywhere.', summary: 'Queequeg and his harpoon.', source: { charStart: 10, charEnd: 51 } });
    expect(first).toMatchObject({ index: 0, kind: 'turn', response: 'From Nantucket.' });
    expect(second).toMatchObject({ index: 1, kind: 'segment', source: { charStart: 10, charEnd: 51 } });
    expect(second).not.toHaveProperty('response');
    expect(first.embedding).toHaveLength(embeddings.dimensions);
    expect(Date.parse(first.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(first.createdAt).toBe(new Date(first.createdAt).toISOString());
    // embedFrom defaults to 'both': summary, newline, text.
    expect(first.embedding).toEqual(await embeddings.embedQuery(`${first.summary}\n${first.text}`));
    expect(Object.isFrozen(first)).toBe(true);

    expect(stream.size).toBe(2);
    expect(stream.get(1)).toBe(second);
    expect(stream.get(2)).toBeUndefined();
    expect(stream.items()).toEqual([first, second]);

    const [best, other] = await stream.retrieve('Tell me about the harpoon of Queequeg', { k: 5 });
    expect(best!.item).toBe(second);
    expect(best!.recency).toBe(1);
    expect(best!.score).toBeCloseTo(best!.relevance + 0.1 * best!.recency, 12);
    expect(other!.item).toBe(first);
    expect(other!.recency).toBeCloseTo(0.5 ** (1 / 20), 12);
  });

  it('embeds the summary, the text, or both, as asked', async () => {
    const memory: NewMemory = { kind: 'turn', text: 'harpoon', summary: 'whale' };
    for (const [embedFrom, source] of [['summary', 'whale'], ['text', 'harpoon'], ['both', 'whale\nharpoon']] as const) {
      const stream = await MemoryStream.open({ store: new InMemoryMemoryStore(), embeddings, embedFrom });
      expect((await stream.add(memory)).embedding).toEqual(await embeddings.embedQuery(source));
      await stream.close();
    }
  });

  it('gives concurrent adds indices in call order', async () => {
    const stream = await openMemory();
    const added = await Promise.all(Array.from({ length: 20 }, (_, position) => stream.add({ kind: 'turn', text: `message number ${position} about whale ${position}`, summary: '' })));
    expect(added.map((item) => item.index)).toEqual(Array.from({ length: 20 }, (_, position) => position));
    expect(added.map((item) => item.text)).toEqual(Array.from({ length: 20 }, (_, position) => `message number ${position} about whale ${position}`));
  });

  it('ranks the segment holding a planted fact first among ~90 Moby Dick segments', async () => {
    const stream = await openMemory();
    await addAll(stream, mobySegments());
    expect(stream.size).toBeGreaterThan(60);
    const planted = plantedIndex(stream);
    expect(planted).toBeGreaterThan(10);
    const results = await stream.retrieve(QUESTION, { k: 5 });
    expect(results).toHaveLength(5);
    expect(results[0]!.item.index).toBe(planted);
    expect(results[0]!.relevance).toBeGreaterThan(results[1]!.relevance);
    for (let rank = 1; rank < results.length; rank++) expect(results[rank - 1]!.score).toBeGreaterThanOrEqual(results[rank]!.score);
  });

  it('never returns excluded items, and still returns k', async () => {
    const stream = await openMemory();
    await addAll(stream, mobySegments());
    const planted = plantedIndex(stream);
    const all = await stream.retrieve(QUESTION, { k: 6 });
    const exclude = [planted, all[1]!.item.index, stream.size - 1];
    const results = await stream.retrieve(QUESTION, { k: 6, exclude });
    expect(results).toHaveLength(6);
    for (const result of results) expect(exclude).not.toContain(result.item.index);
    // What remains is the unexcluded part of a longer ranking, in the same order.
    const longer = (await stream.retrieve(QUESTION, { k: 12 })).filter((memory) => !exclude.includes(memory.item.index));
    expect(results.map((memory) => memory.item.index)).toEqual(longer.slice(0, 6).map((memory) => memory.item.index));
    // Excluding everything leaves nothing.
    expect(await stream.retrieve(QUESTION, { k: 3, exclude: stream.items().map((item) => item.index) })).toEqual([]);
  });

  it('breaks ties toward recent items, and a recency weight of 0 removes the recency term', async () => {
    const stream = await openMemory();
    const filler = (position: number): NewMemory => ({ kind: 'turn', text: `Starbuck counted barrels of oil, tally ${position}.`, summary: '' });
    const older = await stream.add({ kind: 'turn', text: 'harpoon whale ship', summary: '' });
    for (let position = 0; position < 10; position++) await stream.add(filler(position));
    const twin = await stream.add({ kind: 'turn', text: 'harpoon whale ship', summary: '' });
    for (let position = 10; position < 20; position++) await stream.add(filler(position));
    const longer = await stream.add({ kind: 'turn', text: 'harpoon whale ship rope', summary: '' });

    // Identical texts tie on relevance: the newer twin ranks first by default.
    const [first, second] = await stream.retrieve('harpoon whale ship', { k: 2 });
    expect([first!.item.index, second!.item.index]).toEqual([twin.index, older.index]);
    expect(first!.relevance).toBeCloseTo(second!.relevance, 12);
    expect(first!.score).toBeGreaterThan(second!.score);

    // Weight 0: the score is the relevance, and the exact matches beat the newer, longer text.
    const plain = await stream.retrieve('harpoon whale ship', { k: 3, recencyWeight: 0 });
    for (const memory of plain) expect(memory.score).toBe(memory.relevance);
    expect(plain[2]!.item.index).toBe(longer.index);
    expect(plain[2]!.relevance).toBeLessThan(plain[0]!.relevance);

    // The default weight is only a tie-breaker; a large one lets recency outweigh a relevance gap.
    expect((await stream.retrieve('harpoon whale ship', { k: 1 }))[0]!.item.index).toBe(twin.index);
    expect((await stream.retrieve('harpoon whale ship', { k: 1, recencyWeight: 1 }))[0]!.item.index).toBe(longer.index);

    // A shorter half-life makes older items fade faster: recency = 0.5 ** (items back / half-life).
    const faded = await stream.retrieve('harpoon whale ship', { k: 3, recencyHalfLife: 2 });
    expect(faded.map((memory) => memory.item.index)).toEqual([twin.index, older.index, longer.index]);
    expect(faded[0]!.recency).toBeCloseTo(0.5 ** ((stream.size - 1 - twin.index) / 2), 15);
    expect(faded[2]!.recency).toBe(1);
  });

  it('lifts a recent item the index did not return when recency outweighs the relevance gap', async () => {
    const stream = await openMemory();
    await addAll(stream, mobySegments());
    // The newest item shares no term with the query: relevance 0, found only through recency.
    const newest = await stream.add({ kind: 'turn', text: 'Aye aye, sir.', summary: '' });
    const results = await stream.retrieve(QUESTION, { k: 3, recencyWeight: 5 });
    expect(results.map((memory) => memory.item.index)).toContain(newest.index);
    expect(results.find((memory) => memory.item.index === newest.index)!.relevance).toBeCloseTo(0, 12);
    // The same ranking as scoring every item by hand.
    const query = await embeddings.embedQuery(QUESTION);
    const exact = stream
      .items()
      .map((item) => ({ index: item.index, score: cosineSimilarity(query, item.embedding) + 5 * 0.5 ** ((stream.size - 1 - item.index) / 20) }))
      .sort((first, second) => second.score - first.score || second.index - first.index)
      .slice(0, 3);
    expect(results.map((memory) => memory.item.index)).toEqual(exact.map((entry) => entry.index));
  });

  it('indexes items without content terms without breaking, and ranks them by recency only', async () => {
    const stream = await openMemory();
    await stream.add({ kind: 'turn', text: 'The whale sounded.', summary: 'whale' });
    const empty = await stream.add({ kind: 'turn', text: '', summary: '' });
    const punctuation = await stream.add({ kind: 'turn', text: '?!', summary: 'and the' });
    expect(empty.embedding.every((value) => value === 0)).toBe(true);
    expect(stream.indexState.count).toBe(3);
    const [best, ...rest] = await stream.retrieve('whale', { k: 3 });
    expect(best!.item.index).toBe(0);
    expect(rest.map((memory) => memory.relevance)).toEqual([0, 0]);
    // A query without content terms is similar to nothing: the newest items win.
    const byRecency = await stream.retrieve('the and of', { k: 2 });
    expect(byRecency.map((memory) => memory.item.index)).toEqual([punctuation.index, empty.index]);
    await stream.close();
    const reopened = await openMemory();
    expect(reopened.indexState.rebuilt).toBe(false);
    expect((await reopened.retrieve('whale', { k: 1 }))[0]!.item.index).toBe(0);
  });

  it('refuses bad retrieval options and embeddings of another size', async () => {
    const stream = await openMemory();
    await stream.add({ kind: 'turn', text: 'whale', summary: '' });
    for (const options of [{ k: 0 }, { k: 1.5 }, { k: 2, recencyWeight: -1 }, { k: 2, recencyHalfLife: 0 }]) {
      expect(await thrownBy(() => stream.retrieve('whale', options))).toMatchObject({ code: 'INVALID_OPTION' });
    }
    await stream.close();
    const other = await MemoryStream.open({ store: await LogMemoryStore.open(directory), embeddings: new HashedEmbeddings({ dimensions: 64 }), indexPath: indexPath() });
    open.push(other);
    expect(await thrownBy(() => other.add({ kind: 'turn', text: 'ship', summary: '' }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(await thrownBy(() => other.retrieve('ship', { k: 1 }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(other.size).toBe(1);
  });

  it('stores nothing when the embeddings return an unusable vector', async () => {
    const vectors: number[][] = [[], [1, Number.NaN]];
    const broken = { embedQuery: async () => [1, 0], embedDocuments: async () => [vectors.shift()!] };
    const stream = await MemoryStream.open({ store: new InMemoryMemoryStore(), embeddings: broken });
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await thrownBy(() => stream.add({ kind: 'turn', text: 'whale', summary: '' }))).toMatchObject({ code: 'INVALID_OPTION' });
    }
    expect(stream.size).toBe(0);
    expect(await stream.store.load()).toEqual([]);
  });
});

describe('MemoryStream persistence', () => {
  it('reopens with the same items and the same retrieval results, from the saved index', async () => {
    const stream = await openMemory();
    await addAll(stream, mobySegments());
    const items = stream.items().map((item) => ({ ...item }));
    const before = await rankings(stream);
    await stream.close();
    await stream.close(); // harmless

    const reopened = await openMemory();
    expect(reopened.indexState).toMatchObject({ rebuilt: false, extended: 0, count: items.length });
    expect(reopened.items()).toEqual(items);
    expect(await rankings(reopened)).toEqual(before);
    expect((await reopened.retrieve(QUESTION, { k: 1 }))[0]!.item.index).toBe(plantedIndex(reopened));
    // Adding continues the sequence.
    expect((await reopened.add({ kind: 'turn', text: 'one more', summary: '' })).index).toBe(items.length);
  });

  it('rebuilds a deleted index with the same results', async () => {
    const stream = await openMemory();
    await addAll(stream, mobySegments());
    const before = await rankings(stream);
    await stream.close();
    unlinkSync(indexPath());

    const reopened = await openMemory();
    expect(reopened.indexState.rebuilt).toBe(true);
    expect(reopened.indexState.rebuildReason).toMatch(/missing/);
    expect(reopened.indexState.count).toBe(reopened.size);
    expect(await rankings(reopened)).toEqual(before);
    // The rebuilt index is written on close and used next time.
    await reopened.close();
    expect((await openMemory()).indexState.rebuilt).toBe(false);
  });

  it('rebuilds an index file overwritten with garbage, or truncated, or with a damaged sidecar', async () => {
    const stream = await openMemory();
    await addAll(stream, mobySegments());
    const before = await rankings(stream);
    await stream.close();
    const original = readFileSync(indexPath());
    const damages: [string, () => void][] = [
      ['garbage', () => writeFileSync(indexPath(), Buffer.from(Array.from({ length: original.length }, (_, position) => (position * 7919 + 13) % 256)))],
      ['truncated', () => writeFileSync(indexPath(), original.subarray(0, Math.floor(original.length / 3)))],
      ['sidecar', () => writeFileSync(`${indexPath()}.json`, '{"version":1,"count":')],
      ['huge header', () => writeFileSync(indexPath(), Buffer.alloc(64, 0xff))],
    ];
    for (const [name, damage] of damages) {
      damage();
      const reopened = await openMemory();
      expect(reopened.indexState.rebuilt, name).toBe(true);
      expect(await rankings(reopened), name).toEqual(before);
      await reopened.close();
      expect(readFileSync(indexPath()).equals(original), name).toBe(true);
    }
  });

  it('rebuilds an index that belongs to another memory of the same size', async () => {
    const other = join(directory, 'other');
    const first = await openMemory(other);
    await addAll(first, mobySegments().reverse());
    await first.close();
    const stream = await openMemory();
    await addAll(stream, mobySegments());
    const before = await rankings(stream);
    await stream.close();
    copyFileSync(indexPath(other), indexPath());
    copyFileSync(`${indexPath(other)}.json`, `${indexPath()}.json`);

    const reopened = await openMemory();
    expect(reopened.indexState.rebuilt).toBe(true);
    expect(reopened.indexState.rebuildReason).toMatch(/not that item's embedding/);
    expect(await rankings(reopened)).toEqual(before);
  });

  it('extends an index that covers fewer items than the stream', async () => {
    const memories = mobySegments();
    const half = Math.floor(memories.length / 2) - 5;
    const stream = await openMemory();
    await addAll(stream, memories.slice(0, half));
    await stream.close(); // flushes the index with `half` items

    // Another writer appends the rest without touching the index file.
    const writer = await openMemory(directory, { indexed: false });
    await addAll(writer, memories.slice(half));
    await writer.close();

    const reopened = await openMemory();
    expect(reopened.indexState).toMatchObject({ rebuilt: false, extended: memories.length - half, count: memories.length });
    expect((await reopened.retrieve(QUESTION, { k: 1 }))[0]!.item.index).toBe(plantedIndex(reopened));
    const extended = await rankings(reopened);
    await reopened.close();

    unlinkSync(indexPath());
    const rebuilt = await openMemory();
    expect(rebuilt.indexState.rebuilt).toBe(true);
    expect(await rankings(rebuilt)).toEqual(extended);
  });

  it('rebuilds an index that covers more items than the stream', async () => {
    const stream = await openMemory();
    await addAll(stream, mobySegments());
    await stream.close();
    // A stream that lost its tail (restored from an older backup) next to the newer index.
    const lines = readFileSync(streamPath(), 'utf8').split('\n');
    writeFileSync(streamPath(), `${lines.slice(0, 11).join('\n')}\n`);
    const reopened = await openMemory();
    expect(reopened.size).toBe(10);
    expect(reopened.indexState).toMatchObject({ rebuilt: true, count: 10 });
  });
});

describe('LogMemoryStore', () => {
  it('writes a header and one JSON item per line', async () => {
    const stream = await openMemory();
    await stream.add({ kind: 'turn', text: 'first', summary: 's1' });
    await stream.add({ kind: 'turn', text: 'second', summary: 's2' });
    const lines = readFileSync(streamPath(), 'utf8').split('\n');
    expect(JSON.parse(lines[0]!)).toEqual({ tome: 'memory-stream', version: 1 });
    expect(JSON.parse(lines[1]!)).toMatchObject({ index: 0, text: 'first' });
    expect(JSON.parse(lines[2]!)).toMatchObject({ index: 1, text: 'second' });
    expect(lines[3]).toBe('');
  });

  it('ignores a torn last line, and continues on a fresh line', async () => {
    const stream = await openMemory();
    await stream.add({ kind: 'turn', text: 'first', summary: '' });
    await stream.add({ kind: 'turn', text: 'second', summary: '' });
    await stream.close();
    appendFileSync(streamPath(), '{"index":2,"kind":"turn","text":"thi');

    const reopened = await openMemory();
    expect(reopened.size).toBe(2);
    expect(readFileSync(streamPath(), 'utf8').endsWith('\n')).toBe(true);
    const third = await reopened.add({ kind: 'turn', text: 'third', summary: '' });
    expect(third.index).toBe(2);
    await reopened.close();

    const again = await openMemory();
    expect(again.items().map((item) => item.text)).toEqual(['first', 'second', 'third']);
  });

  it('starts fresh over an empty file or a torn header', async () => {
    writeFileSync(streamPath(), '{"tome":"memory-str');
    const stream = await openMemory();
    expect(stream.size).toBe(0);
    await stream.add({ kind: 'turn', text: 'first', summary: '' });
    await stream.close();
    expect((await openMemory()).size).toBe(1);
  });

  it('refuses a stream damaged in the middle, naming the file and line', async () => {
    const stream = await openMemory();
    for (const text of ['one', 'two', 'three', 'four']) await stream.add({ kind: 'turn', text, summary: '' });
    await stream.close();
    const lines = readFileSync(streamPath(), 'utf8').split('\n');
    lines[2] = lines[2]!.slice(0, 25) + '\u0000garbage';
    writeFileSync(streamPath(), lines.join('\n'));
    expectStoreError(await thrownBy(() => openMemory()), streamPath(), 3);
  });

  it('refuses items out of order or not shaped like items', async () => {
    const stream = await openMemory();
    for (const text of ['one', 'two', 'three']) await stream.add({ kind: 'turn', text, summary: '' });
    await stream.close();
    const lines = readFileSync(streamPath(), 'utf8').split('\n');

    writeFileSync(streamPath(), [lines[0], lines[1], lines[3], ''].join('\n'));
    expectStoreError(await thrownBy(() => openMemory()), streamPath(), 3);
    writeFileSync(streamPath(), [lines[0], lines[1], lines[2], lines[2], ''].join('\n'));
    expectStoreError(await thrownBy(() => openMemory()), streamPath(), 4);
    writeFileSync(streamPath(), [lines[0], lines[1], '{"index":1,"kind":"turn"}', ''].join('\n'));
    expectStoreError(await thrownBy(() => openMemory()), streamPath(), 3);
  });

  it('refuses a file that is not a tome memory stream, and does not touch it', async () => {
    writeFileSync(streamPath(), 'name,age\nahab,58\n');
    expectStoreError(await thrownBy(() => openMemory()), streamPath(), 1);
    writeFileSync(streamPath(), '{"tome":"checkpoint","version":1}');
    expectStoreError(await thrownBy(() => openMemory()), streamPath(), 1);
    expect(readFileSync(streamPath(), 'utf8')).toBe('{"tome":"checkpoint","version":1}');
  });

  it('refuses appends out of order and after close', async () => {
    const store = await LogMemoryStore.open(directory);
    const item = { index: 1, kind: 'turn' as const, text: 'x', summary: '', embedding: [1], createdAt: new Date().toISOString() };
    expectStoreError(await thrownBy(() => store.append(item)), streamPath());
    await store.append({ ...item, index: 0 });
    await store.close();
    expectStoreError(await thrownBy(() => store.append(item)), streamPath());
    expect((await (await LogMemoryStore.open(directory)).load()).map((loaded) => loaded.index)).toEqual([0]);
  });
});
