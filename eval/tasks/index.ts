import { InvalidOptionError } from '../../src/errors.js';
import type { EvalTask } from '../task.js';
import { passkeyTask } from './passkey.js';
import { rulerTasks } from './ruler.js';
import { SUMMARY_TASK } from './summary.js';

/** Every question-answering task `tome eval` knows, by name (the summary task runs on its own grid: runSummaryGrid). */
export const EVAL_TASKS: readonly EvalTask[] = [passkeyTask, ...rulerTasks];

/** Every task name `tome eval` takes: the question-answering tasks and `summary`. */
export const EVAL_TASK_NAMES: readonly string[] = [...EVAL_TASKS.map((task) => task.name), SUMMARY_TASK];

/** @throws InvalidOptionError naming the known tasks (for `summary`, pointing at runSummaryGrid). */
export function evalTask(name: string): EvalTask {
  const task = EVAL_TASKS.find((candidate) => candidate.name === name);
  if (!task) throw new InvalidOptionError('<task>', name, name === SUMMARY_TASK ? 'a question-answering task (summary runs with runSummaryGrid)' : `one of ${EVAL_TASK_NAMES.join(', ')}`);
  return task;
}

export { passkeyTask } from './passkey.js';
export { commonWordsTask, frequentWordsTask, rulerTasks, variableTrackingTask } from './ruler.js';
export { DEFAULT_PLANTED_FACTS, generateSummarySample, SUMMARY_TASK, type SummarySample } from './summary.js';
