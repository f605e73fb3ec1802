import { InvalidOptionError } from './errors.js';
import { approximateTokenCounter } from './tokens/approximate-token-counter.js';
import type { TokenCounter } from './tokens/token-counter.js';

/** One piece of a document, located by character offsets into the normalized text. */
export interface Segment {
  /** 0-based position in the document's segment list. */
  readonly index: number;
  /** First character this segment owns; owned ranges tile the text without gaps or overlap. */
  readonly start: number;
  /** One past the last character this segment owns. */
  readonly end: number;
  /** Where `text` begins: before `start` when the segment repeats the previous one's tail as overlap. */
  readonly overlapStart: number;
  /** `documentText.slice(overlapStart, end)`: what a model reads. */
  readonly text: string;
  /** Tokens in `text`, by the counter that built the segments. */
  readonly tokens: number;
}

export interface SegmentOptions {
  /** Most tokens a segment's `text` may hold, overlap included. Required, at least 1. */
  maxTokens: number;
  /** Tokens of the previous segment's tail repeated at the start of each segment, cut at a word boundary. Default 0; must be under half of `maxTokens`. */
  overlapTokens?: number;
  /** Default: the approximate counter. */
  counter?: TokenCounter;
}

/**
 * Boundaries tried in order: a piece too big for the budget at one level is cut at the next. The boundary text
 * (blank lines, the space after a full stop) stays at the end of the piece before it, so nothing is dropped.
 */
export const BOUNDARY_LEVELS: readonly RegExp[] = [
  /\n[ \t]*\n\s*/g, // paragraphs: a blank line, and any run of blank lines after it
  /[.!?…]+["'”’)\]]*\s+/g, // sentences: terminal punctuation, closing quotes, then whitespace
  /\n/g, // lines: hard-wrapped verse, lists, code
  /\s+/g, // words
];

/**
 * Cut `text` into segments of at most `maxTokens` tokens, preferring paragraph ends, then sentence ends, then line
 * ends, then spaces; a single word longer than the budget is cut inside. Greedy packing: each segment takes as many
 * whole pieces as fit. `joinSegments(segmentText(t))` returns `t` exactly.
 *
 * Why not @langchain/textsplitters: its RecursiveCharacterTextSplitter trims whitespace, returns no offsets, and
 * accepts only literal separators, so it can neither reproduce the input exactly nor cut at sentence ends of
 * hard-wrapped prose.
 */
export function segmentText(text: string, options: SegmentOptions): Segment[] {
  const counter = options.counter ?? approximateTokenCounter;
  const overlapTokens = options.overlapTokens ?? 0;
  validate(options.maxTokens, overlapTokens);
  if (text.length === 0) return [];
  const ownBudget = options.maxTokens - overlapTokens;
  const ranges = packRange(text, 0, text.length, 0, ownBudget, counter);
  return ranges.map(([start, end], index) => {
    const overlapStart = index === 0 ? start : overlapBoundary(text, ranges[index - 1]![0], start, overlapTokens, counter);
    const segmentText = text.slice(overlapStart, end);
    return { index, start, end, overlapStart, text: segmentText, tokens: counter.count(segmentText) };
  });
}

/** Reassemble the original text from segments (overlap is skipped). */
export function joinSegments(text: string, segments: readonly Segment[]): string {
  return segments.map((segment) => text.slice(segment.start, segment.end)).join('');
}

function validate(maxTokens: number, overlapTokens: number): void {
  if (!Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new InvalidOptionError('maxTokens', maxTokens, 'a whole number of tokens, at least 1');
  }
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens * 2 >= maxTokens) {
    throw new InvalidOptionError('overlapTokens', overlapTokens, `a whole number from 0 to under half of maxTokens (${maxTokens})`);
  }
}

type Range = [start: number, end: number];

