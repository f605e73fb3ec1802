/**
 * tome on Redis: what the queue costs and what workers buy. Needs a Redis (TOME_BENCH_REDIS_URL, default
 * redis://127.0.0.1:6379); each part runs under its own random key prefix (`{tome-bench-…}`) and obliterates it.
 *
 *   npx tsx --conditions=source bench/queue.ts
 *
 * 1. Raw BullMQ: jobs/s for trivial jobs on this machine (addBulk, one Worker at concurrency 16), and the round trip
 *    of one job at a time (add, waitUntilFinished): the floor under anything built on BullMQ here.
 * 2. tome's per-call overhead: model calls through `TomeQueue.remoteModel` to an in-process TomeWorker serving a
 *    model that answers at once, against the same calls on that model directly; one at a time and 16 in flight.
 *    Also the Redis commands per sequential call (producer and worker, counted client-side): unlike the times, a
 *    count that the machine's load does not move.
 * 2b. tome's per-step overhead on the Redis executor: `RedisExecutor.map` of a registered task that returns at
 *    once (each step a job on the `tasks` queue, run by an in-process TomeWorker), against `InProcessExecutor.map` of
 *    the same task; one step at a time and 16 in flight. This is the per-segment cost of a distributed map.
 * 3. Worker scaling: 64 concurrent calls to a model whose every call takes 50 ms, served by 1, 2 and 4 worker
 *    processes (bench/queue-worker-process.ts) at concurrency 1 each.
 *
 * Job ids are content hashes, so every call here carries its own text (phase and call number): identical calls
 * would be answered once and measure nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { HumanMessage } from '@langchain/core/messages';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { resolveModel } from '../src/models/model-spec.js';
import { InProcessExecutor } from '../src/executor/in-process-executor.js';
import { registerTask } from '../src/executor/task-registry.js';
import type { Executor } from '../src/executor/executor.js';
import { RedisExecutor } from '../src/queue/redis-executor.js';
import { resolveConnection } from '../src/queue/connection.js';
import { DOCUMENT_QUEUE, modelCallQueue, TASK_QUEUE } from '../src/queue/queue-names.js';
import { TomeQueue } from '../src/queue/tome-queue.js';
import { TomeWorker } from '../src/queue/tome-worker.js';
import { InstantChatModel } from './instant-chat-model.js';
import { registerBenchProviders } from './queue-worker-process.js';
import { median } from '../inference/median.js';

const REDIS_URL = process.env.TOME_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REPEATS = Number(process.env.TOME_BENCH_REPEATS ?? 3);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The per-call overhead tome aims for on top of the model's own time. */
const TARGET_OVERHEAD_MS = 2;


async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

const round = (value: number, digits = 3) => +value.toFixed(digits);

/** A fresh prefix per part: a Redis Cluster hash tag, like tome's default `{tome}`. */
function benchPrefix(part: string): string {
  return `{tome-bench-${part}-${randomUUID().slice(0, 8)}}`;
}

/** Fail rather than hang when a completion never comes. */
function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no completion within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Obliterate every queue a part's workers may have opened (a worker opens `tasks` and its model's calls queue). */
async function obliterateAll(queue: TomeQueue, specs: readonly string[]): Promise<void> {
  queue.queueFor(DOCUMENT_QUEUE);
  queue.queueFor(TASK_QUEUE);
  for (const spec of specs) queue.queueFor(modelCallQueue(spec));
  await queue.obliterate();
}

/** Keys still under `prefix` after the part's own clean-up: counted for the report, then deleted. */
async function sweep(prefix: string): Promise<number> {
  const redis = resolveConnection({ url: REDIS_URL, prefix }).connect();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length > 0) await redis.del(...keys);
    return keys.length;
  } finally {
    redis.disconnect();
  }
}

