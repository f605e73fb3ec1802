/**
 * What a running pipeline reports. Names follow `<noun>-<action>`; every stage ends with `stage-end` and the run
 * with `pipeline-end`. Delivered as LangChain custom events named {@link PROGRESS_EVENT_NAME} (so
 * `pipeline.streamEvents(input, { version: 'v2' })` shows them) and through `pipeline.streamProgress(input)`.
 */
export type ProgressEvent =
  | { type: 'pipeline-start'; pipeline: string; model: string; inputTokens: number }
  | { type: 'stage-start'; stage: string; level: number; total: number; cached: number }
  | { type: 'step-end'; stage: string; level: number; index: number; done: number; total: number; cached: boolean }
  | { type: 'step-retry'; stage: string; index: number; attempt: number; delayMs: number; error: string }
  | { type: 'output-rejected'; stage: string; index: number; attempt: number; reason: string; wordLimit: number }
  | { type: 'summary-compressed'; stage: string; index: number; fromWords: number; toWords: number; targetWords: number }
  | { type: 'communication-unit'; stage: string; index: number; segment: number; text: string }
  | { type: 'memory-decisions'; needsMemory: boolean; decisions: readonly { index: number; action: string; reason: string; relevance: number }[] }
  | { type: 'stage-end'; stage: string; level: number }
  | { type: 'pipeline-end'; pipeline: string; elapsedMs: number; modelCalls: number };

export const PROGRESS_EVENT_NAME = 'tome-progress';

export type ProgressListener = (event: ProgressEvent) => void;
