import { createHash } from 'node:crypto';
import { BaseChatModel, type BaseChatModelCallOptions } from '@langchain/core/language_models/chat_models';
import { AIMessage, mapChatMessagesToStoredMessages, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { Queue, QueueEvents } from 'bullmq';
import { AbortedError } from '../errors.js';
import type { TomeTaskCallOptions } from '../tasks.js';
import { addAndWait } from './job-result.js';
import { onAbort } from './on-abort.js';
import { checkModelCallJob, type ModelCallJob, type ModelCallResult } from './payload.js';

interface RemoteCallOptions extends BaseChatModelCallOptions, TomeTaskCallOptions {}

/** Retries of a model call on the workers (with exponential back-off), for transient provider errors and dead workers. */
export const MODEL_CALL_ATTEMPTS = 4;

/**
 * A chat model whose calls run on tome workers: each call becomes a BullMQ job on the queue of its model spec, and
 * the answer comes back through QueueEvents. Pipelines use it like any chat model, so every pipeline runs
 * distributed with no change; its parallel steps become parallel jobs on however many workers there are.
 *
 * Job ids are content hashes of (spec, messages, task): the same call made twice — a resumed run, two producers
 * with the same document — runs once, and both get the answer.
 */
export class RemoteChatModel extends BaseChatModel<RemoteCallOptions> {
  constructor(
    readonly spec: string,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
  ) {
    super({});
  }

  _llmType(): string {
    return 'tome-remote';
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    const data = checkModelCallJob({ spec: this.spec, messages: mapChatMessagesToStoredMessages(messages), ...(options.tomeTask ? { task: options.tomeTask } : {}) });
    const jobId = modelCallJobId(data);
    const askedAt = Date.now();
    let result: ModelCallResult;
    try {
      result = (await abortable(addAndWait(this.queue, this.events, 'call', data, { jobId, ...MODEL_CALL_JOB_OPTIONS }), options.signal)) as ModelCallResult;
    } catch (error) {
      // A call that had failed before this one was asked (its job is kept for inspection) is run again rather than
      // answered with the old failure. Checked only on failure, so the common path costs no extra round trip.
      const stale = await this.queue.getJob(jobId);
      if (options.signal?.aborted || stale?.finishedOn === undefined || stale.finishedOn >= askedAt || (await stale.getState()) !== 'failed') throw error;
      await stale.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      result = (await abortable(stale.waitUntilFinished(this.events), options.signal)) as ModelCallResult;
    }
    return { generations: [{ text: result.text, message: new AIMessage({ content: result.text, response_metadata: { ...result.responseMetadata, queue_job: jobId } }) }] };
  }
}

/** The id of a model-call job: a hash of its content, so the same call is one job however often it is asked. */
export function modelCallJobId(data: ModelCallJob): string {
  return `call-${createHash('sha256').update(JSON.stringify(data)).digest('hex')}`;
}

export const MODEL_CALL_JOB_OPTIONS = {
  attempts: MODEL_CALL_ATTEMPTS,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 24 * 3600 },
} as const;

/** Stop waiting when the signal aborts (the job itself finishes on its worker and stays cached by its id). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise.catch(rethrowPlain);
  if (signal.aborted) return Promise.reject(new AbortedError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => reject(new AbortedError(signal.reason)));
    promise.then(resolve, (error: unknown) => rethrowPlain(error).catch(reject)).finally(stop);
  });
}

/**
 * A call that failed on the workers has already been retried there; report it as a plain, non-transient error
 * so the producer's executor does not retry it all over again.
 */
async function rethrowPlain(error: unknown): Promise<never> {
  throw new Error(`model call failed on the workers after ${MODEL_CALL_ATTEMPTS} attempts: ${error instanceof Error ? error.message : String(error)}`);
}
