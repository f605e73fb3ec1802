import { InvalidOptionError } from '../../src/errors.js';
import type { EvalTask } from '../task.js';
import { passkeyTask } from './passkey.js';
import { rulerTasks } from './ruler.js';

/** Every task `tome eval` knows, by name. */
export const EVAL_TASKS: readonly EvalTask[] = [passkeyTask, ...rulerTasks];

/** @throws InvalidOptionError naming the known tasks. */
export function evalTask(name: string): EvalTask {
  const task = EVAL_TASKS.find((candidate) => candidate.name === name);
  if (!task) throw new InvalidOptionError('<task>', name, `one of ${EVAL_TASKS.map((known) => known.name).join(', ')}`);
  return task;
}

export { passkeyTask } from './passkey.js';
export { commonWordsTask, frequentWordsTask, rulerTasks, variableTrackingTask } from './ruler.js';
