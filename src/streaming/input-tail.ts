/**
 * Split the question off a huge input's tail without reading the input whole: only its last bytes are decoded, and
 * the question's character offset comes from one streaming pass over the bytes before it.
 */
import { InputError, InvalidOptionError, throwIfAborted } from '../errors.js';
import { approximateTokenCounter } from '../tokens/approximate-token-counter.js';
import type { TokenCounter } from '../tokens/token-counter.js';
import type { InputTail } from './contracts.js';
import { NormalizingDecoder, openInput, readAt, readRange, rejectBinary, validateChunkBytes, type InputFile, type StreamReadOptions } from './segment-stream.js';

/** Bytes of the first tail window per question token (the window doubles until it holds the question). */
const WINDOW_BYTES_PER_TOKEN = 8;
const MIN_WINDOW_BYTES = 4096;

/**
 * The shortest tail of the file (its normalized text, as loadDocument reads it) that holds at least `questionTokens`
 * tokens and starts at a word (whitespace before it, none at it; or the text's start).
 *
 * Reads a window of the file's last bytes, doubling it until it holds such a tail or the whole file. `charStart` is
 * exact: the bytes before the question are decoded once more, in chunks (O(chunk) memory, one pass over them), and
 * their normalized characters counted; it equals the length of the text `streamSegments(path, { endByte: byteStart })`
 * segments. Assumes, as segmentText's overlap search does, that a longer tail never counts fewer tokens.
 * @throws InvalidOptionError (`questionTokens`) when the whole input holds fewer tokens than the question needs;
 *   InputError like loadDocument for a missing, empty, binary or non-UTF-8 file.
 */
export async function readInputTail(path: string, questionTokens: number, counter: TokenCounter = approximateTokenCounter, options: StreamReadOptions = {}): Promise<InputTail> {
  if (!Number.isInteger(questionTokens) || questionTokens < 1) {
    throw new InvalidOptionError('questionTokens', questionTokens, 'a whole number of tokens, at least 1');
  }
  const chunkBytes = validateChunkBytes(options.chunkBytes);
  throwIfAborted(options.signal);
  const input = await openInput(path);
  try {
    if (input.size === 0) throw new InputError('INPUT_EMPTY', path, 'the file is empty', 'pass a file that contains text');
    await rejectBinary(input);
    let windowBytes = Math.min(input.size, Math.max(MIN_WINDOW_BYTES, questionTokens * WINDOW_BYTES_PER_TOKEN));
    for (;;) {
      throwIfAborted(options.signal);
      const found = await tailInWindow(input, windowBytes, questionTokens, counter);
      if (found !== undefined) {
        const charStart = await countCharacters(input, found.byteStart, chunkBytes, options.signal);
        return { ...found, charStart };
      }
      windowBytes = Math.min(input.size, windowBytes * 2);
    }
  } finally {
    await input.handle.close();
  }
}

/** The question within the file's last `windowBytes` bytes, or undefined when the window must grow. */
async function tailInWindow(input: InputFile, windowBytes: number, questionTokens: number, counter: TokenCounter): Promise<Omit<InputTail, 'charStart'> | undefined> {
  const wholeFile = windowBytes >= input.size;
  const bytes = Buffer.allocUnsafe(windowBytes);
  let windowStart = input.size - windowBytes;
  const length = await readAt(input, bytes, windowBytes, windowStart);
  let skip = 0;
  // A window that starts inside a multi-byte character starts at the next character instead.
  while (!wholeFile && skip < 3 && skip < length && (bytes[skip]! & 0xc0) === 0x80) skip++;
  windowStart += skip;
  // Decoded untouched (CRs kept), so that offsets in `raw` map to bytes; line ends are normalized per candidate tail.
  let raw = decode(bytes.subarray(skip, length), input.path);
  if (wholeFile) {
    // As loadDocument: the decoder drops a leading BOM and normalizeText a second one.
    for (let boms = 0; boms < 2 && raw.charCodeAt(0) === 0xfeff; boms++) {
      raw = raw.slice(1);
      windowStart += 3;
    }
  }
  const starts = wordStarts(raw, wholeFile);
  // Tails shrink as starts ascend (token counts never grow): binary search for the last start with enough tokens.
  let best = -1;
  let bestTokens = 0;
  let low = 0;
  let high = starts.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const tokens = counter.count(normalizeLineEnds(raw.slice(starts[middle])));
    if (tokens >= questionTokens) {
      best = middle;
      bestTokens = tokens;
      low = middle + 1;
    } else high = middle - 1;
  }
  if (best < 0) {
    if (!wholeFile) return undefined;
    const total = counter.count(normalizeLineEnds(raw));
    throw new InvalidOptionError('questionTokens', questionTokens, `at most the ${total} tokens the whole input holds`);
  }
  const start = starts[best]!;
  const question = normalizeLineEnds(raw.slice(start));
  if (!/\S/.test(question)) {
    throw new InputError('INPUT_EMPTY', input.path, 'the file holds only whitespace', 'pass a file that contains text');
  }
  return { question, tokens: bestTokens, byteStart: windowStart + Buffer.byteLength(raw.slice(0, start), 'utf8') };
}

function decode(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw new InputError('INPUT_UNREADABLE', path, 'the file is not valid UTF-8', 're-encode it as UTF-8 (e.g. iconv -t UTF-8)', cause);
  }
}

/** Offsets where a word starts: after whitespace, at a non-space; the text's start too when it is the file's. */
function wordStarts(text: string, includeStart: boolean): number[] {
  const starts: number[] = [];
  if (includeStart && text.length > 0) starts.push(0);
  for (const match of text.matchAll(/\s+/g)) {
    const end = match.index + match[0].length;
    if (end > 0 && end < text.length) starts.push(end);
  }
  return starts;
}

function normalizeLineEnds(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/** Characters of normalized text in the file's bytes [0, end), counted in one streaming pass. */
async function countCharacters(input: InputFile, end: number, chunkBytes: number, signal: AbortSignal | undefined): Promise<number> {
  const decoder = new NormalizingDecoder(input.path);
  let characters = 0;
  for await (const bytes of readRange(input, 0, end, chunkBytes, signal)) characters += decoder.push(bytes, false).text.length;
  return characters + decoder.push(undefined, true).text.length;
}
