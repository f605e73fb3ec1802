/**
 * RedisExecutor.map against the real Redis at 127.0.0.1:6379 (TOME_TEST_REDIS_URL), under a prefix of its own:
 * the Executor contract (input order, concurrency, retries, first failure, abort, events) with steps of registered
 * tasks run by a TomeWorker, and a job naming a task its worker never registered. Queues are obliterated and every
 * key under the prefix deleted afterwards.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AbortedError, InvalidOptionError, resolveModel, StepFailedError, type StepEvent } from 'tome';
import { DOCUMENT_QUEUE, modelCallQueue, RedisExecutor, registerTask, TASK_QUEUE, TaskNotFoundError, TomeQueue, TomeWorker, type FlowNode } from 'tome/queue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix } from './helpers/redis-cleanup.js';

const REDIS_URL = process.env.TOME_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What the worker side of each test task did, by run id (each test uses its own). */
const runs = new Map<string, { started: number; active: number; maxActive: number; attempts: Map<number, number> }>();
function record(run: string) {
  let entry = runs.get(run);
  if (!entry) runs.set(run, (entry = { started: 0, active: 0, maxActive: 0, attempts: new Map() }));
  return entry;
}

interface Step {
  readonly run: string;
  readonly value: number;
  /** ms the step takes. */
  readonly ms?: number;
  /** Fail this many attempts with a transient error first. */
  readonly transientFailures?: number;
  /** Fail with a plain (non-transient) error. */
  readonly poison?: boolean;
}

const square = registerTask<Step, { squared: number; attempt: number; index: number; spec: string }>({
  name: 'test/square',
  async run(input, context) {
    const entry = record(input.run);
    entry.started++;
    entry.active++;
    entry.maxActive = Math.max(entry.maxActive, entry.active);
    entry.attempts.set(context.index, context.attempt);
    try {
      if (input.ms) await delay(input.ms);
      if (input.poison) throw new Error(`poison step ${input.value}`);
      if (context.attempt <= (input.transientFailures ?? 0)) throw Object.assign(new Error(`overloaded (attempt ${context.attempt})`), { status: 503 });
      const model = await context.model('extractive', 8192);
      return { squared: input.value * input.value, attempt: context.attempt, index: context.index, spec: model.spec };
    } finally {
      entry.active--;
    }
  },
});

const leafValue = registerTask<{ run: string; value: number }, number>({
  name: 'test/leaf-value',
  async run(input) {
    record(input.run).started++;
    return input.value;
  },
});

const sumChildren = registerTask<{ offset: number }, number>({
  name: 'test/sum-children',
  async run(input, context) {
    return (context.childrenValues as number[]).reduce((total, value) => total + value, input.offset);
  },
});

let prefix: string;
let queue: TomeQueue;
let worker: TomeWorker | undefined;

beforeEach(async () => {
  prefix = `tome-test-executor-${randomUUID()}`;
  queue = await TomeQueue.connect({ url: REDIS_URL, prefix });
});

afterEach(async () => {
  await worker?.close();
  worker = undefined;
  queue.queueFor(TASK_QUEUE);
  queue.queueFor(DOCUMENT_QUEUE);
  queue.queueFor(modelCallQueue('extractive'));
  await queue.obliterate();
  await queue.close();
  await deleteKeysWithPrefix(REDIS_URL, prefix);
});

