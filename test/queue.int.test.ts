/**
 * Integration tests of tome on Redis + BullMQ, against a real Redis at 127.0.0.1:6379 (override with
 * TOME_TEST_REDIS_URL), with workers in their own processes (test/fixtures/queue-worker.ts). Every test uses its own
 * prefix `tome-test-<uuid>`; afterwards its workers are killed, its queues obliterated and any key left under the
 * prefix deleted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HumanMessage } from '@langchain/core/messages';
import { QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { bookSummary, documentFromText, getPipeline, resolveModel, TomeError, type TomeDocument } from 'tome';
import { DOCUMENT_QUEUE, modelCallQueue, TomeQueue, TomeWorker } from 'tome/queue';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import './fixtures/test-models.js';
import { mobyDickChapter } from './helpers/books.js';
import { deleteKeysWithPrefix } from './helpers/redis-cleanup.js';

const REDIS_URL = process.env.TOME_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = join(ROOT, 'test/fixtures/queue-worker.ts');
/** A worker process needs a few seconds to load tome from source (with --threads, in each thread too). */
const STARTUP_MS = 60_000;

/** A worker child process and everything it printed. */
class WorkerProcess {
  readonly lines: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.lines.push(line));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  count(line: string): number {
    return this.lines.filter((printed) => printed === line).length;
  }

  /** Wait until the worker printed `line` (rejects if it exits first or the deadline passes). */
  async printed(line: string, timeoutMs = STARTUP_MS): Promise<void> {
    await until(`worker ${this.child.pid} to print "${line}"`, async () => {
      if (this.lines.includes(line)) return true;
      if (this.exit) throw new Error(`worker ${this.child.pid} exited (${JSON.stringify(this.exit)}) before printing "${line}"; stderr:\n${this.stderr}`);
      return false;
    }, timeoutMs);
  }
}

