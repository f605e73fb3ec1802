import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { documentFromText } from '../documents.js';
import { TomeError } from '../errors.js';
import { isTransientError } from '../executor/transient-errors.js';
import type { ModelHandle } from '../models/model-handle.js';
import { getPipeline } from '../pipeline/registry.js';
import type { QueueConnectionOptions } from './connection.js';
import { runModelJob, unrecoverableOnBadInput } from './model-call-runner.js';
import { checkDocumentJob } from './payload.js';
import { DOCUMENT_QUEUE, modelCallQueue, TASK_QUEUE } from './queue-names.js';
import { runTaskJob } from './task-runner.js';
import { modelCallProcessorFile, THREAD_CONTEXT_WINDOW_ENV, THREAD_MODEL_ENV, THREAD_PLUGINS_ENV } from './model-call-processor-file.js';
import { TomeQueue } from './tome-queue.js';

export interface TomeWorkerOptions {
  readonly connection: QueueConnectionOptions;
  /** The model this worker serves: it takes the model calls queued for `model.spec`. */
  readonly model: ModelHandle;
  /** Model calls (and documents) in flight at once. Default 4. */
  readonly concurrency?: number;
  /** Also run document jobs (pipelines) — their model calls go back to the queue. Default true. */
  readonly documents?: boolean;
  /**
   * Also run steps of registered tasks (RedisExecutor.map, flows such as a hierarchical summary's tree) from the
   * `tasks` queue. A task's model calls run on this worker's model when the task names it, else go to the queue of
   * the model the task names. Default true.
   */
  readonly tasks?: boolean;
  /** BullMQ lock duration in ms: a worker silent this long is presumed dead and its job retried. Default 30 000. */
  readonly lockDurationMs?: number;
  /** How often stalled jobs are looked for, in ms. Default 30 000. */
  readonly stalledIntervalMs?: number;
  /**
   * Run model calls in worker threads (BullMQ sandboxed processors), so an engine that blocks the event loop never
   * stalls lock renewal. Each thread resolves `model.spec` itself, after importing `plugins` (modules that register
   * model providers); all `concurrency` threads are started, their models resolved, before `start` resolves.
   * Default: off (calls run on this thread); `tome worker` turns it on.
   */
  readonly threads?: { readonly plugins?: readonly string[] };
}

/**
 * A tome worker: serves model calls for one model spec and, optionally, runs document jobs through registered
 * pipelines. Bad job data fails that job (never the worker); a job whose worker dies is stalled and retried by
 * another. `close()` drains: it stops taking jobs and waits for the ones in flight.
 */
export class TomeWorker {
  private constructor(
    private readonly workers: Worker[],
    private readonly producer: TomeQueue,
  ) {}