async function startWorker(concurrency = 8): Promise<void> {
  worker = await TomeWorker.start({ connection: { url: REDIS_URL, prefix }, model: await resolveModel('extractive'), concurrency, documents: false });
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('RedisExecutor.map', () => {
  it('runs each step as a job on the workers; results in input order, not finishing order, with step events', async () => {
    await startWorker(8);
    const run = randomUUID();
    const inputs: Step[] = [40, 5, 25, 0, 15].map((ms, value) => ({ run, value, ms }));
    const events: StepEvent[] = [];
    const results = await new RedisExecutor(queue).map(square, inputs, { concurrency: 5, onEvent: (event) => events.push(event) });

    expect(results).toEqual(inputs.map((input, index) => ({ squared: input.value ** 2, attempt: 1, index, spec: 'extractive' })));
    const tasks = queue.queueFor(TASK_QUEUE);
    expect(await tasks.getCompletedCount()).toBe(5);
    expect(record(run).started).toBe(5);
    for (let index = 0; index < 5; index++) {
      expect(events.filter((event) => event.index === index).map((event) => `${event.type}:${event.attempt}`)).toEqual(['step-start:1', 'step-end:1']);
    }
    expect(events.every((event) => event.task === 'test/square')).toBe(true);
  }, 30_000);

  it('keeps at most `concurrency` steps queued at once, whatever the workers could take', async () => {
    await startWorker(16);
    const run = randomUUID();
    await new RedisExecutor(queue).map(square, Array.from({ length: 8 }, (_, value) => ({ run, value, ms: 30 })), { concurrency: 2 });
    expect(record(run).started).toBe(8);
    expect(record(run).maxActive).toBe(2);
  }, 30_000);

  it('retries transient failures on the workers with back-off, reporting each retry', async () => {
    await startWorker(4);
    const run = randomUUID();
    const events: StepEvent[] = [];
    const results = await new RedisExecutor(queue).map(square, [{ run, value: 3 }, { run, value: 4, transientFailures: 2 }], { retry: { retries: 3, minDelayMs: 20 }, onEvent: (event) => events.push(event) });
    expect(results.map((result) => [result.squared, result.attempt])).toEqual([[9, 1], [16, 3]]);
    const second = events.filter((event) => event.index === 1);
    expect(second.filter((event) => event.type === 'step-start').map((event) => event.attempt)).toEqual([1, 2, 3]);
    await expect.poll(() => events.filter((event) => event.index === 1 && event.type === 'step-retry').map((event) => (event as { error: string }).error)).toEqual(['overloaded (attempt 1)', 'overloaded (attempt 2)']);
    expect(second.at(-1)).toMatchObject({ type: 'step-end', attempt: 3 });
  }, 30_000);

  it('rejects with the first non-retryable failure, naming the step; steps not yet queued never run', async () => {
    await startWorker(4);
    const run = randomUUID();
    const inputs: Step[] = [{ run, value: 0 }, { run, value: 1, poison: true }, { run, value: 2 }, { run, value: 3 }];
    const error = await rejectionOf(new RedisExecutor(queue).map(square, inputs, { concurrency: 1 }));
    expect(error).toBeInstanceOf(StepFailedError);
    expect((error as StepFailedError).step).toBe('test/square[1]');
    expect((error as StepFailedError).attempts).toBe(1);
    expect((error as Error).message).toContain('poison step 1');
    expect(record(run).started).toBe(2);
    const tasks = queue.queueFor(TASK_QUEUE);
    expect(await tasks.getFailedCount()).toBe(1);
    expect(await tasks.getCompletedCount()).toBe(1);
  }, 30_000);

  it('aborts: stops waiting, removes the steps no worker took, rejects with AbortedError', async () => {
    await startWorker(1);
    const run = randomUUID();
    const controller = new AbortController();
    const running = new RedisExecutor(queue).map(square, [0, 1, 2, 3].map((value) => ({ run, value, ms: 400 })), { concurrency: 4, signal: controller.signal });
    await expect.poll(() => record(run).started, { timeout: 10_000 }).toBe(1);
    controller.abort(new Error('user pressed Ctrl-C'));
    const error = await rejectionOf(running);
    expect(error).toBeInstanceOf(AbortedError);
    const tasks = queue.queueFor(TASK_QUEUE);
    expect(await tasks.getWaitingCount()).toBe(0);
    await delay(600);
    expect(record(run).started).toBe(1);
  }, 30_000);

  it('answers a step asked again from its finished job (same id): the task does not run twice', async () => {
    await startWorker(4);
    const run = randomUUID();
    const executor = new RedisExecutor(queue);
    const inputs = [{ run, value: 7 }, { run, value: 8 }];
    const first = await executor.map(square, inputs);
    const events: StepEvent[] = [];
    const second = await executor.map(square, inputs, { onEvent: (event) => events.push(event) });
    expect(second).toEqual(first);
    expect(record(run).started).toBe(2);
    expect(events.map((event) => `${event.type}:${event.index}:${event.attempt}`).sort()).toEqual(['step-end:0:0', 'step-end:1:0']);
  }, 30_000);

  it('runs a closure task (not registered) here, without queuing anything', async () => {
    const executor = new RedisExecutor(queue);
    const results = await executor.map({ name: 'closure', run: async (input: number) => input + 1 }, [1, 2, 3]);
    expect(results).toEqual([2, 3, 4]);
    expect(await queue.queueFor(TASK_QUEUE).count()).toBe(0);
  });

  it('refuses a custom shouldRetry (a function cannot travel to the workers)', async () => {
    const error = await rejectionOf(new RedisExecutor(queue).map(square, [{ run: 'x', value: 1 }], { retry: { shouldRetry: () => true } }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(await queue.queueFor(TASK_QUEUE).count()).toBe(0);
  });

  it("fails a step whose task the worker never registered with TaskNotFoundError, at once, and the worker keeps serving", async () => {
    // A worker in its own process: it registers tome's pipeline tasks, not this file's test/square.
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'test/fixtures/queue-worker.ts'), REDIS_URL, prefix, 'extractive', '2'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => line === 'ready' && resolve());
        child.once('exit', (code) => reject(new Error(`worker exited (${code})`)));
      });
      const error = await rejectionOf(new RedisExecutor(queue).map(square, [{ run: randomUUID(), value: 2 }], { retry: { retries: 3, minDelayMs: 10 } }));
      expect(error).toBeInstanceOf(TaskNotFoundError);
      expect((error as TaskNotFoundError).code).toBe('PIPELINE_NOT_FOUND');
      expect((error as TaskNotFoundError).taskName).toBe('test/square');
      expect((error as Error).message).toBe('no task named "test/square" is registered on the worker');
      expect((error as TaskNotFoundError).fix).toContain('hierarchical-summary/leaf'); // what that worker does have
      const [failed] = await queue.queueFor(TASK_QUEUE).getFailed();
      expect(failed!.attemptsMade).toBe(1);
      // Still serving: a model call through it is answered.
      const reply = await (await queue.remoteModel('extractive')).chatModel.invoke('The whale surfaced near the ship. The crew cheered. Ahab watched.');
      expect(reply.text.length).toBeGreaterThan(0);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    }
  }, 60_000);
});

