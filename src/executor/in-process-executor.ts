import pLimit from 'p-limit';
import pRetry, { AbortError as StopRetrying } from 'p-retry';
import { AbortedError, InvalidOptionError, StepFailedError, TomeError, throwIfAborted } from '../errors.js';
import type { Executor, ExecutorRunOptions, ExecutorTask, RetryPolicy, StepEvent } from './executor.js';
import { isTransientError } from './transient-errors.js';

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 3,
  minDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  shouldRetry: isTransientError,
};

export interface InProcessExecutorOptions {
  /** Default concurrency for `map` calls that do not set one. Default 4. */
  concurrency?: number;
  /** Default retry policy, merged under each call's own. */
  retry?: Partial<RetryPolicy>;
}

/** Runs steps as promises in this process: the embedded default. */
export class InProcessExecutor implements Executor {
  readonly concurrency: number;
  private readonly retry: RetryPolicy;

  constructor(options: InProcessExecutorOptions = {}) {
    this.concurrency = checkConcurrency(options.concurrency ?? 4);
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  }

  async map<Input, Output>(task: ExecutorTask<Input, Output>, inputs: readonly Input[], options: ExecutorRunOptions = {}): Promise<Output[]> {
    const { signal } = options;
    throwIfAborted(signal);
    const limit = pLimit(checkConcurrency(options.concurrency ?? this.concurrency));
    const retry = { ...this.retry, ...options.retry };
    const emit = options.onEvent ?? (() => {});
    // A failure stops the queue: steps not yet started are skipped instead of burning model calls.
    const failed = new AbortController();
    const stepSignal = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
    const runs = inputs.map((input, index) =>
      limit(async () => {
        if (failed.signal.aborted) throw failed.signal.reason;
        throwIfAborted(signal);
        try {
          return await runWithRetries(task, input, index, retry, stepSignal, emit);
        } catch (error) {
          if (!failed.signal.aborted) failed.abort(error);
          throw error;
        }
      }),
    );
    const settled = await Promise.allSettled(runs);
    const firstFailure = settled.find((result) => result.status === 'rejected');
    if (firstFailure) throw signal?.aborted ? new AbortedError(signal.reason) : failed.signal.reason;
    return settled.map((result) => (result as PromiseFulfilledResult<Output>).value);
  }
}

async function runWithRetries<Input, Output>(
  task: ExecutorTask<Input, Output>,
  input: Input,
  index: number,
  retry: RetryPolicy,
  signal: AbortSignal,
  emit: (event: StepEvent) => void,
): Promise<Output> {
  let attempt = 0;
  try {
    return await pRetry(
      async (attemptNumber) => {
        attempt = attemptNumber;
        const started = performance.now();
        emit({ type: 'step-start', task: task.name, index, attempt });
        try {
          const output = await task.run(input, { index, attempt, signal });
          emit({ type: 'step-end', task: task.name, index, attempt, elapsedMs: performance.now() - started });
          return output;
        } catch (error) {
          if (signal.aborted || !retry.shouldRetry(error)) throw new StopRetrying(error instanceof Error ? error : new Error(String(error)));
          throw error;
        }
      },
      {
        retries: retry.retries,
        minTimeout: retry.minDelayMs,
        maxTimeout: retry.maxDelayMs,
        factor: retry.factor,
        randomize: true,
        signal,
        onFailedAttempt: (error) => {
          if (error.retriesLeft > 0) {
            const delayMs = Math.min(retry.maxDelayMs, retry.minDelayMs * retry.factor ** (error.attemptNumber - 1));
            emit({ type: 'step-retry', task: task.name, index, attempt: error.attemptNumber, delayMs, error: error.message });
          }
        },
      },
    );
  } catch (error) {
    const original = unwrap(error);
    emit({ type: 'step-error', task: task.name, index, attempt, error: original instanceof Error ? original.message : String(original) });
    if (signal.aborted && !TomeError.is(original)) throw new AbortedError(signal.reason);
    if (TomeError.is(original)) throw original;
    throw new StepFailedError(`${task.name}[${index}]`, attempt, original);
  }
}

/** p-retry wraps a stop in its own AbortError; hand callers the error the step really threw. */
function unwrap(error: unknown): unknown {
  if (error instanceof StopRetrying) return (error as { originalError?: unknown }).originalError ?? error;
  return error;
}

function checkConcurrency(concurrency: number): number {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidOptionError('concurrency', concurrency, 'a whole number, at least 1');
  }
  return concurrency;
}