/** 1. Raw BullMQ on this machine, no tome in the path. */
async function rawBullmq(jobs = 5000, concurrency = 16, sequentialJobs = 300) {
  const prefix = benchPrefix('raw');
  const connection = resolveConnection({ url: REDIS_URL, prefix });
  // BullMQ does not close connections it was handed: keep them here and disconnect them at the end.
  const clients = [connection.connect(), connection.connect(), connection.connect()] as const;
  const queue = new Queue('raw', { connection: clients[0], prefix });
  const events = new QueueEvents('raw', { connection: clients[1], prefix });
  let completed = 0;
  let allDone: () => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const done = new Promise<void>((resolveDone, rejectDone) => {
    allDone = resolveDone;
    failed = rejectDone;
  });
  done.catch(() => undefined); // a failure before anyone awaits `done` is reported by the await, not as unhandled
  const worker = new Worker('raw', async () => 'ok', { connection: clients[2], prefix, concurrency });
  worker.on('completed', () => {
    if (++completed === jobs) allDone();
  });
  worker.on('failed', (_job, error) => failed(error));
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);

    const bulk = await timed(async () => {
      const { ms: addBulkMs } = await timed(() => queue.addBulk(Array.from({ length: jobs }, (_, index) => ({ name: 'trivial', data: { index }, opts: { removeOnComplete: true } }))));
      await deadline(done, 60_000, 'raw BullMQ bulk');
      return addBulkMs;
    });

    // One job at a time, the way a sequential model call uses the queue: add, then wait for its completion event.
    for (let index = 0; index < 20; index++) await (await queue.add('warm', { index })).waitUntilFinished(events, 10_000);
    const sequential = await timed(async () => {
      for (let index = 0; index < sequentialJobs; index++) await (await queue.add('one', { index })).waitUntilFinished(events, 10_000);
    });

    return {
      prefix,
      jobs,
      concurrency,
      ms: Math.round(bulk.ms),
      addBulkMs: Math.round(bulk.value),
      jobsPerSecond: Math.round(jobs / (bulk.ms / 1000)),
      msPerJob: round(bulk.ms / jobs),
      sequential: { jobs: sequentialJobs, msPerJob: round(sequential.ms / sequentialJobs) },
    };
  } finally {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
    for (const client of clients) client.disconnect();
  }
}

/** `count` calls, each with its own text, `inFlight` at a time (1: strictly sequential). */
async function callMany(model: BaseChatModel, label: string, count: number, inFlight: number): Promise<number> {
  const started = performance.now();
  for (let first = 0; first < count; first += inFlight) {
    const batch = Array.from({ length: Math.min(inFlight, count - first) }, (_, offset) => model.invoke([new HumanMessage(`${label} call ${first + offset}: what became of the Pequod?`)]));
    await Promise.all(batch);
  }
  return performance.now() - started;
}

/**
 * Redis commands sent by this process (producer and in-process worker together) while `work` runs: a count that,
 * unlike wall-clock time, does not move with the machine's load. Includes the blocking reads each event wakes.
 */
async function redisCommands(work: () => Promise<unknown>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const original = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function (this: Redis, command: { name: string }, ...rest: unknown[]) {
    counts[command.name] = (counts[command.name] ?? 0) + 1;
    return (original as (...args: unknown[]) => unknown).call(this, command, ...rest);
  } as typeof original;
  try {
    await work();
  } finally {
    Redis.prototype.sendCommand = original;
  }
  return counts;
}

/** 2. tome's per-call queue overhead, against an in-process worker serving a model that answers at once. */
async function perCallOverhead(calls = 300, inFlight = 16) {
  const prefix = benchPrefix('overhead');
  const spec = 'bench-instant:0';
  registerBenchProviders();
  const served = await resolveModel(spec);
  const worker = await TomeWorker.start({ connection: { url: REDIS_URL, prefix }, model: served, concurrency: inFlight, documents: false });
  const queue = await TomeQueue.connect({ url: REDIS_URL, prefix });
  try {
    const remote = (await queue.remoteModel(spec)).chatModel;
    const direct = new InstantChatModel();
    const runs: Record<'directSequential' | 'remoteSequential' | 'directParallel' | 'remoteParallel', number[]> = { directSequential: [], remoteSequential: [], directParallel: [], remoteParallel: [] };
    await callMany(remote, 'warm-up', 50, 1);
    await callMany(direct, 'warm-up', 50, 1);
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      runs.directSequential.push(await callMany(direct, `direct-seq-${repeat}`, calls, 1));
      runs.remoteSequential.push(await callMany(remote, `remote-seq-${repeat}`, calls, 1));
      runs.directParallel.push(await callMany(direct, `direct-par-${repeat}`, calls, inFlight));
      runs.remoteParallel.push(await callMany(remote, `remote-par-${repeat}`, calls, inFlight));
    }
    const counted = 100;
    const commands = await redisCommands(() => callMany(remote, 'counted', counted, 1));
    const workerCalls = (served.chatModel as InstantChatModel).calls;
    const expectedWorkerCalls = 50 + REPEATS * 2 * calls + counted;
    const perCall = (key: keyof typeof runs) => median(runs[key]) / calls;
    const sequential = { direct: perCall('directSequential'), remote: perCall('remoteSequential') };
    const parallel = { direct: perCall('directParallel'), remote: perCall('remoteParallel') };
    return {
      prefix,
      spec,
      calls,
      repeats: REPEATS,
      workerConcurrency: inFlight,
      workerCalls,
      everyCallRanOnTheWorker: workerCalls === expectedWorkerCalls,
      /** Redis commands per sequential call (producer + worker): `evalsha` are BullMQ's scripts (add, take, finish). */
      redisCommandsPerCall: Object.fromEntries(Object.entries(commands).map(([name, count]) => [name, round(count / counted, 2)])),
      sequential: {
        directMsPerCall: round(sequential.direct),
        remoteMsPerCall: round(sequential.remote),
        overheadMsPerCall: round(sequential.remote - sequential.direct),
        targetMs: TARGET_OVERHEAD_MS,
        meetsTarget: sequential.remote - sequential.direct <= TARGET_OVERHEAD_MS,
      },
      inFlight16: {
        inFlight,
        directMsPerCall: round(parallel.direct),
        remoteMsPerCall: round(parallel.remote),
        overheadMsPerCall: round(parallel.remote - parallel.direct),
        remoteCallsPerSecond: Math.round(1000 / parallel.remote),
        pipeliningSpeedup: round(sequential.remote / parallel.remote, 2),
      },
    };
  } finally {
    await worker.close();
    await obliterateAll(queue, [spec]);
    await queue.close();
  }
}

