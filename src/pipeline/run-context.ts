import type { RunnableConfig } from '@langchain/core/runnables';
import type { Checkpoint } from '../checkpoint.js';
import { throwIfAborted } from '../errors.js';
import type { Executor } from '../executor/executor.js';
import type { ModelHandle } from '../models/model-handle.js';
import type { ProgressEvent, ProgressListener } from './progress.js';

/** Counters of one run; `modelCalls` counts calls actually sent (steps restored from a checkpoint send none). */
export interface RunStats {
  modelCalls: number;
  promptTokens: number;
  cachedSteps: number;
}

/**
 * Everything a pipeline's steps share during one `invoke`: the model, where steps run, what is already done,
 * cancellation and progress. Building blocks (segment, map, fold, reduce-tree) take it as their first argument.
 */
export class RunContext {
  readonly stats: RunStats = { modelCalls: 0, promptTokens: 0, cachedSteps: 0 };
  readonly startedAt = performance.now();

  constructor(
    readonly model: ModelHandle,
    readonly executor: Executor,
    readonly checkpoint: Checkpoint,
    readonly concurrency: number,
    private readonly listener: ProgressListener,
    readonly signal?: AbortSignal,
    /** Child callbacks of the pipeline's run: model calls made with it nest under the pipeline in traces. */
    readonly config?: RunnableConfig,
  ) {}

  emit(event: ProgressEvent): void {
    this.listener(event);
  }

  /** Agents report each model call here (see agents/model-call.ts). */
  recordModelCall(promptTokens: number): void {
    this.stats.modelCalls++;
    this.stats.promptTokens += promptTokens;
  }

  throwIfAborted(): void {
    throwIfAborted(this.signal);
  }

  elapsedMs(): number {
    return Math.round(performance.now() - this.startedAt);
  }
}
