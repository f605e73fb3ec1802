import { countWords } from '../../src/models/extractive/selection.js';

/** BooookScore's budgets: a summary of T tokens is asked for in 0.65·T words. */
export const WORDS_PER_TOKEN = 0.65;

/** Validity retries per summary, and how much the word limit shrinks on each. */
export const MAX_SUMMARY_ATTEMPTS = 6;
export const WORD_LIMIT_SHRINK = 0.9;

export function wordLimitForTokens(tokens: number): number {
  return Math.max(1, Math.floor(tokens * WORDS_PER_TOKEN));
}

/** The word limit of attempt `attempt` (1-based): 10% less on each retry. */
export function shrunkWordLimit(wordLimit: number, attempt: number): number {
  return Math.max(1, Math.floor(wordLimit * WORD_LIMIT_SHRINK ** (attempt - 1)));
}

export type SummaryProblem = 'empty' | 'too-long' | 'unfinished';

const SENTENCE_END = /[.!?…]["'”’)\]]*$/;

/**
 * Why a model's summary cannot be used, or `undefined` when it can: it must be non-empty, within `wordLimit`
 * words, and end at the end of a sentence (a reply cut off by the token limit does not).
 */
export function summaryProblem(text: string, wordLimit: number, finishReason?: string): SummaryProblem | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return 'empty';
  if (countWords(trimmed) > wordLimit) return 'too-long';
  if (finishReason === 'length' || !SENTENCE_END.test(trimmed)) return 'unfinished';
  return undefined;
}

/**
 * Last resort after every attempt failed: keep whole sentences within the limit (or the first `wordLimit` words
 * with an ellipsis), so a run never stops on one stubborn step.
 */
export function trimToWordLimit(text: string, wordLimit: number): string {
  const words = text.trim().split(/\s+/);
  const kept = words.slice(0, wordLimit).join(' ');
  const lastEnd = Math.max(...['.', '!', '?', '…'].map((mark) => kept.lastIndexOf(mark)));
  if (lastEnd > 0) {
    const closing = kept.slice(lastEnd + 1).match(/^["'”’)\]]*/)?.[0] ?? '';
    return kept.slice(0, lastEnd + 1 + closing.length);
  }
  return `${kept}…`;
}
