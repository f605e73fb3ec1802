import { createHash } from 'node:crypto';
import type { FlowJob, JobsOptions, QueueEvents } from 'bullmq';
import pLimit from 'p-limit';
import { AbortedError, InvalidOptionError, StepFailedError, TomeError, throwIfAborted } from '../errors.js';
import type { ExecutorRunOptions, ExecutorTask, FlowExecutor, FlowNode, RetryPolicy, StepEvent } from '../executor/executor.js';
import { DEFAULT_RETRY_POLICY, InProcessExecutor } from '../executor/in-process-executor.js';
import { isRegisteredTask, TaskNotFoundError } from '../executor/task-registry.js';
import { isTransientError } from '../executor/transient-errors.js';
import { addAndWait } from './job-result.js';
import { onAbort } from './on-abort.js';
import { checkTaskJob, type TaskJob } from './payload.js';
import { TASK_QUEUE } from './queue-names.js';
import type { TomeQueue } from './tome-queue.js';

export interface RedisExecutorOptions {
  /** Default for `map` calls that set none: most task jobs queued and unfinished at once. Default 16. */
  concurrency?: number;
  /** Default retry policy (attempts and back-off of each job on the workers), merged under each call's own. */
  retry?: Partial<Omit<RetryPolicy, 'shouldRetry'>>;
}

/** Finished task jobs are kept this long (s) so a rerun or a second producer finds their results by id. */
const KEEP_COMPLETED_S = 3600;
const KEEP_FAILED_S = 24 * 3600;

/**
 * The {@link Executor} on Redis: each step of a registered task ({@link registerTask}) is a BullMQ job on the
 * `tasks` queue, run by whichever `tome worker` takes it; a tree of steps ({@link runFlow}) is a BullMQ flow whose
 * parents run when their children have finished. Tasks that are closures (not registered under their name) cannot
 * travel: they run here, in-process, and their model calls go to the workers when the model is a queue model.
 *
 * Same contract as {@link InProcessExecutor}: results in input order; a step failing for good (non-transient, or
 * out of attempts) stops steps not yet queued and rejects with `StepFailedError('<task>[<index>]')`; aborting stops
 * waiting, removes the steps no worker has started, and rejects with `AbortedError`. Retries run on the workers
 * (job attempts with exponential back-off); what is retried is decided there by {@link isTransientError}, since a
 * function cannot travel: a custom `retry.shouldRetry` is refused. Job ids hash task, input and position, so a step
 * asked twice runs once (a flow's, its place in the tree: see {@link RedisExecutor.runFlow}).
 */
export class RedisExecutor implements FlowExecutor {
  readonly concurrency: number;
  private readonly retry: Omit<RetryPolicy, 'shouldRetry'>;
  private readonly local: InProcessExecutor;

  constructor(
    private readonly queue: TomeQueue,
    options: RedisExecutorOptions = {},
  ) {
    this.local = new InProcessExecutor(options);
    this.concurrency = this.local.concurrency;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  }

  async map<Input, Output>(task: ExecutorTask<Input, Output>, inputs: readonly Input[], options: ExecutorRunOptions = {}): Promise<Output[]> {
    if (!isRegisteredTask(task as ExecutorTask<unknown, unknown>)) return this.local.map(task, inputs, options);
    const { signal } = options;
    throwIfAborted(signal);
    const concurrency = options.concurrency ?? this.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidOptionError('concurrency', concurrency, 'a whole number, at least 1');
    const jobOptions = this.jobOptions(options);
    const emit = options.onEvent ?? (() => {});
    const events = await this.ready();
    const tracker = new StepTracker(this.queue, events, emit);
    const limit = pLimit(concurrency);
    let failure: unknown;
    const started: { jobId: string; index: number }[] = [];
    try {
      const runs = inputs.map((input, index) =>
        limit(async () => {
          if (failure !== undefined) throw failure;
          throwIfAborted(signal);
          const data = checkTaskJob({ task: task.name, input, index });
          const jobId = taskJobId(data);
          tracker.watch(jobId, task.name, index);
          started.push({ jobId, index });
          try {
            const askedAt = Date.now();
            const output = (await this.finished(jobId, askedAt, signal, (ready) => addAndWait(this.tasks(), ready, task.name, data, { jobId, ...jobOptions }))) as Output;
            tracker.settled(jobId);
            return output;
          } catch (error) {
            const reported = await this.failureOf(error, jobId, task.name, index, signal);
            tracker.failed(jobId, reported);
            failure ??= reported;
            throw reported;
          }
        }),
      );
      const settled = await Promise.allSettled(runs);
      if (signal?.aborted) throw new AbortedError(signal.reason);
      if (failure !== undefined) throw failure;
      return settled.map((result) => (result as PromiseFulfilledResult<Output>).value);
    } catch (error) {
      if (signal?.aborted) await this.removeUnstarted(started.map(({ jobId }) => jobId));
      throw error;
    } finally {
      tracker.close();
    }
  }

