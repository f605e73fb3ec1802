import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import pRetry, { AbortError as StopRetrying } from 'p-retry';
import { AbortedError, InvalidOptionError, StepFailedError, TomeError, throwIfAborted } from '../errors.js';
import type { Executor, ExecutorRunOptions, ExecutorTask, RetryPolicy, StepEvent } from './executor.js';
import { isTransientError } from './transient-errors.js';

/** How long an abort waits for a step in flight to finish (and record its result) before giving up on it. */
export const ABORT_GRACE_MS = 2000;

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
    this.retry = checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry });
  }

  async map<Input, Output>(task: ExecutorTask<Input, Output>, inputs: readonly Input[], options: ExecutorRunOptions = {}): Promise<Output[]> {
    const { signal } = options;
    throwIfAborted(signal);
    const limit = pLimit(checkConcurrency(options.concurrency ?? this.concurrency));
    const retry = checkRetryPolicy({ ...this.retry, ...options.retry });
    const emit = options.onEvent ?? (() => {});
    // A failure stops the queue: steps not yet started are skipped instead of burning model calls.
    const failed = new AbortController();
    const stepSignal = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
    // Every step in flight listens on these; dozens at once are normal, not a leak.
    setMaxListeners(0, failed.signal, stepSignal);
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
  let inFlight: Promise<unknown> | undefined;
  try {
    return await pRetry(
      async (attemptNumber) => {
        attempt = attemptNumber;
        const started = performance.now();
        emit({ type: 'step-start', task: task.name, index, attempt });
        try {
          const running = task.run(input, { index, attempt, signal });
          inFlight = running;
          const output = await running;
          emit({ type: 'step-end', task: task.name, index, attempt, elapsedMs: performance.now() - started });
          return output;
        } catch (error) {
          // Wrap every failure so that our policy, not p-retry's own rules (it never retries a TypeError or a
          // thrown non-Error), decides what is retried, and p-retry never writes onto the step's own error.
          const failure = new AttemptFailure(error);
          if (signal.aborted || !retry.shouldRetry(error)) throw new StopRetrying(failure);
          throw failure;
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
            // The delay before jitter: p-retry waits between 1x and 2x this.
            const delayMs = Math.min(retry.maxDelayMs, retry.minDelayMs * retry.factor ** (error.attemptNumber - 1));
            emit({ type: 'step-retry', task: task.name, index, attempt: error.attemptNumber, delayMs, error: error.message });
          }
        },
      },
    );
  } catch (error) {
    // On abort p-retry rejects at once; give the attempt in flight a moment to settle, so whatever it finishes (a
    // checkpoint record) is done before the caller closes shop, without waiting on a step that ignores the signal.
    if (signal.aborted && inFlight) await Promise.race([inFlight.catch(() => {}), new Promise((resolve) => setTimeout(resolve, ABORT_GRACE_MS).unref())]);
    const original = error instanceof AttemptFailure ? error.original : error;
    emit({ type: 'step-error', task: task.name, index, attempt, error: describe(original) });
    if (signal.aborted && !TomeError.is(original)) throw new AbortedError(signal.reason);
    if (TomeError.is(original)) throw original;
    throw new StepFailedError(`${task.name}[${index}]`, attempt, original);
  }
}

/** One failed attempt, carrying whatever the step threw. */
class AttemptFailure extends Error {
  constructor(readonly original: unknown) {
    super(describe(original));
    this.name = 'AttemptFailure';
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function checkRetryPolicy(retry: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(retry.retries) || retry.retries < 0) throw new InvalidOptionError('retry.retries', retry.retries, 'a whole number, at least 0');
  if (!(retry.minDelayMs >= 0)) throw new InvalidOptionError('retry.minDelayMs', retry.minDelayMs, 'a number of milliseconds, at least 0');
  if (!(retry.maxDelayMs >= retry.minDelayMs)) throw new InvalidOptionError('retry.maxDelayMs', retry.maxDelayMs, `a number of milliseconds, at least retry.minDelayMs (${retry.minDelayMs})`);
  if (!(retry.factor >= 1)) throw new InvalidOptionError('retry.factor', retry.factor, 'a number, at least 1');
  return retry;
}

function checkConcurrency(concurrency: number): number {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidOptionError('concurrency', concurrency, 'a whole number, at least 1');
  }
  return concurrency;
}
