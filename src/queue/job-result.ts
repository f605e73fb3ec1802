import type { EventEmitter } from 'node:events';
import type { JobsOptions, Queue, QueueEvents } from 'bullmq';
import { AbortedError } from '../errors.js';
import { onAbort } from './on-abort.js';

/**
 * Queue a job under its own id and wait for its result: the producer side of every tome call on Redis.
 *
 * BullMQ's `job.waitUntilFinished` costs a round trip of its own after the add (it asks Redis whether the job has
 * finished already, in case the event was missed). Here the listeners go on first, on a reader that never misses an
 * event written after it started (TomeQueue.eventsFor), so a fresh job needs no such check: its `completed` or
 * `failed` event answers it. Only a job that already existed (same id: the same call asked before) is looked up,
 * when Redis reports it `duplicated`, since its end may lie before this call.
 *
 * Resolves with the job's return value; rejects with `Error(failedReason)` as BullMQ does, with AbortedError when
 * `signal` aborts (the job itself runs on), or when the queue closes.
 */
export function addAndWait(queue: Queue, events: QueueEvents, name: string, data: unknown, options: JobsOptions & { jobId: string }, signal?: AbortSignal): Promise<unknown> {
  if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason));
  const { jobId } = options;
  // Per-job event names (`completed:<id>`) and 'closing' are not in BullMQ's typed listener maps.
  const stream = events as unknown as EventEmitter;
  const closing = queue as unknown as EventEmitter;
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      stream.off(completedEvent, onCompleted);
      stream.off(failedEvent, onFailed);
      stream.off(duplicatedEvent, onDuplicated);
      closing.off('closing', onClosing);
      stopWaitingForAbort();
      outcome();
    };
    const onCompleted = ({ returnvalue }: { returnvalue: unknown }) => finish(() => resolve(returnvalue));
    const onFailed = ({ failedReason }: { failedReason: string }) => finish(() => reject(new Error(failedReason)));
    const onClosing = (reason: string) => finish(() => reject(new Error(reason)));
    // The job was there already: it may have finished before this call listened.
    const onDuplicated = () => {
      void queue.getJob(jobId).then(
        async (job) => {
          if (!job) return; // removed meanwhile: its events still end this wait
          const state = await job.getState();
          if (state === 'completed') finish(() => resolve(job.returnvalue));
          else if (state === 'failed') finish(() => reject(new Error(job.failedReason)));
        },
        (error: unknown) => finish(() => reject(error)),
      );
    };
    const completedEvent = `completed:${jobId}`;
    const failedEvent = `failed:${jobId}`;
    const duplicatedEvent = `duplicated:${jobId}`;
    stream.on(completedEvent, onCompleted);
    stream.on(failedEvent, onFailed);
    stream.on(duplicatedEvent, onDuplicated);
    closing.on('closing', onClosing);
    const stopWaitingForAbort = signal ? onAbort(signal, () => finish(() => reject(new AbortedError(signal.reason)))) : () => {};
    queue.add(name, data, options).catch((error: unknown) => finish(() => reject(error)));
  });
}