  /**
   * Run a tree of registered steps as one BullMQ flow: children first, spread over the workers; each parent once
   * all of its children have finished, reading their outputs (`context.childrenValues`, in the order given). The
   * root's id hashes the whole tree (tasks, inputs, shape) and each node's id its place under that root, so the same
   * tree asked twice is one flow, answered from Redis once finished. A step shared with another tree runs again in
   * this one, its model calls still answered from the calls queue by their own content-hash ids. A failed step fails
   * its parents up to the root; the rejection names the deepest failed step.
   */
  async runFlow<Output>(root: FlowNode, options: ExecutorRunOptions = {}): Promise<Output> {
    const { signal } = options;
    throwIfAborted(signal);
    const jobOptions = this.jobOptions(options);
    const emit = options.onEvent ?? (() => {});
    const nodes: { jobId: string; task: string; index: number }[] = [];
    // Ids go top-down: the root's hashes the whole tree, each child's its parent's id and its position there. So
    // the same tree asked twice is the same flow, while a step that also appears in another tree (a leaf shared by
    // two summaries) is a job of its own there: BullMQ cannot attach a job that already has a parent to a second
    // one, and a parent would then run without that child's value, or wait for it forever.
    const build = (node: FlowNode, jobId: string, isRoot: boolean): FlowJob => {
      const childNodes = node.children ?? [];
      const childIds = childNodes.map((child, position) => flowChildJobId(jobId, position, child));
      const children = childNodes.map((child, position) => build(child, childIds[position]!, false));
      const data = checkTaskJob({ task: node.task.name, input: node.input, index: 0, ...(childIds.length > 0 ? { children: childIds } : {}) });
      nodes.push({ jobId, task: node.task.name, index: nodes.length });
      return {
        name: node.task.name,
        queueName: TASK_QUEUE,
        data,
        opts: { jobId, ...jobOptions, ...(isRoot ? {} : { failParentOnFailure: true }) },
        ...(children.length > 0 ? { children } : {}),
      };
    };
    checkFlowTasks(root);
    const flow = build(root, flowRootJobId(root), true);
    const rootId = flow.opts!.jobId!;
    const events = await this.ready();
    const tracker = new StepTracker(this.queue, events, emit);
    for (const node of nodes) tracker.watch(node.jobId, node.task, node.index);
    try {
      // A root that failed before is removed with its subtree and queued afresh; a finished one answers at once.
      const previous = await this.tasks().getJob(rootId);
      if (previous && (await previous.getState()) === 'failed') await previous.remove({ removeChildren: true });
      const askedAt = Date.now();
      const added = await this.queue.flows().add(flow);
      const output = (await this.finished(rootId, askedAt, signal, (ready) => added.job.waitUntilFinished(ready))) as Output;
      tracker.settled(rootId);
      return output;
    } catch (error) {
      if (signal?.aborted) {
        await this.removeUnstarted(nodes.map(({ jobId }) => jobId).reverse());
        throw new AbortedError(signal.reason);
      }
      if (TomeError.is(error)) throw error;
      throw await this.deepestFailure(nodes, error);
    } finally {
      tracker.close();
    }
  }

  private tasks() {
    return this.queue.queueFor(TASK_QUEUE);
  }

  private ready(): Promise<QueueEvents> {
    return this.queue.eventsFor(TASK_QUEUE);
  }