  static async start(options: TomeWorkerOptions): Promise<TomeWorker> {
    const producer = await TomeQueue.connect(options.connection);
    const { prefix } = producer.connection;
    const common = {
      prefix,
      concurrency: options.concurrency ?? 4,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      maxStalledCount: 2,
      // Started below, once every part is ready: a worker still loading takes no job another could run now.
      autorun: false,
    };
    const workers: Worker[] = [];
    // Document workers first, then task steps: on close they drain in that order, while the model-call worker still
    // answers their calls.
    if (options.documents !== false) {
      workers.push(new Worker(DOCUMENT_QUEUE, (job: Job) => runDocument(job, producer), { ...common, connection: producer.open() }));
    }
    if (options.tasks !== false) {
      const remoteModels = new Map<string, Promise<ModelHandle>>();
      const served = options.model;
      // Calls of the served model run right here, unless they belong in worker threads.
      const model = (spec: string, contextWindow: number): Promise<ModelHandle> => {
        if (!options.threads && spec === served.spec && contextWindow === served.contextWindow) return Promise.resolve(served);
        const key = `${contextWindow} ${spec}`;
        let remote = remoteModels.get(key);
        if (!remote) remoteModels.set(key, (remote = producer.remoteModel(spec, contextWindow)));
        return remote;
      };
      workers.push(new Worker(TASK_QUEUE, (job: Job) => runTaskJob(job, prefix, model), { ...common, connection: producer.open() }));
    }
    const callQueue = modelCallQueue(options.model.spec);
    const processorFile = modelCallProcessorFile();
    workers.push(
      options.threads
        ? new Worker(callQueue, processorFile, {
            ...common,
            connection: producer.open(),
            useWorkerThreads: true,
            // The threads load the same way this process did (e.g. `--import tsx` when running from source).
            workerThreadsOptions: { execArgv: process.execArgv, env: { ...process.env, [THREAD_MODEL_ENV]: options.model.spec, [THREAD_CONTEXT_WINDOW_ENV]: String(options.model.contextWindow), [THREAD_PLUGINS_ENV]: JSON.stringify(options.threads.plugins ?? []) } },
          })
        : new Worker(callQueue, (job: Job): Promise<unknown> => runModelJob(job.name, job.data, options.model), { ...common, connection: producer.open() }),
    );
    // A worker must outlive any one bad job or lost connection: report, never throw.
    for (const worker of workers) worker.on('error', (error) => process.stderr.write(`tome worker: ${error.message}\n`));
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));
    if (options.threads) await warmThreads(workers.at(-1)!, processorFile, common.concurrency);
    for (const worker of workers) worker.run().catch((error: Error) => worker.emit('error', error));
    return new TomeWorker(workers, producer);
  }

  /** Stop taking jobs, let the ones in flight finish (documents, then task steps, then the model calls they wait on), disconnect. */
  async close(): Promise<void> {
    for (const worker of this.workers) await worker.close();
    await this.producer.close();
  }
}

/**
 * Start the model-call worker's `count` sandbox threads now, each loading the processor (and, running from source,
 * tsx and tome's modules: seconds per thread), rather than on the first calls: otherwise the first run after a
 * worker starts waits for them (20 s of a 30 s `summarize --queue` on a busy two-core machine). BullMQ starts
 * threads on demand and keeps them for later jobs; this borrows them from its pool and hands them back. A pool this
 * BullMQ does not expose, or a thread that fails to load, leaves the threads to start on demand as before (the
 * failure then fails those jobs, with its message).
 */
async function warmThreads(worker: Worker, processorFile: string, count: number): Promise<void> {
  const pool = (worker as unknown as { childPool?: Partial<ThreadPool> }).childPool;
  if (typeof pool?.retain !== 'function' || typeof pool.release !== 'function') return;
  const { retain, release } = pool as ThreadPool;
  const started = await Promise.allSettled(Array.from({ length: count }, () => retain.call(pool, processorFile)));
  for (const thread of started) if (thread.status === 'fulfilled') release.call(pool, thread.value);
  const failed = started.find((thread) => thread.status === 'rejected');
  if (failed) process.stderr.write(`tome worker: a model-call thread failed to start (${String((failed as PromiseRejectedResult).reason)}); threads start on demand\n`);
}

/** The part of BullMQ's (internal) ChildPool that warmThreads uses. */
interface ThreadPool {
  retain(processFile: string): Promise<unknown>;
  release(child: unknown): void;
}

async function runDocument(job: Job, producer: TomeQueue): Promise<unknown> {
  const data = unrecoverableOnBadInput(() => checkDocumentJob(job.data));
  const registered = unrecoverableOnBadInput(() => getPipeline(data.pipeline));
  const text = await producer.loadDocumentText(data.documentSha256);
  if (text === null) throw new UnrecoverableError(`document ${data.documentSha256} is no longer stored (documents expire after 7 days); submit it again`);
  const model = await producer.remoteModel(data.model, data.contextWindow);
  const pipeline = unrecoverableOnBadInput(() => registered.create({ model, concurrency: 16 }, data.options));
  const events = pipeline.streamProgress(documentFromText(text, data.documentName));
  try {
    let next = await events.next();
    while (!next.done) {
      const event = next.value;
      if (event.type === 'step-end') await job.updateProgress({ stage: event.stage, done: event.done, total: event.total });
      next = await events.next();
    }
    return next.value;
  } catch (error) {
    // A step that failed for good (its calls already retried on the workers) fails the document at once.
    if (TomeError.is(error) && !isTransientError(error.cause)) throw new UnrecoverableError(error.message);
    throw error;
  }
}
