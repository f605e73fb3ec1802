/**
 * Segment a file too large to hold: read it in chunks, decode and normalize it incrementally, and cut it into exactly
 * the segments `segmentText(loadDocument(path).text, options)` would make, holding only O(chunk + a few segments) of
 * text at a time.
 *
 * ## How the streamed segments equal `segmentText` on the whole text
 *
 * Call G the segmentation of the whole text. A position P is a *restart point* when `segmentText(text.slice(P))`,
 * shifted by P, equals G from P on. Each round runs `segmentText` on the buffer T[B, E) (B a restart point, E where
 * reading stopped; B = 0 to begin with), emits the segments that end at or before a restart point R found inside the
 * buffer, drops the text before R (before an earlier restart point when overlap needs the previous segment's text) and
 * reads on. The last round, at the end of the input, runs on T[B, end) and so equals G from B exactly.
 *
 * Which positions of the buffer are restart points? `segmentText` packs greedily: at boundary level d (paragraphs,
 * sentences, lines, words, then characters) it walks the pieces of a region in order and decides, piece by piece, to
 * add the piece to the open range, to close the range before it, or (the piece alone over the budget, "oversized") to
 * close and split the piece at level d + 1. A decision depends only on the pieces so far, so run on the buffer it
 * matches G for every piece that ends before the buffer's last piece at that level: a boundary match that ends before
 * E is followed, inside the buffer, by the character that stopped it, and the patterns read no further, so those
 * pieces are G's pieces. Only the last piece [U_d, E) may be cut short. Then:
 *
 * 1. A cut of the buffer's segments at a paragraph start P < U_0 where the paragraph loop is *reset* (it closed the
 *    open range there, or P starts or ends an oversized paragraph) is G's cut and G's loop is reset there too, so
 *    segmentation from P knows nothing of what came before: P is a restart point. `isReset` checks "reset" from the
 *    outside: when the pieces from the previous cut through the piece at P sum to more than the budget they cannot
 *    have been one open range. (With a subadditive counter, count(a + b) <= count(a) + count(b), every cut at a piece
 *    start passes: open ranges are never re-split, and the approximate counter is subadditive.)
 * 2. U_0 itself is a restart point when the paragraph before it is oversized, or when [U_0, E) already is: a monotone
 *    counter (a longer text never counts fewer tokens; the approximate counter is monotone) then says G's longer
 *    paragraph is oversized too, so G closes before it.
 * 3. Inside a paragraph that is still open at E and oversized, G splits it at the next level; so do we, and the same
 *    rules find cuts at sentence (then line, word, character) starts where that level's loop is reset. Restarting at
 *    such a cut P deep inside is right only if the restarted run also sees each enclosing piece, cut at P, as
 *    oversized: all enclosing pieces run past E, so count(T[P, E)) > budget proves it (monotone counter). And P must
 *    not sit inside a boundary match that ends past E (restarted there, the pattern would no longer match): such a
 *    match lies in the buffer's trailing run of whitespace and sentence punctuation, so P must come before that run.
 *
 * So equality assumes only a monotone counter: the approximate counter is one by construction, BPE tokenizers are in
 * practice (the tests check cl100k). A counter that is not subadditive just finds fewer restart points.
 *
 * A round emits up to the latest restart point, so the buffer keeps the last segment or two plus the new chunk:
 * O(chunk + segment) memory, whatever the file's size. When no restart point is found (a run of zero-token
 * whitespace longer than the buffer) the buffer grows until one is; that run is one segment in G as well.
 *
 * The boundary patterns are `BOUNDARY_LEVELS` of src/segmentation.ts; they locate restart points only (the
 * segments themselves always come from `segmentText`), and test/streaming.test.ts pins them to it.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { statInputFile } from '../documents.js';
import { InputError, InvalidOptionError, throwIfAborted } from '../errors.js';
import { BOUNDARY_LEVELS, segmentText, type Segment } from '../segmentation.js';
import { approximateTokenCounter } from '../tokens/approximate-token-counter.js';
import type { TokenCounter } from '../tokens/token-counter.js';
import type { StreamedSegment, StreamSegmentsOptions } from './contracts.js';

/** Bytes read per chunk unless told otherwise. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;

/** How the file is read; tests shrink `chunkBytes` to force many chunk borders. */
export interface StreamReadOptions {
  /** Bytes per read, at least 1. Default 1 MiB. */
  chunkBytes?: number;
  signal?: AbortSignal;
}

export type StreamSegmentsReadOptions = StreamSegmentsOptions & StreamReadOptions;

