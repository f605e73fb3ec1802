/**
 * A hierarchical summary on the Redis executor is one BullMQ flow: leaf summaries are the children of the level-1
 * step, each level's step the child of the next, the root the top level. Against the real Redis at 127.0.0.1:6379
 * (TOME_TEST_REDIS_URL), under a prefix of its own, with workers in their own processes
 * (test/fixtures/queue-worker.ts); afterwards the workers are killed, the queues obliterated and every key under
 * the prefix deleted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Job } from 'bullmq';
import { bookSummary, resolveModel, StepFailedError, type SummaryResult } from 'tome';
import { DOCUMENT_QUEUE, modelCallQueue, RedisExecutor, TASK_QUEUE, TomeQueue } from 'tome/queue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import './fixtures/test-models.js';
import { mobyDickChapter } from './helpers/books.js';
import { deleteKeysWithPrefix } from './helpers/redis-cleanup.js';

const REDIS_URL = process.env.TOME_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = join(ROOT, 'test/fixtures/queue-worker.ts');

let prefix: string;
let queue: TomeQueue;
let children: ChildProcess[];
let specs: Set<string>;

beforeEach(async () => {
  prefix = `tome-test-flow-${randomUUID()}`;
  children = [];
  specs = new Set();
  queue = await TomeQueue.connect({ url: REDIS_URL, prefix });
});

afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(children.map((child) => (child.exitCode !== null || child.signalCode !== null ? undefined : new Promise((resolve) => child.once('exit', resolve)))));
  queue.queueFor(DOCUMENT_QUEUE);
  queue.queueFor(TASK_QUEUE);
  for (const spec of specs) queue.queueFor(modelCallQueue(spec));
  await queue.obliterate();
  await queue.close();
  await deleteKeysWithPrefix(REDIS_URL, prefix);
});

/** A worker process serving `spec` (model calls, task steps and documents); resolves once it takes jobs. */
async function startWorker(spec: string, concurrency: number): Promise<ChildProcess> {
  specs.add(spec);
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', WORKER, REDIS_URL, prefix, spec, String(concurrency)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line === 'ready' && resolve());
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${signal ?? code}) before ready: ${stderr}`)));
  });
  return child;
}

function withoutTiming(result: SummaryResult): Omit<SummaryResult, 'elapsedMs'> {
  const { elapsedMs, ...rest } = result;
  expect(elapsedMs).toBeTypeOf('number');
  return rest;
}

const TEXT = [1, 2, 3, 4, 5, 6].map(mobyDickChapter).join('\n\n');
/** A small window and short chunks: many leaves, and more than one merge level. */
const WINDOW = 2048;
const OPTIONS = { chunkTokens: 384, summaryTokens: 300 };

async function allTaskJobs(): Promise<Job[]> {
  return queue.queueFor(TASK_QUEUE).getJobs(['completed', 'failed', 'active', 'waiting', 'waiting-children', 'delayed', 'prioritized']);
}

describe('hierarchical summary as a BullMQ flow (RedisExecutor)', () => {
  it('is byte-identical to the in-process run; leaves are children of the level-1 step, each level the child of the next', async () => {
    const expected = await bookSummary('hierarchical', { model: await resolveModel('extractive', { contextWindow: WINDOW }), concurrency: 8 }, OPTIONS).invoke(TEXT);
    expect(expected.levels).toBeGreaterThanOrEqual(3); // leaves + at least two merge levels

    await Promise.all([startWorker('extractive', 4), startWorker('extractive', 4)]);
    const executor = new RedisExecutor(queue);
    const progress: string[] = [];
    const pipeline = bookSummary('hierarchical', { model: await queue.remoteModel('extractive', WINDOW), executor, concurrency: 8 }, OPTIONS);
    let distributed: SummaryResult | undefined;
    const events = pipeline.streamProgress(TEXT);
    for (let next = await events.next(); ; next = await events.next()) {
      if (next.done) {
        distributed = next.value;
        break;
      }
      if (next.value.type === 'step-end') progress.push(next.value.stage);
    }

    expect(distributed.summary).toBe(expected.summary);
    expect(withoutTiming(distributed)).toEqual(withoutTiming(expected));

    // The flow's shape, read back from Redis.
    const jobs = await allTaskJobs();
    const leaves = jobs.filter((job) => job.name === 'hierarchical-summary/leaf');
    const levels = jobs.filter((job) => job.name === 'hierarchical-summary/merge-level').sort((a, b) => (a.data.input as { level: number }).level - (b.data.input as { level: number }).level);
    expect(leaves).toHaveLength(expected.chunks);
    const plannedLevels = levels.length;
    expect(plannedLevels).toBeGreaterThanOrEqual(expected.levels - 1);
    const keyOf = (job: Job) => `${prefix}:${TASK_QUEUE}:${job.id}`;
    for (const leaf of leaves) expect(leaf.parentKey).toBe(keyOf(levels[0]!));
    for (let level = 1; level < plannedLevels; level++) expect(levels[level - 1]!.parentKey).toBe(keyOf(levels[level]!));
    expect(levels.at(-1)!.parentKey).toBeUndefined();
    // Every parent's children are all recorded as processed (BullMQ moves a parent to wait only then); each step
    // ran once and nothing failed. (Timestamps of different processes cannot order this: each worker stamps its
    // own moveToActive before blocking for a job.)
    expect(await levels[0]!.getDependenciesCount()).toMatchObject({ processed: expected.chunks, unprocessed: 0 });
    for (let level = 1; level < plannedLevels; level++) expect(await levels[level]!.getDependenciesCount()).toMatchObject({ processed: 1, unprocessed: 0 });
    for (const job of jobs) {
      expect(await job.getState()).toBe('completed');
      expect(job.attemptsMade).toBe(1);
    }
    // The merges' model calls went to the model's queue (the workers serve an 8,192-token extractive; the steps
    // asked for a 2,048-token one, so they could not use their own).
    expect(await queue.queueFor(modelCallQueue('extractive')).getCompletedCount()).toBe(expected.modelCalls);
    // Progress: one step-end per leaf and per level step.
    expect(progress.filter((stage) => stage === 'leaf-summaries')).toHaveLength(expected.chunks);
    expect(progress.filter((stage) => stage === 'merge')).toHaveLength(plannedLevels);

    // The same summary asked again is the same flow: answered from Redis, no step runs again.
    const again = await bookSummary('hierarchical', { model: await queue.remoteModel('extractive', WINDOW), executor, concurrency: 8 }, OPTIONS).invoke(TEXT);
    expect(withoutTiming(again)).toEqual(withoutTiming(expected));
    const rerun = await allTaskJobs();
    expect(rerun).toHaveLength(jobs.length);
    for (const job of rerun) expect(job.attemptsMade).toBe(1);
  }, 120_000);

  it('a poison leaf fails the flow up to the root, naming the leaf step and its error', async () => {
    const spec = 'failing:POISON';
    await startWorker(spec, 4);
    const paragraphs = mobyDickChapter(1).split(/\n\s*\n/);
    const poisoned = [...paragraphs.slice(0, 8), 'POISON paragraph here.', ...paragraphs.slice(8)].join('\n\n');
    const executor = new RedisExecutor(queue);
    const run = bookSummary('hierarchical', { model: await queue.remoteModel(spec, WINDOW), executor }, OPTIONS).invoke(poisoned);
    const error = await run.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(StepFailedError);
    expect((error as StepFailedError).step).toMatch(/^hierarchical-summary\/leaf\[\d+\]$/);
    expect((error as Error).message).toContain('poison: the input contains "POISON"');
    const jobs = await allTaskJobs();
    const failedLeaves = [];
    for (const job of jobs) if (job.name === 'hierarchical-summary/leaf' && (await job.getState()) === 'failed') failedLeaves.push(job);
    expect(failedLeaves).toHaveLength(1);
    // A leaf whose model call failed for good is not retried as a step: one attempt.
    expect(failedLeaves[0]!.attemptsMade).toBe(1);
    const roots = jobs.filter((job) => job.parentKey === undefined);
    expect(roots).toHaveLength(1);
    expect(await roots[0]!.getState()).toBe('failed');
  }, 90_000);
});