/** Poll `probe` until it returns something other than false/undefined, or fail after `timeoutMs`. */
async function until<T>(what: string, probe: () => Promise<T | false | undefined>, timeoutMs: number, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== false && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

let prefix: string;
let queue: TomeQueue;
let workers: WorkerProcess[];
let specs: Set<string>;

beforeEach(async () => {
  prefix = `tome-test-${randomUUID()}`;
  workers = [];
  specs = new Set();
  queue = await TomeQueue.connect({ url: REDIS_URL, prefix });
});

afterEach(async () => {
  for (const worker of workers) if (!worker.exit) worker.child.kill('SIGKILL');
  await Promise.all(workers.map((worker) => worker.exited));
  // Open every queue this test used (the workers made some of them), so obliterate reaches them all.
  queue.queueFor(DOCUMENT_QUEUE);
  for (const spec of specs) queue.queueFor(modelCallQueue(spec));
  await queue.obliterate();
  await queue.close();
  await deleteKeysWithPrefix(REDIS_URL, prefix);
});

/** Start a worker process serving `spec`; resolves once it takes jobs (or, with --hold, once it is loaded). */
async function startWorker(spec: string, concurrency: number, ...flags: ('--log' | '--hold' | '--threads')[]): Promise<WorkerProcess> {
  specs.add(spec);
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', WORKER, REDIS_URL, prefix, spec, String(concurrency), ...flags], {
    cwd: ROOT,
    env: { ...process.env, TOME_DEBUG: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const worker = new WorkerProcess(child);
  workers.push(worker);
  await worker.printed(flags.includes('--hold') ? 'loaded' : 'ready');
  return worker;
}

/** Let a worker started with --hold take jobs. */
async function release(worker: WorkerProcess): Promise<void> {
  worker.child.stdin!.write('go\n');
  await worker.printed('ready');
}

function mobyChapters(...chapters: number[]): string {
  return chapters.map(mobyDickChapter).join('\n\n');
}

/** A finished summary without its timing: everything else must match exactly. */
function withoutTiming(result: unknown): unknown {
  const { elapsedMs, ...rest } = result as { elapsedMs: number };
  expect(elapsedMs).toBeTypeOf('number');
  return rest;
}

/** What the registered pipeline gives for `document` in this process, with a locally resolved model. */
async function inProcess(document: TomeDocument, pipeline: string, options: Record<string, string>, spec: string): Promise<unknown> {
  const model = await resolveModel(spec, { contextWindow: 8192 });
  return getPipeline(pipeline).create({ model, concurrency: 16 }, options).invoke(document);
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('distributed runs', () => {
  it('give byte-identical summaries to in-process runs, with calls spread over both workers', async () => {
    const text = mobyChapters(1, 2, 3, 4, 5);
    const expected = await bookSummary('hierarchical', { model: await resolveModel('extractive'), concurrency: 8 }, { chunkTokens: 512 }).invoke(text);

    const [first, second] = await Promise.all([startWorker('extractive', 2, '--log'), startWorker('extractive', 2, '--log')]);
    const remote = await queue.remoteModel('extractive');
    const distributed = await bookSummary('hierarchical', { model: remote, concurrency: 8 }, { chunkTokens: 512 }).invoke(text);

    expect(distributed.summary).toBe(expected.summary);
    expect(withoutTiming(distributed)).toEqual(withoutTiming(expected));
    expect(distributed.chunks).toBeGreaterThan(10);

    // Every call ran exactly once, and each worker answered some of them.
    const calls = queue.queueFor(modelCallQueue('extractive'));
    const completed = await calls.getCompletedCount();
    expect(completed).toBeGreaterThan(0);
    expect(completed).toBeLessThanOrEqual(distributed.modelCalls);
    await until('both workers to log every call they served', async () => first!.count('served') + second!.count('served') === completed, 5000);
    expect(first!.count('served')).toBeGreaterThan(0);
    expect(second!.count('served')).toBeGreaterThan(0);
    expect(await calls.getFailedCount()).toBe(0);
  }, 90_000);

  it('run model calls in worker threads: a model that blocks its event loop never stalls lock renewal', async () => {
    // Each call blocks for longer than the 2 s lock. On the worker's own thread the lock would lapse and the job be
    // stalled and re-run; in a sandbox thread the main thread keeps renewing it.
    const spec = 'blocking:2600';
    await startWorker(spec, 2, '--threads');
    const remote = await queue.remoteModel(spec);
    const replies = await Promise.all([1, 2].map((n) => remote.chatModel.invoke(`Call ${n}: the whale surfaced near the ship at dawn.`)));
    expect(replies.map((reply) => reply.response_metadata.engine)).toEqual(['extractive', 'extractive']);
    const calls = queue.queueFor(modelCallQueue(spec));
    const jobs = await calls.getJobs(['completed']);
    expect(jobs).toHaveLength(2);
    for (const job of jobs) {
      expect(job.attemptsMade).toBe(1);
      expect(job.stalledCounter ?? 0).toBe(0);
    }
  }, 90_000);

  it('survive a worker killed with SIGKILL in the middle of a document job', async () => {
    const spec = 'slow:200';
    const document = documentFromText(mobyChapters(1, 2, 3), 'moby-1-3.txt');
    const options = { chunkTokens: '400' };
    const expected = await inProcess(document, 'hierarchical-summary', options, spec);

    // Both load; only `doomed` takes jobs at first, so it is the one running the document job (and some calls).
    const [doomed, survivor] = await Promise.all([startWorker(spec, 2, '--hold'), startWorker(spec, 2, '--hold')]);
    await release(doomed!);
    const id = await queue.submitDocument(document, { pipeline: 'hierarchical-summary', options, model: spec });
    const documents = queue.queueFor(DOCUMENT_QUEUE);
    const calls = queue.queueFor(modelCallQueue(spec));
    await until('the document job to be active', async () => (await documents.getActiveCount()) === 1, 20_000);
    await until('a model call to be active', async () => (await calls.getActiveCount()) > 0, 20_000);
    await release(survivor!);
    expect(await documents.getActiveCount()).toBe(1);
    expect(await calls.getActiveCount()).toBeGreaterThan(0);
    doomed!.child.kill('SIGKILL');
    expect((await doomed!.exited).signal).toBe('SIGKILL');

    const result = await queue.getResult(id, { wait: true, timeoutMs: 60_000 });
    expect(withoutTiming(result)).toEqual(withoutTiming(expected));
    expect((await queue.getStatus(id)).state).toBe('completed');
    expect(await calls.getFailedCount()).toBe(0);
    expect(await documents.getFailedCount()).toBe(0);
    // The survivor found the dead worker's document job stalled and ran it again.
    expect((await documents.getJob(id))!.stalledCounter).toBe(1);
    expect(survivor!.exit).toBeUndefined();
  }, 90_000);

  it('run a document submitted twice once: same id, one job, same result', async () => {
    await startWorker('extractive', 4);
    const document = documentFromText(mobyChapters(1), 'chapter-1.txt');
    const submit = () => queue.submitDocument(document, { pipeline: 'hierarchical-summary', options: { chunkTokens: '512' } });
    const [first, second] = await Promise.all([submit(), submit()]);
    expect(second).toBe(first);
    const documents = queue.queueFor(DOCUMENT_QUEUE);
    const all = await documents.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'waiting-children']);
    expect(all.map((job) => job.id)).toEqual([first]);

    const [firstResult, secondResult] = await Promise.all([queue.getResult(first, { wait: true, timeoutMs: 30_000 }), queue.getResult(second, { wait: true, timeoutMs: 30_000 })]);
    expect(secondResult).toEqual(firstResult);
    expect((firstResult as { summary: string }).summary.length).toBeGreaterThan(0);
    // Submitted again once it is done: still the same job, not a new run.
    expect(await submit()).toBe(first);
    expect(await queue.getResult(first)).toEqual(firstResult);
    expect(Object.values(await documents.getJobCounts()).reduce((total, count) => total + count, 0)).toBe(1);
    // A different option is a different run.
    expect(await queue.submitDocument(document, { pipeline: 'hierarchical-summary', options: { chunkTokens: '400' } })).not.toBe(first);
  }, 60_000);
});

describe('failures', () => {
  it('fail a document with a poison segment, naming the step, while a clean document completes', async () => {
    const spec = 'failing:POISON';
    const worker = await startWorker(spec, 4);
    const paragraphs = mobyDickChapter(1).split(/\n\s*\n/);
    const poisoned = documentFromText([...paragraphs.slice(0, 8), 'POISON paragraph here.', ...paragraphs.slice(8)].join('\n\n'), 'poisoned.txt');
    const clean = documentFromText(mobyChapters(2), 'clean.txt');
    const options = { chunkTokens: '400' };
    const expectedClean = await inProcess(clean, 'hierarchical-summary', options, spec);

    const started = Date.now();
    const [poisonId, cleanId] = await Promise.all([
      queue.submitDocument(poisoned, { pipeline: 'hierarchical-summary', options, model: spec }),
      queue.submitDocument(clean, { pipeline: 'hierarchical-summary', options, model: spec }),
    ]);
    const [failure, cleanResult] = await Promise.all([rejectionOf(queue.getResult(poisonId, { wait: true, timeoutMs: 45_000 })), queue.getResult(cleanId, { wait: true, timeoutMs: 45_000 })]);
    const elapsedMs = Date.now() - started;

    expect(failure.message).toMatch(/step leaf-summaries\[\d+\] failed/);
    expect(failure.message).toContain('poison: the input contains "POISON"');
    expect(withoutTiming(cleanResult)).toEqual(withoutTiming(expectedClean));
    const status = await queue.getStatus(poisonId);
    expect(status.state).toBe('failed');
    expect(status.failedReason).toMatch(/leaf-summaries\[\d+\]/);
    // Retries on the workers, then of the document job, keep this well inside the test's deadline.
    expect(elapsedMs).toBeLessThan(30_000);
    // The failed call is kept for inspection; only that one call failed.
    expect(await queue.queueFor(modelCallQueue(spec)).getFailedCount()).toBe(1);
    expect(worker.exit).toBeUndefined();
  }, 60_000);

  it('fail a job naming an unknown pipeline at once, and keep serving', async () => {
    const worker = await startWorker('extractive', 2);
    const document = documentFromText(mobyChapters(5), 'chapter-5.txt');
    const unknown = await queue.submitDocument(document, { pipeline: 'no-such-pipeline' });
    const failure = await rejectionOf(queue.getResult(unknown, { wait: true, timeoutMs: 20_000 }));
    expect(failure.message).toContain('no pipeline named "no-such-pipeline"');
    expect(failure.message).toContain('hierarchical-summary'); // the fix lists the pipelines that exist
    const job = await queue.queueFor(DOCUMENT_QUEUE).getJob(unknown);
    expect(job!.attemptsMade).toBe(1);
    expect((await queue.getStatus(unknown)).failedReason).toContain('no pipeline named "no-such-pipeline"');

    const good = await queue.submitDocument(document, { pipeline: 'hierarchical-summary', options: { chunkTokens: '512' } });
    const result = (await queue.getResult(good, { wait: true, timeoutMs: 20_000 })) as { summary: string };
    expect(result.summary.length).toBeGreaterThan(0);
    expect(worker.exit).toBeUndefined();
  }, 60_000);

  it('report a failure that lands while the event reader is still starting (no lost finish event)', async () => {
    // A worker fails a bad job within milliseconds: after getResult found it unfinished, perhaps before its event
    // reader's first read reached Redis. Widen that window to 1.5 s and fail the job inside it, once the waiter has
    // subscribed and checked the job (one round trip after subscribing: 300 ms is ample).
    const originalRun = QueueEvents.prototype.run;
    const run = vi.spyOn(QueueEvents.prototype, 'run').mockImplementation(async function (this: QueueEvents) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return originalRun.call(this);
    });
    const failer = new Worker(DOCUMENT_QUEUE, async () => {
      throw new UnrecoverableError('bad document');
    }, { connection: { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) }, prefix, autorun: false });
    try {
      const id = await queue.submitDocument(documentFromText('Call me Ishmael.', 'short.txt'), { pipeline: 'no-such-pipeline' });
      const waiting = rejectionOf(queue.getResult(id, { wait: true, timeoutMs: 6000 }));
      const reader = await until('the event reader to be starting', async () => run.mock.contexts[0] as QueueEvents | undefined, 5000, 5);
      await until('the waiter to subscribe', async () => reader.listenerCount(`failed:${id}`) > 0, 5000, 5);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(run.mock.results[0]?.type).toBe('return'); // still starting: the spy's promise has not settled yet
      void failer.run();
      const failure = await waiting;
      expect(failure.message).toBe('bad document');
      expect((await queue.getStatus(id)).state).toBe('failed');
    } finally {
      run.mockRestore();
      await failer.close();
    }
  }, 30_000);

  it('fail a model-call job with garbage data without retrying it, and keep serving', async () => {
    const worker = await startWorker('extractive', 2);
    const calls = queue.queueFor(modelCallQueue('extractive'));
    // Asked for 3 attempts: bad input must fail on the first anyway.
    const garbage = await calls.add('call', { nonsense: true }, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
    await until('the garbage job to fail', async () => (await garbage.getState()) === 'failed', 20_000);
    const failed = await calls.getJob(garbage.id!);
    expect(failed!.attemptsMade).toBe(1);
    expect(failed!.failedReason).toContain('malformed model call');

    const remote = await queue.remoteModel('extractive');
    const reply = await remote.chatModel.invoke([new HumanMessage('The whale surfaced near the ship. The crew cheered loudly. Ahab watched in silence.')]);
    expect(reply.text.length).toBeGreaterThan(0);
    expect(reply.response_metadata.engine).toBe('extractive');
    expect(await calls.getCompletedCount()).toBe(1);
    expect(worker.exit).toBeUndefined();
  }, 60_000);
});

