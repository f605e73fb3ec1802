import { UnrecoverableError, type Job } from 'bullmq';
import { TomeError } from '../errors.js';
import { getTask, type TaskContext } from '../executor/task-registry.js';
import { isTransientError } from '../executor/transient-errors.js';
import { unrecoverableOnBadInput } from './model-call-runner.js';
import { checkTaskJob } from './payload.js';
import { TASK_QUEUE } from './queue-names.js';
import { failedReasonOf } from './redis-executor.js';

/**
 * Run one job of the tasks queue on a worker: look its task up by name in this process's registry, hand a flow
 * parent its children's outputs in order, and decide retries the way the in-process executor does — a failure that
 * is not transient (tome's own errors, bad input, an unknown task) fails the job at once.
 */
export async function runTaskJob(job: Job, prefix: string, model: TaskContext['model']): Promise<unknown> {
  const data = unrecoverableOnBadInput(() => checkTaskJob(job.data));
  const task = unrecoverableOnBadInput(() => getTask(data.task));
  let childrenValues: unknown[] = [];
  if (data.children !== undefined && data.children.length > 0) {
    const values = await job.getChildrenValues();
    childrenValues = data.children.map((id) => {
      const key = `${prefix}:${TASK_QUEUE}:${id}`;
      if (!(key in values)) throw new UnrecoverableError(`flow step ${data.task}: child ${id} finished without a result`);
      return values[key];
    });
  }
  try {
    return await task.definition.run(data.input, { index: data.index, attempt: job.attemptsMade + 1, model, childrenValues });
  } catch (error) {
    if (isTransientError(error)) throw error;
    throw new UnrecoverableError(TomeError.is(error) ? failedReasonOf(error) : error instanceof Error ? error.message : String(error));
  }
}