  private jobOptions(options: ExecutorRunOptions): JobsOptions {
    if (options.retry?.shouldRetry !== undefined && options.retry.shouldRetry !== isTransientError) {
      throw new InvalidOptionError('retry.shouldRetry', 'a custom function', 'left out: on Redis the workers decide what is retried, by isTransientError (a function cannot travel)');
    }
    const retry = { ...this.retry, ...options.retry };
    if (!Number.isInteger(retry.retries) || retry.retries < 0) throw new InvalidOptionError('retry.retries', retry.retries, 'a whole number, at least 0');
    if (!(retry.minDelayMs >= 0)) throw new InvalidOptionError('retry.minDelayMs', retry.minDelayMs, 'a number of milliseconds, at least 0');
    return {
      attempts: retry.retries + 1,
      backoff: { type: 'exponential', delay: retry.minDelayMs },
      removeOnComplete: { age: KEEP_COMPLETED_S },
      removeOnFail: { age: KEEP_FAILED_S },
    };
  }

  /**
   * The output of job `jobId`, which `wait` queues (or has queued) and waits for. A job that had failed before this
   * run asked for it is run again, not reported as failed.
   */
  private async finished(jobId: string, askedAt: number, signal: AbortSignal | undefined, wait: (events: QueueEvents) => Promise<unknown>): Promise<unknown> {
    const events = await this.ready();
    try {
      return await abortable(wait(events), signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      const stale = await this.tasks().getJob(jobId);
      if (stale?.finishedOn === undefined || stale.finishedOn >= askedAt || (await stale.getState()) !== 'failed') throw error;
      await stale.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      return abortable(stale.waitUntilFinished(events), signal);
    }
  }

  /** What a failed step rejects with: a typed error naming the step. */
  private async failureOf(error: unknown, jobId: string, task: string, index: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (signal?.aborted) return new AbortedError(signal.reason);
    if (TomeError.is(error)) return error;
    const job = await this.tasks().getJob(jobId);
    return failureFromReason(job?.failedReason ?? (error instanceof Error ? error.message : String(error)), task, index, job?.attemptsMade ?? 1);
  }

  /** A failed flow: the failed node deepest in the tree (the first listed: children come before parents). */
  private async deepestFailure(nodes: readonly { jobId: string; task: string; index: number }[], error: unknown): Promise<unknown> {
    for (const node of nodes) {
      const job = await this.tasks().getJob(node.jobId);
      if (job && job.failedReason && !/^child .* failed$/.test(job.failedReason) && (await job.getState()) === 'failed') {
        return failureFromReason(job.failedReason, node.task, node.index, job.attemptsMade);
      }
    }
    return error;
  }

  /** Remove the steps no worker has taken yet (an active job is locked by its worker and finishes there). */
  private async removeUnstarted(jobIds: readonly string[]): Promise<void> {
    for (const jobId of jobIds) {
      const job = await this.tasks().getJob(jobId);
      if (job === undefined) continue;
      const state = await job.getState();
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') await job.remove().catch(() => {});
    }
  }
}

/** `task-<sha256 of task, input, position and children>`: the same step is the same job. */
export function taskJobId(data: TaskJob): string {
  return `task-${createHash('sha256').update(JSON.stringify(data)).digest('hex')}`;
}

/** Every node of a flow must name a registered task: the workers look tasks up by name. */
function checkFlowTasks(node: FlowNode): void {
  if (!isRegisteredTask(node.task)) {
    throw new InvalidOptionError('flow task', node.task.name, 'a task registered with registerTask (a flow runs on the workers, which look tasks up by name)');
  }
  for (const child of node.children ?? []) checkFlowTasks(child);
}

/** Hashes of subtrees already computed (a chain of level steps would otherwise hash its leaves once per level). */
const contentHashes = new WeakMap<FlowNode, string>();

/** A hash of a flow node's task and input and, recursively, of its children's: the content of the subtree. */
function flowContentHash(node: FlowNode): string {
  let hash = contentHashes.get(node);
  if (hash === undefined) {
    const children = (node.children ?? []).map(flowContentHash);
    hash = createHash('sha256').update(JSON.stringify({ task: node.task.name, input: node.input, children })).digest('hex');
    contentHashes.set(node, hash);
  }
  return hash;
}

/** The root of a flow: `flow-<hash of the whole tree>`. */
export function flowRootJobId(root: FlowNode): string {
  return `flow-${flowContentHash(root)}`;
}

/** A flow node under `parentId` at `position`: its id names its place in that one tree. */
function flowChildJobId(parentId: string, position: number, child: FlowNode): string {
  return `flow-${createHash('sha256').update(`${parentId}/${position}/${flowContentHash(child)}`).digest('hex')}`;
}

/** The message a worker fails a job with when the job names a task it does not have: parsed back into the error. */
const UNKNOWN_TASK = /^no task named "([^"]+)" is registered on the worker \(start the worker with --pipelines <the module that registers it> \(registered there: (.*)\)\)$/;

