/**
 * The structured task behind a model call. Agents render a prompt for an LLM and attach this object next to it
 * (call option `tomeTask`), so engines that do not read prose — the extractive engine, test fakes — know exactly
 * what was asked. LLM providers ignore the option.
 *
 * Every task carries `wordLimit`, the most words the answer may hold.
 */
export type ModelTask =
  | SummarizeTask
  | MergeTask
  | UpdateTask
  | CompressTask
  | AnswerTask
  | WorkerStepTask
  | ManagerStepTask
  | NeedsMemoryTask
  | SummarySufficesTask
  | JudgeTask;

/** Summarize one chunk of source text on its own. */
export interface SummarizeTask {
  readonly kind: 'summarize';
  readonly source: string;
  readonly wordLimit: number;
}

/** Merge consecutive summaries into one; `context` is the previous merged summary at the same level. */
export interface MergeTask {
  readonly kind: 'merge';
  readonly summaries: readonly string[];
  readonly context?: string;
  readonly wordLimit: number;
}

/** Fold a new chunk into a running summary. `chunkIndex` is 0-based, out of `chunkCount`. */
export interface UpdateTask {
  readonly kind: 'update';
  readonly summary: string;
  readonly source: string;
  readonly chunkIndex: number;
  readonly chunkCount: number;
  readonly wordLimit: number;
}

/** Shorten a summary to about `wordLimit` words. */
export interface CompressTask {
  readonly kind: 'compress';
  readonly summary: string;
  readonly wordLimit: number;
}

/** Answer `query` from `source`. */
export interface AnswerTask {
  readonly kind: 'answer';
  readonly source: string;
  readonly query: string;
  readonly wordLimit: number;
}

/** Chain-of-Agents worker: read `source`, extend the communication unit `previous` (query-free when no query). */
export interface WorkerStepTask {
  readonly kind: 'worker-step';
  readonly source: string;
  readonly previous: string;
  readonly query?: string;
  /** 0-based position of this chunk in the reading order: how many chunks `previous` already covers. */
  readonly chunkIndex?: number;
  readonly wordLimit: number;
}

/** Chain-of-Agents manager: produce the final answer (or summary when no query) from the last communication unit. */
export interface ManagerStepTask {
  readonly kind: 'manager-step';
  readonly communication: string;
  readonly query?: string;
  readonly wordLimit: number;
}

/** Self-Controlled Memory controller: does answering `input` need anything from memory? Reply "yes" or "no". */
export interface NeedsMemoryTask {
  readonly kind: 'needs-memory';
  readonly input: string;
  readonly wordLimit: number;
}

/**
 * Self-Controlled Memory controller: can `query` be answered from a memory's `summary`, or is its full text
 * needed? Reply "yes" (the summary suffices) or "no". `full` is given so non-LLM engines can compare.
 */
export interface SummarySufficesTask {
  readonly kind: 'summary-suffices';
  readonly query: string;
  readonly summary: string;
  readonly full: string;
  readonly wordLimit: number;
}

/** Pick the best of several candidate answers (Chain-of-Agents reading paths). Reply with its 1-based number. */
export interface JudgeTask {
  readonly kind: 'judge';
  readonly query?: string;
  readonly candidates: readonly string[];
  readonly wordLimit: number;
}

export type ModelTaskKind = ModelTask['kind'];

/** Call option through which agents hand the task to the model. */
export interface TomeTaskCallOptions {
  tomeTask?: ModelTask;
}