/** A step that does nothing: what is left of its time on the Redis executor is the executor's own. */
const echoStep = registerTask<{ label: string; n: number }, number>({ name: 'bench/echo', run: async (input) => input.n });

/** `count` steps of `echoStep`, `inFlight` at a time, through `executor`. */
async function stepMany(executor: Executor, label: string, count: number, inFlight: number): Promise<number> {
  const started = performance.now();
  const results = await executor.map(echoStep, Array.from({ length: count }, (_, n) => ({ label, n })), { concurrency: inFlight });
  if (results.length !== count || results.some((value, index) => value !== index)) throw new Error(`${label}: results out of order`);
  return performance.now() - started;
}

/** 2b. Per-step overhead of RedisExecutor.map against InProcessExecutor.map, on a task that returns at once. */
async function perStepOverhead(steps = 300, inFlight = 16) {
  const prefix = benchPrefix('steps');
  const worker = await TomeWorker.start({ connection: { url: REDIS_URL, prefix }, model: await resolveModel('extractive'), concurrency: inFlight, documents: false });
  const queue = await TomeQueue.connect({ url: REDIS_URL, prefix });
  try {
    const remote = new RedisExecutor(queue);
    const local = new InProcessExecutor();
    const runs: Record<'localSequential' | 'remoteSequential' | 'localParallel' | 'remoteParallel', number[]> = { localSequential: [], remoteSequential: [], localParallel: [], remoteParallel: [] };
    await stepMany(remote, 'warm-up', 50, 1);
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      runs.localSequential.push(await stepMany(local, `local-seq-${repeat}`, steps, 1));
      runs.remoteSequential.push(await stepMany(remote, `remote-seq-${repeat}`, steps, 1));
      runs.localParallel.push(await stepMany(local, `local-par-${repeat}`, steps, inFlight));
      runs.remoteParallel.push(await stepMany(remote, `remote-par-${repeat}`, steps, inFlight));
    }
    const perStep = (key: keyof typeof runs) => median(runs[key]) / steps;
    const completed = await queue.queueFor('tasks').getCompletedCount();
    return {
      prefix,
      steps,
      repeats: REPEATS,
      everyStepRanOnTheWorker: completed === 50 + REPEATS * 2 * steps,
      sequential: { overheadMsPerStep: round(perStep('remoteSequential') - perStep('localSequential')), targetMs: TARGET_OVERHEAD_MS, meetsTarget: perStep('remoteSequential') - perStep('localSequential') <= TARGET_OVERHEAD_MS },
      inFlight16: { overheadMsPerStep: round(perStep('remoteParallel') - perStep('localParallel')), remoteStepsPerSecond: Math.round(1000 / perStep('remoteParallel')) },
    };
  } finally {
    await worker.close();
    await obliterateAll(queue, ['extractive']);
    await queue.close();
  }
}

/** A worker process serving `spec`, resolved once it prints `ready`. */
function spawnWorker(prefix: string, spec: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'bench/queue-worker-process.ts', REDIS_URL, prefix, spec, '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolveReady, rejectReady) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectReady(new Error('a worker process did not print ready within 30 s'));
    }, 30_000);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      output += chunk;
      if (/^ready$/m.test(output)) {
        clearTimeout(timer);
        resolveReady(child);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      rejectReady(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      rejectReady(new Error(`a worker process exited (${signal ?? code}) before it was ready`));
    });
  });
}

