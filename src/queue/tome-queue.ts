import { createHash } from 'node:crypto';
import { FlowProducer, Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { TomeDocument } from '../documents.js';
import { QueueError } from '../errors.js';
import { modelHandleFrom, type ModelHandle } from '../models/model-handle.js';
import type { TokenCounter } from '../tokens/token-counter.js';
import { probeConnection, resolveConnection, type QueueConnectionOptions, type ResolvedConnection } from './connection.js';
import { firstWave } from './first-wave.js';
import { checkDocumentJob, checkModelCallJob, type DocumentJob } from './payload.js';
import { DOCUMENT_QUEUE, documentKey, modelCallQueue } from './queue-names.js';
import { RemoteScorer } from './remote-scorer.js';
import { MODEL_CALL_JOB_OPTIONS, modelCallJobId, RemoteChatModel } from './remote-chat-model.js';

/** Stored documents and finished results are kept this long (seconds) after their last write. */
export const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;

export interface SubmitOptions {
  /** A registered pipeline name (`tome pipelines`), e.g. `hierarchical-summary`, `ask-coa`. */
  readonly pipeline: string;
  /** The pipeline's string options (as `tome run --option`). */
  readonly options?: Record<string, string>;
  /** Model spec the workers use for this document's calls. Default `extractive`. */
  readonly model?: string;
  /** The model's context window; default 8,192. */
  readonly contextWindow?: number;
}

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed' | 'prioritized' | 'waiting-children' | 'unknown';

export interface JobStatus {
  readonly id: string;
  readonly state: JobState;
  /** What the pipeline reported last: steps done / total of the current stage. */
  readonly progress: unknown;
  readonly failedReason?: string;
}

/**
 * The producer side of tome on Redis: store documents once (by content hash), submit them to a pipeline, follow
 * their progress, fetch results; and `remoteModel` to make any pipeline's model calls run on the workers.
 */
export class TomeQueue {
  private readonly queues = new Map<string, Queue>();
  private flowProducer: FlowProducer | undefined;
  private readonly events = new Map<string, Promise<QueueEvents>>();
  private readonly redis: Redis;
  /** Every connection this object opened: BullMQ never closes connections it was handed, so we do. */
  private readonly connections: Redis[] = [];

  private constructor(readonly connection: ResolvedConnection) {
    this.redis = this.open();
  }

  static async connect(options: QueueConnectionOptions): Promise<TomeQueue> {
    const connection = resolveConnection(options);
    await probeConnection(connection);
    return new TomeQueue(connection);
  }

  /** A new connection owned (and closed) by this object. */
  open(): Redis {
    const client = this.connection.connect();
    this.connections.push(client);
    return client;
  }

  /**
   * A model handle whose calls run on the workers serving `spec`. Local engines (`onnx:` specs) can also score text
   * there (XL3M); chat APIs cannot, so their remote handles have no scorer.
   */
  async remoteModel(spec: string, contextWindow = 8192, tokenCounter?: TokenCounter): Promise<ModelHandle> {
    const name = modelCallQueue(spec);
    const events = await this.eventsFor(name);
    const scorer = spec.startsWith('onnx:') ? new RemoteScorer(spec, this.queueFor(name), events) : undefined;
    return modelHandleFrom(new RemoteChatModel(spec, this.queueFor(name), events), { name: spec, contextWindow, ...(tokenCounter ? { tokenCounter } : {}), ...(scorer ? { scorer } : {}) });
  }

  /**
   * Store the document and queue a run of `pipeline` over it. The job id is a hash of document, pipeline, options
   * and model: submitting the same thing twice queues one run, and both callers get its result.
   */
  async submitDocument(document: TomeDocument, options: SubmitOptions): Promise<string> {
    const data: DocumentJob = checkDocumentJob({
      documentSha256: document.sha256,
      documentName: document.name,
      pipeline: options.pipeline,
      options: options.options ?? {},
      model: options.model ?? 'extractive',
      contextWindow: options.contextWindow ?? 8192,
    });
    await this.redis.set(documentKey(this.connection.prefix, document.sha256), document.text, 'EX', DEFAULT_RETENTION_SECONDS);
    const jobId = `doc-${createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 32)}`;
    if (await this.queueFor(DOCUMENT_QUEUE).getJob(jobId)) return jobId;
    const documentOptions = {
      jobId,
      attempts: 3,
      backoff: { type: 'exponential' as const, delay: 1000 },
      removeOnComplete: { age: DEFAULT_RETENTION_SECONDS },
      removeOnFail: { age: DEFAULT_RETENTION_SECONDS },
    };
    // The pipeline's first wave of model calls (e.g. every leaf summary) becomes the document job's children: the
    // document runs when they have finished, and its pipeline then finds their answers cached under the same ids.
    // A failed child does not block the parent: the pipeline asks that call again and reports the step by name.
    const callQueue = modelCallQueue(data.model);
    const wave = (await firstWave(document, data.pipeline, data.options, data.model, data.contextWindow)).map(checkModelCallJob);
    // Calls already on the queue (asked before, answers cached) cannot become new children; the pipeline reuses them.
    const existing = await Promise.all(wave.map((call) => this.queueFor(callQueue).getJob(modelCallJobId(call))));
    const children = wave.filter((_, index) => existing[index] === undefined);
    const flow = await this.flows().add({
      name: 'document',
      queueName: DOCUMENT_QUEUE,
      data,
      opts: documentOptions,
      children: children.map((call) => ({ name: 'call', queueName: callQueue, data: call, opts: { jobId: modelCallJobId(call), ...MODEL_CALL_JOB_OPTIONS, ignoreDependencyOnFailure: true } })),
    });
    return flow.job.id ?? jobId;
  }

  /** The text of a stored document, or null when it expired or was never stored. */
  async loadDocumentText(sha256: string): Promise<string | null> {
    return this.redis.get(documentKey(this.connection.prefix, sha256));
  }

  async getStatus(id: string): Promise<JobStatus> {
    const job = await this.job(id);
    const state = (await job.getState()) as JobState;
    return { id, state, progress: job.progress, ...(job.failedReason ? { failedReason: job.failedReason } : {}) };
  }

  /**
   * The result of a finished document job. With `wait`, waits until it finishes (or `timeoutMs` passes).
   * @throws QueueError JOB_NOT_FOUND; an Error with the job's failure reason when it failed.
   */
  async getResult(id: string, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<unknown> {
    const job = await this.job(id);
    const state = await job.getState();
    if (state === 'completed') return job.returnvalue;
    if (state === 'failed') throw new Error(`job ${id} failed: ${job.failedReason}`);
    if (!options.wait) throw new QueueError('JOB_NOT_FOUND', `job ${id} has no result yet (it is ${state})`, 'wait for it with --wait, or check it with `tome status`');
    return job.waitUntilFinished(await this.eventsFor(DOCUMENT_QUEUE), options.timeoutMs);
  }

  /** Remove a job that has not finished; an active one is left to finish (its worker holds the lock). */
  async cancel(id: string): Promise<boolean> {
    const job = await this.job(id);
    const state = await job.getState();
    if (state === 'active' || state === 'completed') return false;
    await job.remove();
    return true;
  }

  /** Follow a document job's progress events until it finishes. */
  onProgress(listener: (id: string, progress: unknown) => void): () => void {
    const handler = ({ jobId, data }: { jobId: string; data: unknown }) => listener(jobId, data);
    let stopped = false;
    const events = this.eventsFor(DOCUMENT_QUEUE).then((ready) => {
      if (!stopped) ready.on('progress', handler);
      return ready;
    });
    events.catch(() => {});
    return () => {
      stopped = true;
      void events.then((ready) => ready.off('progress', handler), () => {});
    };
  }

  async close(): Promise<void> {
    const events = await Promise.allSettled(this.events.values());
    await Promise.all(events.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)));
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    await this.flowProducer?.close();
    for (const client of this.connections) client.disconnect();
  }

  /** Remove every tome queue and stored document under this prefix (tests, teardown). */
  async obliterate(): Promise<void> {
    for (const queue of this.queues.values()) await queue.obliterate({ force: true });
    const keys = await this.redis.keys(`${this.connection.prefix}:doc:*`);
    if (keys.length > 0) await this.redis.del(...keys);
  }

  /** The FlowProducer for this prefix (created on first use). */
  flows(): FlowProducer {
    if (!this.flowProducer) {
      this.flowProducer = new FlowProducer({ connection: this.open(), prefix: this.connection.prefix });
      this.flowProducer.on('error', () => {});
    }
    return this.flowProducer;
  }

  queueFor(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.open(), prefix: this.connection.prefix });
      // Every caller waiting on a job adds a listener; hundreds in flight are normal here.
      queue.setMaxListeners(0);
      // Connection trouble is retried by ioredis (a Redis restart is survivable); without a listener BullMQ would
      // print a stack trace for every reconnect attempt.
      queue.on('error', () => {});
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * The QueueEvents of queue `name`, shared by everyone waiting on its jobs (created on first use), once it
   * listens. It reads the queue's event stream from the last event written before this call, not from wherever the
   * stream has got to when its first blocking read reaches Redis (BullMQ's `$`): a job that finishes in between —
   * after a waiter checked that it had not finished, before the reader started — would otherwise never be
   * reported, and its waiter would wait forever (a worker failing a bad job within milliseconds does exactly that).
   */
  eventsFor(name: string): Promise<QueueEvents> {
    let ready = this.events.get(name);
    if (!ready) {
      ready = (async () => {
        const [last] = await this.redis.xrevrange(`${this.connection.prefix}:${name}:events`, '+', '-', 'COUNT', 1);
        const events = new QueueEvents(name, { connection: this.open(), prefix: this.connection.prefix, lastEventId: last?.[0] ?? '0-0' });
        events.setMaxListeners(0);
        events.on('error', () => {});
        await events.waitUntilReady();
        return events;
      })();
      this.events.set(name, ready);
      // Redis down at the first use: the next caller tries again.
      ready.catch(() => this.events.delete(name));
    }
    return ready;
  }

  private async job(id: string): Promise<Job> {
    const job = await this.queueFor(DOCUMENT_QUEUE).getJob(id);
    if (!job) throw new QueueError('JOB_NOT_FOUND', `no job ${id} on ${this.connection.redactedUrl}`, 'check the id and --queue (results expire after 7 days)');
    return job;
  }
}
