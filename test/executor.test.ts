import { describe, expect, it } from 'vitest';
import { StepFailedError, TomeError, type TomeErrorCode } from '../src/errors.js';
import type { ExecutorTask, StepContext, StepEvent } from '../src/executor/executor.js';
import { InProcessExecutor } from '../src/executor/in-process-executor.js';
import { isTransientError } from '../src/executor/transient-errors.js';

const FAST_RETRY = { minDelayMs: 1, maxDelayMs: 2 };

interface Deferred<Value> {
  promise: Promise<Value>;
  resolve: (value: Value) => void;
  reject: (error: unknown) => void;
}

function deferred<Value = void>(): Deferred<Value> {
  let resolve!: (value: Value) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<Value>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Let pending promise callbacks and p-limit's queue move on (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Wait (by event-loop turns, not wall time) until `condition` holds. */
async function until(condition: () => boolean, turns = 1000): Promise<void> {
  for (let turn = 0; turn < turns; turn++) {
    if (condition()) return;
    await settle();
  }
  throw new Error('condition never held');
}

function task<Input, Output>(name: string, run: (input: Input, context: StepContext) => Promise<Output>): ExecutorTask<Input, Output> {
  return { name, run };
}

/**
 * A task whose steps each wait on a gate the test opens, so the test decides when (and in which order) steps
 * finish, and can see how many are in flight.
 */
function gatedTask(name = 'gated') {
  const gates = new Map<number, Deferred<void>>();
  const started: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const gated = task<number, number>(name, async (input, { index }) => {
    started.push(index);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const gate = deferred();
    gates.set(index, gate);
    try {
      await gate.promise;
      return input * 10;
    } finally {
      inFlight--;
    }
  });
  return {
    task: gated,
    started,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    /** Open the gate of step `index` once it has started. */
    async finish(index: number): Promise<void> {
      await until(() => gates.has(index));
      gates.get(index)!.resolve();
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

function expectTomeError(error: unknown, code: TomeErrorCode): TomeError {
  expect(TomeError.is(error)).toBe(true);
  expect((error as TomeError).code).toBe(code);
  return error as TomeError;
}

const range = (length: number): number[] => Array.from({ length }, (_, index) => index);

describe('InProcessExecutor.map: results and concurrency', () => {
  it('returns results in input order even when later steps finish first', async () => {
    const gated = gatedTask();
    const result = new InProcessExecutor().map(gated.task, [1, 2, 3, 4], { concurrency: 4 });
    for (const index of [3, 2, 1, 0]) await gated.finish(index);
    expect(await result).toEqual([10, 20, 30, 40]);
  });

  it('returns [] for no inputs without running anything', async () => {
    let runs = 0;
    const counting = task<number, number>('counting', async (input) => {
      runs++;
      return input;
    });
    expect(await new InProcessExecutor().map(counting, [])).toEqual([]);
    expect(runs).toBe(0);
  });

  it('honours the concurrency limit (3 over 10 steps: exactly 3 in flight at most)', async () => {
    const gated = gatedTask();
    const result = new InProcessExecutor().map(gated.task, range(10), { concurrency: 3 });
    await until(() => gated.started.length === 3);
    await settle();
    expect(gated.started).toEqual([0, 1, 2]); // the fourth waits for a free slot
    for (const index of range(10)) await gated.finish(index);
    expect(await result).toEqual(range(10).map((input) => input * 10));
    expect(gated.maxInFlight).toBe(3);
    expect(gated.started).toEqual(range(10));
  });

  it('uses the constructor concurrency when map sets none', async () => {
    const executor = new InProcessExecutor({ concurrency: 2 });
    expect(executor.concurrency).toBe(2);
    const gated = gatedTask();
    const result = executor.map(gated.task, range(6));
    await until(() => gated.started.length === 2);
    await settle();
    expect(gated.inFlight).toBe(2);
    for (const index of range(6)) await gated.finish(index);
    await result;
    expect(gated.maxInFlight).toBe(2);
  });

  it('defaults to a concurrency of 4', async () => {
    const executor = new InProcessExecutor();
    expect(executor.concurrency).toBe(4);
    const gated = gatedTask();
    const result = executor.map(gated.task, range(8));
    await until(() => gated.started.length === 4);
    for (const index of range(8)) await gated.finish(index);
    await result;
    expect(gated.maxInFlight).toBe(4);
  });

  it.each([0, 1.5, -1, Number.NaN])('rejects concurrency %s with INVALID_OPTION', async (concurrency) => {
    let constructorError: unknown;
    try {
      new InProcessExecutor({ concurrency });
    } catch (error) {
      constructorError = error;
    }
    expectTomeError(constructorError, 'INVALID_OPTION');

    let runs = 0;
    const counting = task<number, number>('counting', async (input) => {
      runs++;
      return input;
    });
    expectTomeError(await rejection(new InProcessExecutor().map(counting, [1, 2], { concurrency })), 'INVALID_OPTION');
    expect(runs).toBe(0);
  });
});

describe('InProcessExecutor.map: events', () => {
  it('emits step-start then step-end for every step of a clean run', async () => {
    const events: StepEvent[] = [];
    const double = task<number, number>('double', async (input) => input * 2);
    const result = await new InProcessExecutor().map(double, [1, 2, 3], { concurrency: 1, onEvent: (event) => events.push(event) });
    expect(result).toEqual([2, 4, 6]);
    expect(events.map(({ type, task: name, index, attempt }) => ({ type, task: name, index, attempt }))).toEqual(
      range(3).flatMap((index) => [
        { type: 'step-start', task: 'double', index, attempt: 1 },
        { type: 'step-end', task: 'double', index, attempt: 1 },
      ]),
    );
    for (const event of events) if (event.type === 'step-end') expect(event.elapsedMs).toBeGreaterThanOrEqual(0);
  });

  it('passes index and attempt to every step', async () => {
    const contexts: Array<{ index: number; attempt: number }> = [];
    const recording = task<string, string>('recording', async (input, { index, attempt }) => {
      contexts.push({ index, attempt });
      return input.toUpperCase();
    });
    expect(await new InProcessExecutor().map(recording, ['a', 'b'], { concurrency: 1 })).toEqual(['A', 'B']);
    expect(contexts).toEqual([
      { index: 0, attempt: 1 },
      { index: 1, attempt: 1 },
    ]);
  });
});

describe('InProcessExecutor.map: retries and failures', () => {
  it('retries a transient error and succeeds, emitting step-retry', async () => {
    const attempts: number[] = [];
    const flaky = task<number, number>('flaky', async (input, { attempt }) => {
      attempts.push(attempt);
      if (attempt < 3) throw Object.assign(new Error('rate limited'), { status: 429 });
      return input + 1;
    });
    const events: StepEvent[] = [];
    const result = await new InProcessExecutor().map(flaky, [41], { retry: FAST_RETRY, onEvent: (event) => events.push(event) });
    expect(result).toEqual([42]);
    expect(attempts).toEqual([1, 2, 3]);
    const retries = events.filter((event) => event.type === 'step-retry');
    expect(retries.map((event) => event.attempt)).toEqual([1, 2]);
    for (const event of retries) {
      expect(event).toMatchObject({ task: 'flaky', index: 0, error: 'rate limited' });
    }
    expect(events.map((event) => event.type)).toEqual(['step-start', 'step-retry', 'step-start', 'step-retry', 'step-start', 'step-end']);
  });

  it('does not retry a plain error: one attempt, STEP_FAILED naming task and index', async () => {
    let runs = 0;
    const broken = task<number, number>('summarize-leaf', async (input, { index }) => {
      if (index === 1) {
        runs++;
        throw new Error('prompt template has no {text}');
      }
      return input;
    });
    const events: StepEvent[] = [];
    const error = await rejection(
      new InProcessExecutor().map(broken, [0, 1, 2], { retry: FAST_RETRY, concurrency: 1, onEvent: (event) => events.push(event) }),
    );
    const failure = expectTomeError(error, 'STEP_FAILED');
    expect(runs).toBe(1);
    expect(failure.message).toContain('summarize-leaf');
    expect(failure.message).toContain('[1]');
    expect(failure.message).toContain('prompt template has no {text}');
    expect((failure as StepFailedError).attempts).toBe(1);
    expect(failure.cause).toBeInstanceOf(Error);
    expect(events.some((event) => event.type === 'step-retry')).toBe(false);
    expect(events.filter((event) => event.type === 'step-error')).toMatchObject([{ index: 1, error: 'prompt template has no {text}' }]);
  });

  it('does not retry a TomeError and rejects with it as is', async () => {
    const own = new TomeError('PROMPT_OVERFLOW', 'leaf: prompt too long', { fix: 'lower --chunk-tokens' });
    let runs = 0;
    const overflowing = task<number, number>('overflowing', async () => {
      runs++;
      throw own;
    });
    const error = await rejection(new InProcessExecutor().map(overflowing, [1], { retry: FAST_RETRY }));
    expect(error).toBe(own);
    expect(runs).toBe(1);
  });

  it('gives up after the last retry with STEP_FAILED and attempts = retries + 1', async () => {
    let runs = 0;
    const down = task<number, number>('down', async () => {
      runs++;
      throw Object.assign(new Error('service unavailable'), { status: 503 });
    });
    const events: StepEvent[] = [];
    const error = await rejection(
      new InProcessExecutor().map(down, [1], { retry: { ...FAST_RETRY, retries: 2 }, onEvent: (event) => events.push(event) }),
    );
    const failure = expectTomeError(error, 'STEP_FAILED');
    expect(runs).toBe(3);
    expect((failure as StepFailedError).attempts).toBe(3);
    expect(failure.message).toContain('down[0]');
    expect(failure.message).toContain('service unavailable');
    expect(events.filter((event) => event.type === 'step-retry')).toHaveLength(2);
    expect(events.at(-1)).toMatchObject({ type: 'step-error', index: 0, attempt: 3 });
  });

  it('uses the retry policy given to the constructor', async () => {
    let runs = 0;
    const down = task<number, number>('down', async () => {
      runs++;
      throw Object.assign(new Error('overloaded'), { status: 529 });
    });
    const executor = new InProcessExecutor({ retry: { ...FAST_RETRY, retries: 1 } });
    const failure = expectTomeError(await rejection(executor.map(down, [1])), 'STEP_FAILED');
    expect(runs).toBe(2);
    expect((failure as StepFailedError).attempts).toBe(2);
  });

  it('stops steps not yet started after a failure', async () => {
    const started: number[] = [];
    const failing = task<number, number>('failing', async (input, { index }) => {
      started.push(index);
      if (index === 1) throw new Error('bad step');
      return input;
    });
    const error = await rejection(new InProcessExecutor().map(failing, range(10), { concurrency: 1, retry: FAST_RETRY }));
    expectTomeError(error, 'STEP_FAILED');
    expect((error as TomeError).message).toContain('failing[1]');
    expect(started).toEqual([0, 1]);
  });
});

describe('InProcessExecutor.map: cancellation', () => {
  it('rejects with ABORTED and never starts the remaining steps', async () => {
    const controller = new AbortController();
    const started: number[] = [];
    const aborting = task<number, number>('aborting', async (input, { index }) => {
      started.push(index);
      if (index === 1) controller.abort();
      return input;
    });
    const error = await rejection(new InProcessExecutor().map(aborting, range(10), { concurrency: 1, signal: controller.signal }));
    expectTomeError(error, 'ABORTED');
    expect(started).toEqual([0, 1]);
  });

  it('rejects with ABORTED when a step in flight is cancelled', async () => {
    const controller = new AbortController();
    const gated = gatedTask();
    const result = new InProcessExecutor().map(gated.task, range(6), { concurrency: 2, signal: controller.signal });
    await until(() => gated.started.length === 2);
    controller.abort(new Error('user pressed Ctrl-C'));
    const error = expectTomeError(await rejection(result), 'ABORTED');
    expect(error.message).toContain('user pressed Ctrl-C');
    await settle();
    expect(gated.started).toEqual([0, 1]);
  });

  it('rejects with ABORTED before running anything when the signal is already aborted', async () => {
    let runs = 0;
    const counting = task<number, number>('counting', async (input) => {
      runs++;
      return input;
    });
    const error = await rejection(new InProcessExecutor().map(counting, [1, 2, 3], { signal: AbortSignal.abort() }));
    expectTomeError(error, 'ABORTED');
    expect(runs).toBe(0);
  });
});

describe('isTransientError', () => {
  const withStatus = (status: number) => Object.assign(new Error(`HTTP ${status}`), { status });
  const named = (name: string) => Object.assign(new Error(name), { name });

  it.each<[string, unknown]>([
    ['status 429', withStatus(429)],
    ['status 503', withStatus(503)],
    ['statusCode 502', Object.assign(new Error('bad gateway'), { statusCode: 502 })],
    ['code ECONNRESET', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['TimeoutError', named('TimeoutError')],
    ['DOMException TimeoutError', new DOMException('timed out', 'TimeoutError')],
    ['transient: true', Object.assign(new Error('flaky'), { transient: true })],
    ['a transient cause', new Error('fetch failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })],
    ['a transient cause two levels down', new Error('outer', { cause: new Error('middle', { cause: withStatus(429) }) })],
  ])('%s is transient', (_, error) => {
    expect(isTransientError(error)).toBe(true);
  });

  it.each<[string, unknown]>([
    ['status 400', withStatus(400)],
    ['status 401', withStatus(401)],
    ['TypeError', new TypeError('cannot read properties of undefined')],
    ['TomeError', new TomeError('PROMPT_OVERFLOW', 'too long', { fix: 'shorten it' })],
    ['TomeError with a transient cause', new TomeError('STEP_FAILED', 'failed', { fix: 'retry', cause: withStatus(429) })],
    ['AbortError', named('AbortError')],
    ['DOMException AbortError', new DOMException('aborted', 'AbortError')],
    ['plain Error', new Error('boom')],
    ['a string', 'ECONNRESET'],
    ['undefined', undefined],
    ['null', null],
    ['a non-transient cause', new Error('outer', { cause: withStatus(404) })],
  ])('%s is not transient', (_, error) => {
    expect(isTransientError(error)).toBe(false);
  });
});

describe('review findings', () => {
  it('a cycle in the cause chain is not transient and does not overflow the stack', () => {
    const first = new Error('first') as Error & { cause?: unknown };
    const second = new Error('second', { cause: first });
    first.cause = second;
    expect(isTransientError(first)).toBe(false);
  });

  it('our policy decides retries, even for a TypeError or a thrown non-Error', async () => {
    const executor = new InProcessExecutor({ retry: { minDelayMs: 1, maxDelayMs: 2 } });
    let typeErrorAttempts = 0;
    await executor.map({ name: 'socket', run: async () => { if (++typeErrorAttempts < 3) throw new TypeError('socket closed', { cause: { code: 'ECONNRESET' } }); return 1; } }, [0]);
    expect(typeErrorAttempts).toBe(3);
    let plainAttempts = 0;
    await executor.map({ name: 'plain', run: async () => { if (++plainAttempts < 2) throw { status: 429 }; return 1; } }, [0]);
    expect(plainAttempts).toBe(2);
  });

  it('does not write onto the error the step threw', async () => {
    const original = new Error('bad request');
    const failing = new InProcessExecutor().map({ name: 'bad', run: async () => { throw original; } }, [0]);
    await expect(failing).rejects.toMatchObject({ code: 'STEP_FAILED', cause: original });
    expect(Object.keys(original)).toEqual([]);
  });

  it('rejects a retry policy whose longest delay is shorter than its first', () => {
    expect(() => new InProcessExecutor({ retry: { minDelayMs: 100, maxDelayMs: 10 } })).toThrow(/retry.maxDelayMs/);
  });
});