/** SIGTERM (the worker drains and exits); SIGKILL after 10 s. */
async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** 3. Worker scaling on a model-bound workload: every call takes `latencyMs`, each worker takes one call at a time. */
async function workerScaling(workerCounts = [1, 2, 4], calls = 64, latencyMs = 50) {
  const prefix = benchPrefix('scaling');
  const spec = `bench-fixed:${latencyMs}`;
  const queue = await TomeQueue.connect({ url: REDIS_URL, prefix });
  const runs: { workers: number; startupMs: number; ms: number }[] = [];
  try {
    const remote = (await queue.remoteModel(spec)).chatModel;
    for (const workers of workerCounts) {
      const startup = await timed(() => Promise.allSettled(Array.from({ length: workers }, () => spawnWorker(prefix, spec))));
      const children = startup.value.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      try {
        const failure = startup.value.find((result) => result.status === 'rejected');
        if (failure) throw failure.reason;
        await deadline(callMany(remote, `warm-up-${workers}`, workers, workers), 30_000, 'worker warm-up');
        const ms = await deadline(callMany(remote, `workers-${workers}`, calls, calls), 60_000, `${workers} workers`);
        runs.push({ workers, startupMs: startup.ms, ms });
      } finally {
        await Promise.all(children.map(stopWorker));
      }
    }
  } finally {
    await obliterateAll(queue, [spec]);
    await queue.close();
  }
  const baseline = runs[0]!.ms;
  return {
    prefix,
    spec,
    calls,
    modelMsPerCall: latencyMs,
    workerConcurrency: 1,
    results: runs.map(({ workers, startupMs, ms }) => {
      const speedup = baseline / ms;
      const idealMs = Math.ceil(calls / workers) * latencyMs;
      return {
        workers,
        ms: Math.round(ms),
        idealMs,
        callsPerSecond: round(calls / (ms / 1000), 1),
        speedupOver1Worker: round(speedup, 2),
        efficiency: round(speedup / (workers / workerCounts[0]!), 3),
        msPerCallAboveModel: round((ms - idealMs) / Math.ceil(calls / workers), 2),
        workerStartupMs: Math.round(startupMs),
      };
    }),
  };
}

/** Open TCP sockets (here: Redis connections) of this process, once closed ones have had time to go. */
async function openSockets(): Promise<number> {
  await new Promise((settle) => setTimeout(settle, 200));
  return process.getActiveResourcesInfo().filter((resource) => resource === 'TCPSocketWrap').length;
}

export async function benchQueue(): Promise<object> {
  const started = performance.now();
  const sockets = [await openSockets()];
  const raw = await rawBullmq();
  sockets.push(await openSockets());
  const overhead = await perCallOverhead();
  const steps = await perStepOverhead();
  sockets.push(await openSockets());
  const scaling = await workerScaling();
  sockets.push(await openSockets());
  const leftoverKeys = { raw: await sweep(raw.prefix), overhead: await sweep(overhead.prefix), steps: await sweep(steps.prefix), scaling: await sweep(scaling.prefix) };
  return {
    machine: { node: process.version, cpus: cpus().length },
    redis: resolveConnection({ url: REDIS_URL }).redactedUrl,
    rawBullmq: raw,
    perCallOverhead: overhead,
    perStepOverhead: steps,
    workerScaling: scaling,
    /** tome's sequential remote call against a bare BullMQ round trip (add, waitUntilFinished), measured in this run. */
    tomeAboveRawRoundTripMsPerCall: round(overhead.sequential.remoteMsPerCall - raw.sequential.msPerJob),
    /** The same, as a ratio (this run's own floor): tome's sequential remote call ÷ bare BullMQ add-and-wait. */
    tomeOverRawRoundTrip: round(overhead.sequential.remoteMsPerCall / raw.sequential.msPerJob, 2),
    /** Keys found (and deleted) under each prefix after obliterate: should all be 0. */
    leftoverKeys,
    /**
     * Redis connections still open once every queue, worker and client here was closed: should be 0. BullMQ never
     * closes a connection it was handed as an ioredis instance, and TomeQueue/TomeWorker hand it theirs.
     */
    redisSocketsLeftOpen: { raw: sockets[1]! - sockets[0]!, overhead: sockets[2]! - sockets[1]!, scaling: sockets[3]! - sockets[2]! },
    totalSeconds: round((performance.now() - started) / 1000, 1),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await benchQueue(), null, 2));
  // Worker child processes have been stopped; exit without waiting on sockets Redis is still closing.
  process.exit(0);
}