describe('worker lifecycle', () => {
  it('drains on SIGTERM: the call in flight completes and the process exits 0', async () => {
    const spec = 'slow:1500';
    const worker = await startWorker(spec, 1);
    const calls = queue.queueFor(modelCallQueue(spec));
    const remote = await queue.remoteModel(spec);
    const answer = remote.chatModel.invoke([new HumanMessage('Call me Ishmael. Some years ago I went to sea.')]);
    answer.catch(() => {});
    await until('the slow call to be active', async () => (await calls.getActiveCount()) === 1, 20_000);
    worker.child.kill('SIGTERM');

    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.lines).toContain('drained');
    const reply = await answer;
    expect(reply.text).toContain('Ishmael');
    const jobId = reply.response_metadata.queue_job as string;
    expect(await (await calls.getJob(jobId))!.getState()).toBe('completed');
    expect(await calls.getFailedCount()).toBe(0);
  }, 60_000);

  it('fails fast with QUEUE_UNAVAILABLE when Redis is unreachable, without the password', async () => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      TomeQueue.connect({ url: 'redis://user:s3cret@127.0.0.1:1' }).then(
        async (connected) => {
          await connected.close();
          return new Error('connected to 127.0.0.1:1?');
        },
        (error: unknown) => error,
      ),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still waiting after 10 s'), 10_000))),
    ]);
    clearTimeout(timer);
    expect(outcome).not.toBe('still waiting after 10 s');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(TomeError.is(outcome)).toBe(true);
    const error = outcome as TomeError;
    expect(error.code).toBe('QUEUE_UNAVAILABLE');
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).not.toContain('s3cret');
    expect(error.fix).not.toContain('s3cret');
  }, 20_000);
});