/** Greedily pack the pieces of [start, end) at `level` into ranges of at most `budget` tokens. */
function packRange(text: string, start: number, end: number, level: number, budget: number, counter: TokenCounter): Range[] {
  const packed: Range[] = [];
  let openStart = -1;
  let openEnd = -1;
  let openTokens = 0;
  const close = () => {
    if (openStart >= 0) packed.push(...fitExactly(text, openStart, openEnd, level, budget, counter));
    openStart = -1;
    openTokens = 0;
  };
  for (const [pieceStart, pieceEnd] of piecesAt(text, start, end, level)) {
    const pieceTokens = counter.count(text.slice(pieceStart, pieceEnd));
    if (pieceTokens > budget) {
      close();
      packed.push(...splitOversized(text, pieceStart, pieceEnd, level, budget, counter));
      continue;
    }
    if (openStart >= 0 && openTokens + pieceTokens > budget) close();
    if (openStart < 0) openStart = pieceStart;
    openEnd = pieceEnd;
    openTokens += pieceTokens;
  }
  close();
  return packed;
}

/** Summed piece counts can undercount when a tokenizer merges across a boundary; re-pack tighter if so. */
function fitExactly(text: string, start: number, end: number, level: number, budget: number, counter: TokenCounter): Range[] {
  const actual = counter.count(text.slice(start, end));
  if (actual <= budget) return [[start, end]];
  const tighter = Math.max(1, budget - (actual - budget));
  const ranges = packRange(text, start, end, level, tighter, counter);
  return ranges.length > 1 ? ranges.flatMap(([s, e]) => fitExactly(text, s, e, level, budget, counter)) : splitOversized(text, start, end, level, budget, counter);
}

function splitOversized(text: string, start: number, end: number, level: number, budget: number, counter: TokenCounter): Range[] {
  if (level + 1 < BOUNDARY_LEVELS.length) return packRange(text, start, end, level + 1, budget, counter);
  return splitByCharacters(text, start, end, budget, counter);
}

/** Last resort for a "word" longer than the budget (a URL, a base64 blob): the longest prefix that fits. */
function splitByCharacters(text: string, start: number, end: number, budget: number, counter: TokenCounter): Range[] {
  const ranges: Range[] = [];
  let cursor = start;
  while (cursor < end) {
    let low = cursor + 1;
    let high = end;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (counter.count(text.slice(cursor, middle)) <= budget) low = middle;
      else high = middle - 1;
    }
    // Never cut between the two halves of a surrogate pair (emoji, rare CJK): the piece would not be valid text.
    if (low < end && isHighSurrogate(text.charCodeAt(low - 1))) low = low - 1 > cursor ? low - 1 : low + 1;
    ranges.push([cursor, low]);
    cursor = low;
  }
  return ranges;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Contiguous pieces covering [start, end), each ending just after a boundary of `level` (or at `end`). */
function* piecesAt(text: string, start: number, end: number, level: number): Generator<Range> {
  const boundary = new RegExp(BOUNDARY_LEVELS[level]!.source, 'g');
  const region = text.slice(start, end);
  let pieceStart = 0;
  for (const match of region.matchAll(boundary)) {
    const pieceEnd = match.index + match[0].length;
    if (pieceEnd > pieceStart) yield [start + pieceStart, start + pieceEnd];
    pieceStart = pieceEnd;
  }
  if (pieceStart < region.length) yield [start + pieceStart, end];
}

/** Start of the longest word-aligned tail of [previousStart, start) that fits `overlapTokens`. */
function overlapBoundary(text: string, previousStart: number, start: number, overlapTokens: number, counter: TokenCounter): number {
  if (overlapTokens === 0) return start;
  // The previous segment's own start is a word start too.
  const wordStarts: number[] = [previousStart];
  const previous = text.slice(previousStart, start);
  for (const match of previous.matchAll(/\s+/g)) wordStarts.push(previousStart + match.index + match[0].length);
  let best = start;
  // Word starts ascend, so tails shrink as we walk forward; binary search for the first that fits.
  let low = 0;
  let high = wordStarts.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const candidate = wordStarts[middle]!;
    if (candidate < start && counter.count(text.slice(candidate, start)) <= overlapTokens) {
      best = candidate;
      high = middle - 1;
    } else low = middle + 1;
  }
  return best;
}
