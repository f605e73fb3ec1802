/**
 * Contracts for reading inputs too large to hold: a document is a file read in O(segment) memory, cut into the same
 * segments `segmentText` would make, with the question (the input's last tokens) split off its tail.
 */
import type { TokenCounter } from '../tokens/token-counter.js';

/** A segment of a streamed input: like `Segment`, plus byte offsets into the file to re-read it later. */
export interface StreamedSegment {
  readonly index: number;
  /** Character offsets (UTF-16 code units of the decoded text, as `Segment`), owned range [start, end). */
  readonly start: number;
  readonly end: number;
  readonly overlapStart: number;
  /** Byte offsets of [overlapStart, end) in the file. */
  readonly byteStart: number;
  readonly byteEnd: number;
  readonly text: string;
  readonly tokens: number;
}

export interface StreamSegmentsOptions {
  /** Most tokens per segment, overlap included. */
  maxTokens: number;
  overlapTokens?: number;
  counter?: TokenCounter;
  /** Stop before this byte offset (the question's start when the question is the input's tail). */
  endByte?: number;
  signal?: AbortSignal;
}

/** The last `questionTokens` tokens of a file, cut at a word boundary, and where they start. */
export interface InputTail {
  readonly question: string;
  readonly tokens: number;
  /** Byte offset in the file where the question starts (everything before it is context). */
  readonly byteStart: number;
  /** Character offset where the question starts. */
  readonly charStart: number;
}