describe('documents as BullMQ flows', () => {
  let flowQueue: TomeQueue;
  const flowPrefix = `tome-test-flow-${randomUUID()}`;
  afterAll(async () => {
    await flowQueue?.obliterate();
    await flowQueue?.close();
  });

  it('a hierarchical summary is a parent job whose leaf calls are its children; it runs when they finish', async () => {
    flowQueue = await TomeQueue.connect({ url: REDIS_URL, prefix: flowPrefix });
    const document = documentFromText(mobyChapters(1, 2), 'moby-1-2.txt');
    const options = { chunkTokens: '400' };
    const id = await flowQueue.submitDocument(document, { pipeline: 'hierarchical-summary', options });
    // No worker yet: the parent waits for its children, one per leaf summary.
    expect((await flowQueue.getStatus(id)).state).toBe('waiting-children');
    const parent = (await flowQueue.queueFor(DOCUMENT_QUEUE).getJob(id))!;
    const dependencies = await parent.getDependenciesCount();
    const expected = (await inProcess(document, 'hierarchical-summary', options, 'extractive')) as { summary: string; chunks: number };
    expect(dependencies.unprocessed).toBe(expected.chunks);

    const worker = await TomeWorker.start({ connection: { url: REDIS_URL, prefix: flowPrefix }, model: await resolveModel('extractive'), concurrency: 4 });
    try {
      const result = (await flowQueue.getResult(id, { wait: true, timeoutMs: 60_000 })) as { summary: string };
      expect(result.summary).toBe(expected.summary);
      expect((await parent.getDependenciesCount()).processed).toBe(expected.chunks);
    } finally {
      await worker.close();
    }
  }, 90_000);
});
