import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { normalizeText, type TomeDocument } from '../src/documents.js';
import { InputError, InvalidOptionError, throwIfAborted } from '../src/errors.js';
import { segmentText } from '../src/segmentation.js';
import type { InputTail, StreamedSegment, StreamSegmentsOptions } from '../src/streaming/contracts.js';
import { readInputTail, streamSegments } from '../src/streaming/index.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';

/**
 * Where XL3M reads its input from: a document in memory, or a file streamed from disk in O(segment) memory. Offsets
 * called `byte…` are the source's own (bytes of a file; UTF-16 code units of an in-memory text); `read` takes them
 * back, so only the chosen segments are ever read twice.
 */
export interface SegmentSource {
  readonly name: string;
  /** Content identity for the checkpoint fingerprint (sha256 of the text or the file's bytes). */
  fingerprint(): string;
  /** The question at the input's end: the shortest tail of at least `questionTokens` tokens starting at a word. */
  tail(questionTokens: number, counter: TokenCounter): Promise<InputTail>;
  /** Segments of the input up to `endByte` (the same cuts `segmentText` makes), produced as they are read. */
  segments(options: StreamSegmentsOptions): AsyncIterable<StreamedSegment>;
  /** The normalized text between two offsets given by `segments` or `tail`. */
  read(byteStart: number, byteEnd: number): Promise<string>;
  /** Size in the units of the offsets: estimates how many segments there will be. */
  size(): Promise<number>;
}

/** A document already in memory: segments come from `segmentText`, offsets are character offsets. */
export function memorySource(document: TomeDocument): SegmentSource {
  const { text } = document;
  return {
    name: document.name,
    fingerprint: () => document.sha256,
    tail: async (questionTokens, counter) => textTail(text, questionTokens, counter),
    async *segments(options) {
      const context = text.slice(0, options.endByte ?? text.length);
      for (const segment of segmentText(context, { maxTokens: options.maxTokens, overlapTokens: options.overlapTokens, counter: options.counter })) {
        throwIfAborted(options.signal);
        yield { ...segment, byteStart: segment.overlapStart, byteEnd: segment.end };
      }
    },
    read: async (start, end) => text.slice(start, end),
    size: async () => text.length,
  };
}

/** A UTF-8 text file, streamed (see src/streaming): never held whole in memory. */
export function fileSource(path: string): SegmentSource {
  return {
    name: basename(path),
    fingerprint: () => fileSha256(path),
    tail: (questionTokens, counter) => readInputTail(path, questionTokens, counter),
    segments: (options) => streamSegments(path, options),
    async read(start, end) {
      const handle = await open(path, 'r');
      try {
        const bytes = Buffer.alloc(end - start);
        let filled = 0;
        while (filled < bytes.length) {
          const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, start + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return normalizeText(bytes.subarray(0, filled).toString('utf8'));
      } finally {
        await handle.close();
      }
    },
    size: async () => (await stat(path)).size,
  };
}

/**
 * The question at the end of an in-memory text, as `readInputTail` finds it in a file: the shortest tail that holds
 * at least `questionTokens` tokens and starts at a word (after whitespace, or at the text's start). Only the text's
 * end is looked at: a window that doubles until it holds such a tail.
 * @throws InvalidOptionError (`questionTokens`) when the whole text holds fewer tokens.
 */
export function textTail(text: string, questionTokens: number, counter: TokenCounter): InputTail {
  if (!Number.isInteger(questionTokens) || questionTokens < 1) throw new InvalidOptionError('questionTokens', questionTokens, 'a whole number of tokens, at least 1');
  for (let window = Math.max(4096, questionTokens * 8); ; window *= 2) {
    const windowStart = Math.max(0, text.length - window);
    const starts = wordStarts(text, windowStart);
    // Tails shrink as starts ascend (token counts never grow): binary search for the last start with enough tokens.
    let best: { start: number; tokens: number } | undefined;
    let low = 0;
    let high = starts.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const tokens = counter.count(text.slice(starts[middle]));
      if (tokens >= questionTokens) {
        best = { start: starts[middle]!, tokens };
        low = middle + 1;
      } else high = middle - 1;
    }
    if (best !== undefined) return { question: text.slice(best.start), tokens: best.tokens, byteStart: best.start, charStart: best.start };
    if (windowStart === 0) throw new InvalidOptionError('questionTokens', questionTokens, `at most the ${counter.count(text)} tokens the whole input holds`);
  }
}

/** Offsets in [windowStart, text.length) where a word starts: after whitespace; the text's start too. */
function wordStarts(text: string, windowStart: number): number[] {
  const window = text.slice(windowStart);
  const starts = windowStart === 0 && window.length > 0 ? [0] : [];
  for (const match of window.matchAll(/\s+/g)) {
    const end = match.index + match[0].length;
    if (end > 0 && end < window.length) starts.push(windowStart + end);
  }
  return starts;
}

/** sha256 of a file's bytes, read in 1 MiB chunks (checkpoint fingerprints are computed synchronously). */
function fileSha256(path: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1 << 20);
  let descriptor: number;
  try {
    descriptor = openSync(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new InputError('INPUT_NOT_FOUND', path, 'no such file', 'check the path (it is resolved from the current directory)', cause);
    throw new InputError('INPUT_UNREADABLE', path, `cannot read it (${code ?? 'unknown error'})`, 'check the file permissions', cause);
  }
  try {
    for (let read = readSync(descriptor, chunk); read > 0; read = readSync(descriptor, chunk)) hash.update(chunk.subarray(0, read));
  } finally {
    closeSync(descriptor);
  }
  return hash.digest('hex');
}
