import type { ModelReply } from '../model-call.js';
import type { AgentRuntime } from '../model-call.js';
import { MAX_SUMMARY_ATTEMPTS, shrunkWordLimit, summaryProblem, trimToWordLimit, type SummaryProblem } from './validity.js';

export interface SummaryOutcome {
  readonly text: string;
  /** Model calls it took (1 when the first answer was valid). */
  readonly attempts: number;
  /** False when every attempt failed validation and the last answer was trimmed to fit. */
  readonly valid: boolean;
}

export interface GenerateSummaryOptions {
  readonly stage: string;
  readonly index: number;
  readonly wordLimit: number;
  /** Ask the model once with this word limit. */
  attempt(wordLimit: number, attemptNumber: number): Promise<ModelReply>;
  /** Called after a rejected answer, before the next attempt (e.g. to compress context). Default: nothing. */
  onRejected?(problem: SummaryProblem, attemptNumber: number): Promise<void>;
}

/**
 * Ask until the answer is a usable summary: non-empty, within the word limit, ending in a full sentence.
 * Each retry asks for 10% fewer words (BooookScore's recipe); after the last, the best answer is trimmed.
 */
export async function generateSummary(options: GenerateSummaryOptions, runtime: AgentRuntime): Promise<SummaryOutcome> {
  let lastText = '';
  for (let attemptNumber = 1; attemptNumber <= MAX_SUMMARY_ATTEMPTS; attemptNumber++) {
    const wordLimit = shrunkWordLimit(options.wordLimit, attemptNumber);
    const reply = await options.attempt(wordLimit, attemptNumber);
    // Judge against the caller's limit: the shrinking only nudges the model, it does not tighten acceptance.
    const problem = summaryProblem(reply.text, options.wordLimit, reply.finishReason);
    if (problem === undefined) return { text: reply.text, attempts: attemptNumber, valid: true };
    if (reply.text.trim() !== '') lastText = reply.text;
    runtime.emit?.({ type: 'output-rejected', stage: options.stage, index: options.index, attempt: attemptNumber, reason: problem, wordLimit });
    if (attemptNumber < MAX_SUMMARY_ATTEMPTS) await options.onRejected?.(problem, attemptNumber);
  }
  return { text: lastText === '' ? '' : trimToWordLimit(lastText, options.wordLimit), attempts: MAX_SUMMARY_ATTEMPTS, valid: false };
}
