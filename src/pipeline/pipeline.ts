import type { CallbackManagerForChainRun } from '@langchain/core/callbacks/manager';
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { Runnable, type RunnableConfig } from '@langchain/core/runnables';
import { FileCheckpoint, NoCheckpoint, type Checkpoint } from '../checkpoint.js';
import { documentFromText, sha256, type TomeDocument } from '../documents.js';
import { AbortedError, TomeError } from '../errors.js';
import type { Executor } from '../executor/executor.js';
import { InProcessExecutor } from '../executor/in-process-executor.js';
import type { ModelHandle } from '../models/model-handle.js';
import { PROGRESS_EVENT_NAME, type ProgressEvent, type ProgressListener } from './progress.js';
import { RunContext } from './run-context.js';

/** Where and how a pipeline runs; the same for every pipeline. */
export interface PipelineSettings {
  /** The model every agent of the pipeline talks to. */
  model: ModelHandle;
  /** Where independent steps run. Default: a fresh {@link InProcessExecutor}. */
  executor?: Executor;
  /** Most independent steps in flight at once. Default 4. */
  concurrency?: number;
  /** JSON-lines file of finished steps; a rerun with the same arguments skips them. Default: none. */
  checkpointPath?: string;
}

/** What a pipeline does, independent of where it runs. */
export interface PipelineDefinition<Input, Output> {
  /** Registry name and progress label, e.g. `hierarchical-summary`. */
  readonly name: string;
  /** The options that change results (budgets, methods): part of the checkpoint fingerprint. JSON only. */
  readonly options?: unknown;
  /** Identity of an input for the checkpoint fingerprint. Default: sha256 of the input's text or JSON. */
  fingerprintInput?(input: Input): string;
  run(input: Input, context: RunContext): Promise<Output>;
}

/** A document, or text to treat as one. */
export type DocumentInput = TomeDocument | string;

export function toDocument(input: DocumentInput): TomeDocument {
  return typeof input === 'string' ? documentFromText(input) : input;
}

/**
 * A pipeline is a LangChain Runnable: `invoke`, `batch`, `withRetry`, callbacks and `streamEvents` work as for any
 * Runnable. Progress events are LangChain custom events named `tome-progress`; {@link Pipeline.streamProgress}
 * yields them directly.
 */
export class Pipeline<Input, Output> extends Runnable<Input, Output> {
  lc_namespace = ['tome', 'pipelines'];

  constructor(
    readonly definition: PipelineDefinition<Input, Output>,
    readonly settings: PipelineSettings,
  ) {
    super();
  }

  override getName(): string {
    return this.definition.name;
  }

  /** Rejects with a TomeError (code ABORTED) when `config.signal` aborts; finished steps stay in the checkpoint. */
  override async invoke(input: Input, config?: RunnableConfig): Promise<Output> {
    // LangChain would race the run against the signal and reject with the bare abort reason; the pipeline instead
    // stops its own steps and rejects with a typed AbortedError once they have settled.
    const { signal, ...rest } = config ?? {};
    return this._callWithConfig((value: Input, _runConfig?: RunnableConfig, runManager?: CallbackManagerForChainRun) => this.runOnce(value, signal, runManager), input, rest);
  }

  /** Run and yield every progress event; the generator's return value is the output. */
  async *streamProgress(input: Input, config: RunnableConfig = {}): AsyncGenerator<ProgressEvent, Output> {
    const queue: ProgressEvent[] = [];
    let wake: (() => void) | undefined;
    const collector = BaseCallbackHandler.fromMethods({
      handleCustomEvent(name: string, data: unknown) {
        if (name !== PROGRESS_EVENT_NAME) return;
        queue.push(data as ProgressEvent);
        wake?.();
      },
    });
    collector.awaitHandlers = true;
    const callbacks = Array.isArray(config.callbacks) ? [...config.callbacks, collector] : config.callbacks ? config.callbacks : [collector];
    if (!Array.isArray(callbacks)) callbacks.addHandler(collector, true);
    let finished = false;
    const running = this.invoke(input, { ...config, callbacks }).finally(() => {
      finished = true;
      wake?.();
    });
    running.catch(() => {});
    while (!finished || queue.length > 0) {
      if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      while (queue.length > 0) yield queue.shift()!;
    }
    return running;
  }

  private async runOnce(input: Input, signal: AbortSignal | undefined, runManager: CallbackManagerForChainRun | undefined): Promise<Output> {
    const { model, concurrency = 4 } = this.settings;
    const executor = this.settings.executor ?? new InProcessExecutor({ concurrency });
    const checkpoint = this.openCheckpoint(input);
    const listener: ProgressListener = runManager
      ? (event) => void runManager.handleCustomEvent(PROGRESS_EVENT_NAME, event).catch(() => {})
      : () => {};
    const childConfig = runManager ? { callbacks: runManager.getChild() } : undefined;
    const context = new RunContext(model, executor, checkpoint, concurrency, listener, signal, childConfig);
    try {
      context.throwIfAborted();
      const output = await this.definition.run(input, context).catch((error: unknown) => {
        // Steps see the abort as whatever their model client throws; report it as what it is.
        if (signal?.aborted && !(TomeError.is(error) && error.code !== 'STEP_FAILED')) throw new AbortedError(signal.reason);
        throw error;
      });
      context.emit({ type: 'pipeline-end', pipeline: this.definition.name, elapsedMs: context.elapsedMs(), modelCalls: context.stats.modelCalls });
      return output;
    } finally {
      checkpoint.close();
    }
  }

  private openCheckpoint(input: Input): Checkpoint {
    const path = this.settings.checkpointPath;
    if (!path) return new NoCheckpoint();
    const { model } = this.settings;
    return FileCheckpoint.open(path, {
      pipeline: this.definition.name,
      model: model.spec,
      contextWindow: model.contextWindow,
      tokenCounter: model.tokenCounter.name,
      options: this.definition.options ?? null,
      input: this.definition.fingerprintInput?.(input) ?? defaultFingerprint(input),
    });
  }
}

function defaultFingerprint(input: unknown): string {
  if (typeof input === 'string') return sha256(input);
  if (typeof input === 'object' && input !== null && typeof (input as TomeDocument).sha256 === 'string') return (input as TomeDocument).sha256;
  return sha256(JSON.stringify(input) ?? '');
}