/** How a worker words a failure for BullMQ's failedReason: tome's message, and its fix in parentheses. */
export function failedReasonOf(error: TomeError): string {
  return `${error.message} (${error.fix})`;
}

function failureFromReason(reason: string, task: string, index: number, attempts: number): TomeError {
  const unknown = UNKNOWN_TASK.exec(reason);
  if (unknown) return new TaskNotFoundError(unknown[1]!, unknown[2] === '(none)' ? [] : unknown[2]!.split(', '));
  return new StepFailedError(`${task}[${index}]`, attempts, new Error(reason));
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new AbortedError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => reject(new AbortedError(signal.reason)));
    promise.then(resolve, reject).finally(stop);
  });
}

/**
 * Step events from the queue's event stream: `active` is a step's start (attempt n on its n-th activation),
 * `delayed` a retry after a failed attempt, `completed` its end. A step answered from a job finished earlier (same
 * id) never becomes active here: it reports a `step-end` with attempt 0 and elapsed 0.
 */
class StepTracker {
  private readonly steps = new Map<string, { task: string; index: number; attempts: number; startedAt: number; ended: boolean }>();
  private readonly onActive = ({ jobId }: { jobId: string }) => {
    const step = this.steps.get(jobId);
    if (!step) return;
    step.attempts++;
    step.startedAt = performance.now();
    this.emit({ type: 'step-start', task: step.task, index: step.index, attempt: step.attempts });
  };
  private readonly onCompleted = ({ jobId }: { jobId: string }) => this.end(jobId);
  private readonly onDelayed = ({ jobId, delay }: { jobId: string; delay: number | string }) => {
    const step = this.steps.get(jobId);
    if (!step || step.attempts === 0) return;
    const at = Number(delay);
    const delayMs = Math.max(0, at > 1e12 ? at - Date.now() : at);
    const attempt = step.attempts;
    void this.queue
      .queueFor(TASK_QUEUE)
      .getJob(jobId)
      .then(
        (job) => this.emit({ type: 'step-retry', task: step.task, index: step.index, attempt, delayMs, error: job?.failedReason ?? 'failed' }),
        () => this.emit({ type: 'step-retry', task: step.task, index: step.index, attempt, delayMs, error: 'failed' }),
      );
  };

  constructor(
    private readonly queue: TomeQueue,
    private readonly events: QueueEvents,
    private readonly emit: (event: StepEvent) => void,
  ) {
    events.on('active', this.onActive);
    events.on('completed', this.onCompleted);
    events.on('delayed', this.onDelayed);
  }

  watch(jobId: string, task: string, index: number): void {
    this.steps.set(jobId, { task, index, attempts: 0, startedAt: performance.now(), ended: false });
  }

  /** The step's output arrived: report its end if the event stream has not. */
  settled(jobId: string): void {
    this.end(jobId);
  }

  failed(jobId: string, error: unknown): void {
    const step = this.steps.get(jobId);
    if (!step || step.ended) return;
    step.ended = true;
    this.emit({ type: 'step-error', task: step.task, index: step.index, attempt: step.attempts, error: error instanceof Error ? error.message : String(error) });
  }

  close(): void {
    this.events.off('active', this.onActive);
    this.events.off('completed', this.onCompleted);
    this.events.off('delayed', this.onDelayed);
  }

  private end(jobId: string): void {
    const step = this.steps.get(jobId);
    if (!step || step.ended) return;
    step.ended = true;
    this.emit({ type: 'step-end', task: step.task, index: step.index, attempt: step.attempts, elapsedMs: step.attempts === 0 ? 0 : performance.now() - step.startedAt });
  }
}