describe('RedisExecutor.runFlow', () => {
  /** `sum(offset)` over leaves of the given values. */
  function tree(run: string, offset: number, values: number[]): FlowNode {
    return { task: sumChildren as never, input: { offset }, children: values.map((value) => ({ task: leafValue as never, input: { run, value } })) };
  }

  it('runs a tree whose step also belongs to another finished tree: each parent gets all its children, none waits forever', async () => {
    await startWorker(4);
    const run = randomUUID();
    const executor = new RedisExecutor(queue);
    const within = <T>(promise: Promise<T>) => Promise.race([promise, delay(15_000).then(() => Promise.reject(new Error('flow still waiting after 15 s')))]);
    expect(await within(executor.runFlow<number>(tree(run, 0, [1, 2])))).toBe(3);
    // Leaf {value 1} again, under other parents: a new tree in which it has a place of its own.
    expect(await within(executor.runFlow<number>(tree(run, 100, [1, 3])))).toBe(104);
    expect(await within(executor.runFlow<number>(tree(run, 1000, [1])))).toBe(1001);
    // The same tree asked again is answered from Redis: no step runs again.
    const started = record(run).started;
    expect(await within(executor.runFlow<number>(tree(run, 100, [1, 3])))).toBe(104);
    expect(record(run).started).toBe(started);
    const jobs = await queue.queueFor(TASK_QUEUE).getJobs(['completed', 'failed', 'waiting-children', 'waiting', 'active']);
    expect(jobs.filter((job) => job.name === 'test/sum-children')).toHaveLength(3);
    for (const job of jobs) expect(await job.getState()).toBe('completed');
  }, 60_000);
});
