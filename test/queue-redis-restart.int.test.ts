/**
 * Reliability: Redis restarted in the middle of a distributed run, with persistence on (AOF, fsync always). Work
 * resumes on the worker, and a producer already waiting on the document's result reconnects and gets it.
 *
 * Never touches the shared Redis on 6379: the test starts its own `redis-server` on a free port with a temporary
 * data directory, and stops (SIGTERM: it writes the AOF) and restarts that one. One worker process
 * (test/fixtures/queue-worker.ts) serves `slow:150` with concurrency 2, so the run lasts a few seconds and the
 * restart lands in its middle.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { bookSummary, documentFromText, resolveModel } from 'tome';
import { modelCallQueue, TomeQueue } from 'tome/queue';
import { afterEach, describe, expect, it } from 'vitest';
import './fixtures/test-models.js';
import { mobyDickChapter } from './helpers/books.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = join(ROOT, 'test/fixtures/queue-worker.ts');
const SPEC = 'slow:150';
const PREFIX = 'tome-restart-test';
/** Model-call jobs completed before Redis is stopped (the whole run makes about 60). */
const CALLS_BEFORE_RESTART = 5;

/** A child process and everything it printed. */
class Child {
  readonly lines: string[] = [];
  output = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.output += `${line}\n`;
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  /** Stop it (if still running) and wait for it to exit; SIGKILL if `signal` does not end it within `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGKILL', graceMs = 5000): Promise<void> {
    if (this.exit) return;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([this.exited.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
    clearTimeout(timer);
    if (!exited) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** Poll `probe` until it returns true, or fail after `timeoutMs`. */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A TCP port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error(`unexpected server address ${String(address)}`);
  return address.port;
}

function redisCliPing(port: number): Promise<string> {
  return new Promise((resolve) => execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'], { timeout: 2000 }, (_error, stdout) => resolve(String(stdout).trim())));
}

/** A private redis-server with an append-only file in `dir`, not daemonized; resolves once it answers PONG. */
async function startRedis(port: number, dir: string): Promise<Child> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--save', ''];
  const redis = new Child(`redis-server :${port}`, spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    await until(`redis-server on port ${port} to answer PONG`, async () => {
      if (redis.exit) throw new Error(`redis-server exited (${JSON.stringify(redis.exit)}):\n${redis.output}`);
      return (await redisCliPing(port)) === 'PONG';
    }, 10_000, 50);
  } catch (error) {
    await redis.stop('SIGKILL'); // never left running untracked
    throw error;
  }
  return redis;
}

let dir: string | undefined;
let redis: Child | undefined;
let worker: Child | undefined;
let queue: TomeQueue | undefined;
let probe: Redis | undefined;

afterEach(async () => {
  probe?.disconnect();
  probe = undefined;
  // Close the producer while Redis still runs (its close would otherwise wait on a reconnect that never comes).
  if (queue) {
    const closing = queue.close().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closing, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
    queue = undefined;
  }
  await worker?.stop('SIGKILL');
  worker = undefined;
  await redis?.stop('SIGKILL');
  redis = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
}, 30_000);

describe('Redis restarted mid-run, with persistence on', () => {
  it('work resumes, and a producer waiting on the result reconnects and gets the in-process summary', async () => {
    const text = [1, 2, 3, 4, 5].map(mobyDickChapter).join('\n\n');
    const expected = await bookSummary('hierarchical', { model: await resolveModel(SPEC, { contextWindow: 8192 }), concurrency: 16 }, { chunkTokens: 400 }).invoke(text);
    expect(expected.modelCalls).toBeGreaterThan(CALLS_BEFORE_RESTART * 4);

    dir = await mkdtemp(join(tmpdir(), 'tome-redis-restart-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    redis = await startRedis(port, dir);

    worker = new Child('worker', spawn(process.execPath, ['--conditions=source', '--import', 'tsx', WORKER, url, PREFIX, SPEC, '2'], {
      cwd: ROOT,
      env: { ...process.env, TOME_DEBUG: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    }));
    const started = worker;
    await until('the worker to print "ready"', async () => {
      if (started.exit) throw new Error(`worker exited (${JSON.stringify(started.exit)}) before it was ready:\n${started.output}`);
      return started.lines.includes('ready');
    }, 30_000);

    queue = await TomeQueue.connect({ url, prefix: PREFIX });
    const id = await queue.submitDocument(documentFromText(text, 'moby-1-5.txt'), { pipeline: 'hierarchical-summary', options: { chunkTokens: '400' }, model: SPEC });
    let settled = false;
    const result = queue.getResult(id, { wait: true, timeoutMs: 90_000 }).finally(() => (settled = true));
    result.catch(() => {}); // awaited below; never an unhandled rejection meanwhile

    // A separate, short-lived client watches the calls queue; it is gone before Redis stops.
    probe = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    const client = probe;
    const completedKey = `${PREFIX}:${modelCallQueue(SPEC)}:completed`;
    await until(`${CALLS_BEFORE_RESTART} model calls to complete`, async () => (await client.zcard(completedKey)) >= CALLS_BEFORE_RESTART, 30_000);
    const completedBeforeRestart = await client.zcard(completedKey);
    await client.quit();
    probe = undefined;
    expect(settled, 'the document finished before Redis was stopped: the restart proves nothing').toBe(false);

    // Stop Redis the polite way (it writes the AOF), leave it down a moment, start it again on the same port and dir.
    const stopped = redis;
    stopped.child.kill('SIGTERM');
    expect(await stopped.exited).toEqual({ code: 0, signal: null });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(settled).toBe(false);
    redis = await startRedis(port, dir);

    const summary = (await result) as typeof expected;
    expect(summary.summary).toBe(expected.summary);
    const { elapsedMs: _remoteMs, ...remoteRest } = summary;
    const { elapsedMs: _localMs, ...localRest } = expected;
    expect(remoteRest).toEqual(localRest);
    expect((await queue.getStatus(id)).state).toBe('completed');
    expect(await queue.queueFor(modelCallQueue(SPEC)).getFailedCount()).toBe(0);

    // The calls finished before the restart survived it (the AOF kept them), and the worker rode it out.
    const after = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    probe = after;
    expect(await after.zcard(completedKey)).toBeGreaterThanOrEqual(completedBeforeRestart);
    await after.quit();
    probe = undefined;
    expect(worker.exit, `the worker died:\n${worker.output}`).toBeUndefined();
  }, 120_000);
});
