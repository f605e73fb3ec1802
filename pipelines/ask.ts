import { sha256 } from '../src/documents.js';
import { InvalidOptionError } from '../src/errors.js';
import { toDocument, type DocumentInput } from '../src/pipeline/pipeline.js';
import type { RunContext } from '../src/pipeline/run-context.js';

/** Question answering over a long document: the input of every `tome ask` method. */
export interface AskInput {
  readonly document: DocumentInput;
  readonly question: string;
}

/** A passage an answer drew on, located in the normalized document text. */
export interface Evidence {
  /** Index of the segment in the method's own segmentation. */
  readonly segment: number;
  readonly charStart: number;
  readonly charEnd: number;
}

export type AskMethod = 'coa' | 'scm' | 'rag' | 'truncate' | 'xl3m';

/** What `tome ask --json` prints. */
export interface AskResult {
  readonly answer: string;
  readonly method: AskMethod;
  readonly model: string;
  /** Model calls sent in this run. */
  readonly modelCalls: number;
  readonly inputTokens: number;
  readonly elapsedMs: number;
  /** Segments the answer drew on, in document order. */
  readonly evidence: readonly Evidence[];
}

/** Words an answer may take by default (about 200 tokens). */
export const DEFAULT_ANSWER_WORDS = 130;

/**
 * Reject questions that cannot work before any model call: empty, or so long that nothing else fits the window.
 * @throws InvalidOptionError naming the question.
 */
export function checkQuestion(context: RunContext, question: string, reservedTokens: number): void {
  if (question.trim() === '') throw new InvalidOptionError('question', question, 'a non-empty question');
  const tokens = context.model.tokenCounter.count(question);
  const room = context.model.contextWindow - reservedTokens;
  if (tokens > room) {
    throw new InvalidOptionError('question', `${question.slice(0, 40)}…`, `at most ${Math.max(0, room)} tokens for ${context.model.spec}'s ${context.model.contextWindow}-token window (it has ${tokens})`);
  }
}

export function askResult(context: RunContext, method: AskMethod, answer: string, inputTokens: number, evidence: readonly Evidence[]): AskResult {
  const ordered = [...evidence].sort((a, b) => a.charStart - b.charStart);
  return { answer, method, model: context.model.spec, modelCalls: context.stats.modelCalls, inputTokens, elapsedMs: context.elapsedMs(), evidence: ordered };
}

/** Checkpoint identity of a question about a document: both hashes (a question may be long or private). */
export function askFingerprint(input: AskInput): string {
  return `${toDocument(input.document).sha256}:${sha256(input.question)}`;
}