/**
 * Stream the segments of a UTF-8 text file: the same segments, in order, as `segmentText` on the file's normalized
 * text (BOM stripped, CRLF / CR turned into LF, as `loadDocument` does), with byte offsets into the file to re-read
 * each one. With `endByte`, the text is the file's first `endByte` bytes.
 * @throws InputError like loadDocument (INPUT_NOT_FOUND, INPUT_IS_DIRECTORY, INPUT_EMPTY, INPUT_BINARY,
 *   INPUT_UNREADABLE); InvalidOptionError for bad options; AbortedError when `signal` aborts.
 */
export async function* streamSegments(path: string, options: StreamSegmentsReadOptions): AsyncGenerator<StreamedSegment> {
  const counter = options.counter ?? approximateTokenCounter;
  const overlapTokens = options.overlapTokens ?? 0;
  segmentText('', { maxTokens: options.maxTokens, overlapTokens, counter }); // validates maxTokens and overlapTokens
  const chunkBytes = validateChunkBytes(options.chunkBytes);
  const { signal } = options;
  throwIfAborted(signal);
  const input = await openInput(path);
  try {
    const end = options.endByte === undefined ? input.size : validateEndByte(options.endByte, input.size);
    if (options.endByte === undefined && input.size === 0) {
      throw new InputError('INPUT_EMPTY', path, 'the file is empty', 'pass a file that contains text');
    }
    await rejectBinary(input);
    if (end < input.size) await rejectSplitCharacter(input, end);
    const decoder = new NormalizingDecoder(path);
    const segmenter = new StreamSegmenter({ maxTokens: options.maxTokens, overlapTokens, counter });
    for await (const bytes of readRange(input, 0, end, chunkBytes, signal)) {
      segmenter.append(decoder.push(bytes, false), decoder.bomBytes);
      for (const segment of segmenter.round(false)) {
        throwIfAborted(signal);
        yield segment;
      }
    }
    segmenter.append(decoder.push(undefined, true), decoder.bomBytes);
    if (options.endByte === undefined && !segmenter.sawText) {
      throw new InputError('INPUT_EMPTY', path, 'the file holds only whitespace', 'pass a file that contains text');
    }
    for (const segment of segmenter.round(true)) {
      throwIfAborted(signal);
      yield segment;
    }
  } finally {
    await input.handle.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading and decoding

export interface InputFile {
  readonly path: string;
  readonly handle: FileHandle;
  readonly size: number;
}

/** Open a file for reading, with loadDocument's errors for a missing path, a directory or an unreadable file. */
export async function openInput(path: string): Promise<InputFile> {
  const info = await statInputFile(path);
  try {
    return { path, handle: await open(path, 'r'), size: info.size };
  } catch (cause) {
    throw unreadable(path, cause);
  }
}

function unreadable(path: string, cause: unknown): InputError {
  const code = (cause as NodeJS.ErrnoException).code;
  return new InputError('INPUT_UNREADABLE', path, `cannot read it (${code ?? 'unknown error'})`, 'check the file permissions', cause);
}

/** Read up to `length` bytes at `position` into `buffer`; returns how many were read. */
export async function readAt(input: InputFile, buffer: Uint8Array, length: number, position: number): Promise<number> {
  try {
    const { bytesRead } = await input.handle.read(buffer, 0, length, position);
    return bytesRead;
  } catch (cause) {
    throw unreadable(input.path, cause);
  }
}

/** The bytes [start, end) of the file, in chunks of at most `chunkBytes`; each chunk is valid until the next one. */
export async function* readRange(input: InputFile, start: number, end: number, chunkBytes: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(chunkBytes, end - start)));
  let position = start;
  while (position < end) {
    throwIfAborted(signal);
    const bytesRead = await readAt(input, buffer, Math.min(buffer.length, end - position), position);
    if (bytesRead === 0) break; // the file shrank while we read it
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** A NUL byte in the first 8 KiB marks a binary file (loadDocument's heuristic). */
export async function rejectBinary(input: InputFile): Promise<void> {
  const head = Buffer.alloc(Math.min(8192, input.size));
  const length = await readAt(input, head, head.length, 0);
  if (head.subarray(0, length).includes(0)) {
    throw new InputError('INPUT_BINARY', input.path, 'the file is binary, not UTF-8 text', 'convert it to a UTF-8 .txt file first (e.g. pdftotext for PDFs)');
  }
}

async function rejectSplitCharacter(input: InputFile, endByte: number): Promise<void> {
  const byte = Buffer.alloc(1);
  const length = await readAt(input, byte, 1, endByte);
  if (length === 1 && (byte[0]! & 0xc0) === 0x80) {
    throw new InvalidOptionError('endByte', endByte, 'a byte offset at a character boundary (not inside a multi-byte UTF-8 character)');
  }
}

export function validateChunkBytes(chunkBytes: number | undefined): number {
  if (chunkBytes === undefined) return DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) {
    throw new InvalidOptionError('chunkBytes', chunkBytes, 'a whole number of bytes, at least 1');
  }
  return chunkBytes;
}

function validateEndByte(endByte: number, size: number): number {
  if (!Number.isInteger(endByte) || endByte < 0 || endByte > size) {
    throw new InvalidOptionError('endByte', endByte, `a whole byte offset from 0 to the file size (${size})`);
  }
  return endByte;
}

/** Decoded, normalized text and where the dropped carriage returns were. */
export interface NormalizedText {
  readonly text: string;
  /** Offsets into `text` of each `\n` that stands for a `\r\n` pair in the file (one byte more there). */
  readonly crlf: readonly number[];
}

const NO_OFFSETS: readonly number[] = [];

/**
 * Incremental `normalizeText(new TextDecoder('utf-8', { fatal: true }).decode(bytes))`: the decoder drops a leading
 * BOM and normalizeText a second one, CRLF and lone CR become LF. A `\r` at a chunk's end waits for the next chunk
 * (it may be half of a CRLF); a character split across chunks waits inside the decoder.
 */
export class NormalizingDecoder {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private pendingCarriageReturn = false;
  private started = false;
  private boms = 0;
  /** File bytes taken by the byte-order marks dropped at the start. */
  bomBytes = 0;

  constructor(private readonly path: string) {}

  push(bytes: Uint8Array | undefined, final: boolean): NormalizedText {
    let text: string;
    try {
      text = this.decoder.decode(bytes, { stream: !final });
    } catch (cause) {
      throw new InputError('INPUT_UNREADABLE', this.path, 'the file is not valid UTF-8', 're-encode it as UTF-8 (e.g. iconv -t UTF-8)', cause);
    }
    if (!this.started) {
      while (this.boms < 2 && text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
        this.boms++;
        this.bomBytes += 3;
      }
      this.started = text.length > 0;
    }
    if (this.pendingCarriageReturn) {
      text = `\r${text}`;
      this.pendingCarriageReturn = false;
    }
    if (!final && text.charCodeAt(text.length - 1) === 13) {
      text = text.slice(0, -1);
      this.pendingCarriageReturn = true;
    }
    return normalizeLineEnds(text);
  }
}

function normalizeLineEnds(text: string): NormalizedText {
  let carriageReturn = text.indexOf('\r');
  if (carriageReturn < 0) return { text, crlf: NO_OFFSETS };
  const parts: string[] = [];
  const crlf: number[] = [];
  let length = 0;
  let from = 0;
  while (carriageReturn >= 0) {
    parts.push(text.slice(from, carriageReturn), '\n');
    length += carriageReturn - from + 1;
    if (text.charCodeAt(carriageReturn + 1) === 10) {
      crlf.push(length - 1);
      from = carriageReturn + 2;
    } else from = carriageReturn + 1;
    carriageReturn = text.indexOf('\r', from);
  }
  parts.push(text.slice(from));
  return { text: parts.join(''), crlf };
}

/** Bytes of `text` in UTF-8. */
function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

// ---------------------------------------------------------------------------------------------------------------
// Segmenting the buffer

interface SegmenterSettings {
  readonly maxTokens: number;
  readonly overlapTokens: number;
  readonly counter: TokenCounter;
}

/** The buffer of not-yet-final text and the rounds that segment it (see the module comment). */
class StreamSegmenter {
  /** Buffered normalized text; `text[0]` is character `start` of the whole text and byte `startByte` of the file. */
  private text = '';
  private start = 0;
  private startByte = 0;
  /** Whole-text offsets (at or after `start`) of the `\n` characters that were `\r\n` in the file. */
  private crlf: number[] = [];
  /** Every segment that ends at or before this whole-text offset has been emitted. */
  private frontier = 0;
  private nextIndex = 0;
  /** The next round runs once the buffer holds this many characters (doubling keeps the work linear). */
  private roundAt = 1;
  sawText = false;

  constructor(private readonly settings: SegmenterSettings) {}

  append(chunk: NormalizedText, bomBytes: number): void {
    if (this.start === 0 && this.text.length === 0) this.startByte = bomBytes;
    const base = this.start + this.text.length;
    for (const offset of chunk.crlf) this.crlf.push(base + offset);
    this.text += chunk.text;
    if (!this.sawText && /\S/.test(chunk.text)) this.sawText = true;
  }

  /** Segment the buffer; return the segments now final and drop the text no later segment needs. */
  round(final: boolean): StreamedSegment[] {
    // Nothing is emitted before the first non-space character: a whitespace-only file is an error, not segments.
    if (!final && (!this.sawText || this.text.length < this.roundAt)) return [];
    const { maxTokens, overlapTokens, counter } = this.settings;
    const segments = segmentText(this.text, { maxTokens, overlapTokens, counter });
    const from = this.frontier - this.start;
    let emitTo = this.text.length;
    let keepFrom = this.text.length;
    if (!final) {
      const restarts = new RestartPoints(this.text, segments, maxTokens - overlapTokens, counter);
      const restart = restarts.latestAfter(from);
      if (restart === undefined) {
        this.roundAt = this.text.length * 2;
        return [];
      }
      emitTo = restart;
      // The segment starting at `restart` takes its overlap from the one before it, so keep that one's text too.
      const previousStart = segments.find((segment) => segment.end === restart)?.start ?? restart;
      keepFrom = overlapTokens > 0 ? restarts.latestAtOrBefore(previousStart) : restart;
    }
    const emitted = this.emit(segments, from, emitTo);
    this.frontier = this.start + emitTo;
    this.drop(keepFrom);
    this.roundAt = Math.max(2 * this.text.length, this.text.length + 1);
    return emitted;
  }

  private emit(segments: readonly Segment[], from: number, to: number): StreamedSegment[] {
    const localCrlf = this.crlf.map((offset) => offset - this.start);
    const textStart = new ByteCursor(this.text, this.startByte, localCrlf);
    const textEnd = new ByteCursor(this.text, this.startByte, localCrlf);
    const emitted: StreamedSegment[] = [];
    for (const segment of segments) {
      if (segment.start < from) continue;
      if (segment.end > to) break;
      emitted.push({
        index: this.nextIndex++,
        start: this.start + segment.start,
        end: this.start + segment.end,
        overlapStart: this.start + segment.overlapStart,
        byteStart: textStart.byteAt(segment.overlapStart),
        byteEnd: textEnd.byteAt(segment.end),
        text: segment.text,
        tokens: segment.tokens,
      });
    }
    return emitted;
  }

  private drop(count: number): void {
    if (count === 0) return;
    const cut = this.start + count;
    let crlfBefore = 0;
    while (crlfBefore < this.crlf.length && this.crlf[crlfBefore]! < cut) crlfBefore++;
    this.startByte += utf8Length(this.text.slice(0, count)) + crlfBefore;
    this.crlf = this.crlf.slice(crlfBefore);
    this.text = this.text.slice(count);
    this.start = cut;
  }
}

/** File byte offsets of buffer positions, for positions visited in ascending order. */
class ByteCursor {
  private position = 0;
  private crlfIndex = 0;
  private byte: number;

  constructor(
    private readonly text: string,
    startByte: number,
    private readonly crlf: readonly number[],
  ) {
    this.byte = startByte;
  }

  byteAt(position: number): number {
    this.byte += utf8Length(this.text.slice(this.position, position));
    // A CRLF's carriage return sits just before its `\n`: it counts for every position after that `\n`'s offset.
    while (this.crlfIndex < this.crlf.length && this.crlf[this.crlfIndex]! < position) {
      this.byte++;
      this.crlfIndex++;
    }
    this.position = position;
    return this.byte;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Restart points

const CHARACTER_LEVEL = BOUNDARY_LEVELS.length;
/** Characters a boundary match can be made of: whitespace and the sentence pattern's punctuation. */
const BOUNDARY_CHARACTER = /[\s.!?…"'”’)\]]/;

/** The pieces one level of `segmentText` packs in a region of the buffer; the last may be cut short by the buffer's end. */
interface Depth {
  readonly level: number;
  readonly regionStart: number;
  /** Piece starts, ascending; each piece runs to the next start (the last to the buffer's end). Empty at CHARACTER_LEVEL. */
  readonly starts: readonly number[];
  /** Start of the last piece, the one that may continue past the buffer. */
  readonly lastStart: number;
  readonly tokens: (number | undefined)[];
}

/** Which cuts of a buffer's segments are restart points (see the module comment). */
class RestartPoints {
  private readonly cuts: number[];
  private readonly depths: Depth[] = [];
  /** Start of the buffer's trailing run of boundary characters: a boundary match may run on past the buffer there. */
  private readonly openBoundary: number;

  constructor(
    private readonly text: string,
    segments: readonly Segment[],
    private readonly budget: number,
    private readonly counter: TokenCounter,
  ) {
    this.cuts = segments.map((segment) => segment.start);
    const end = text.length;
    let boundary = end;
    while (boundary > 0 && BOUNDARY_CHARACTER.test(text[boundary - 1]!)) boundary--;
    this.openBoundary = boundary;
    if (end === 0) return;
    let regionStart = 0;
    for (let level = 0; level < CHARACTER_LEVEL; level++) {
      const starts = pieceStarts(text, regionStart, end, level);
      const lastStart = starts[starts.length - 1]!;
      this.depths.push({ level, regionStart, starts, lastStart, tokens: [] });
      // segmentText splits the last piece at the next level only when it is oversized (it counts this same slice).
      if (this.count(lastStart, end) <= budget) return;
      regionStart = lastStart;
    }
    this.depths.push({ level: CHARACTER_LEVEL, regionStart, starts: [], lastStart: end, tokens: [] });
  }

  /** The latest restart point after `after` that starts a segment, if any. */
  latestAfter(after: number): number | undefined {
    for (let index = this.cuts.length - 1; index >= 0 && this.cuts[index]! > after; index--) {
      if (this.isRestart(index)) return this.cuts[index];
    }
    return undefined;
  }

  /** The latest restart point at or before `limit` (the buffer's start is one). */
  latestAtOrBefore(limit: number): number {
    for (let index = this.cuts.length - 1; index >= 0; index--) {
      const cut = this.cuts[index]!;
      if (cut <= limit && this.isRestart(index)) return cut;
    }
    return 0;
  }

  private isRestart(cutIndex: number): boolean {
    const cut = this.cuts[cutIndex]!;
    if (cut === 0) return true; // the buffer starts at a restart point
    let depth = 0;
    while (depth + 1 < this.depths.length && this.depths[depth + 1]!.regionStart < cut) depth++;
    const inner = this.depths[depth + 1];
    // The start of an oversized last piece: segmentText closes before it, at its level, here and past the buffer.
    if (inner !== undefined && inner.regionStart === cut) return depth === 0 || this.enclosedRestartHolds(cut);
    const region = this.depths[depth]!;
    if (region.level === CHARACTER_LEVEL) return this.enclosedRestartHolds(cut);
    if (cut >= region.lastStart) {
      // The last piece's start: a reset only if the piece before it was oversized (at paragraph level; deeper, the
      // enclosing pieces from here need not be oversized).
      return depth === 0 && cut === region.lastStart && region.starts.length > 1 && this.pieceTokens(region, region.starts.length - 2) > this.budget;
    }
    const piece = binarySearch(region.starts, cut);
    if (piece < 0) return false;
    if (depth > 0 && !this.enclosedRestartHolds(cut)) return false;
    return this.isReset(region, piece, this.cuts[cutIndex - 1]!);
  }

  /** A cut inside pieces still open at the buffer's end restarts right only if those pieces, from it, are oversized. */
  private enclosedRestartHolds(cut: number): boolean {
    return cut <= this.openBoundary && this.count(cut, this.text.length) > this.budget;
  }

  /**
   * Whether the level's loop is reset at piece `piece` given the previous cut: the pieces from the one holding the
   * previous cut through `piece` cannot share an open range when they sum to more than the budget.
   */
  private isReset(region: Depth, piece: number, previousCut: number): boolean {
    if (previousCut < region.regionStart) return false;
    let first = piece;
    while (first > 0 && region.starts[first]! > previousCut) first--;
    let sum = 0;
    for (let index = first; index <= piece; index++) {
      sum += this.pieceTokens(region, index);
      if (sum > this.budget) return true;
    }
    return false;
  }

  private pieceTokens(region: Depth, index: number): number {
    let tokens = region.tokens[index];
    if (tokens === undefined) {
      tokens = this.count(region.starts[index]!, region.starts[index + 1] ?? this.text.length);
      region.tokens[index] = tokens;
    }
    return tokens;
  }

  private count(start: number, end: number): number {
    return this.counter.count(this.text.slice(start, end));
  }
}

/** Starts of the pieces of [start, end) at `level`, as segmentText's piecesAt cuts them. */
function pieceStarts(text: string, start: number, end: number, level: number): number[] {
  const boundary = new RegExp(BOUNDARY_LEVELS[level]!.source, 'g');
  const region = text.slice(start, end);
  const starts = [start];
  for (const match of region.matchAll(boundary)) {
    const pieceEnd = match.index + match[0].length;
    if (pieceEnd < region.length && start + pieceEnd > starts[starts.length - 1]!) starts.push(start + pieceEnd);
  }
  return starts;
}

function binarySearch(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const found = sorted[middle]!;
    if (found === value) return middle;
    if (found < value) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}
