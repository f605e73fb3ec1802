import { PipelineRegistryError, InvalidOptionError } from '../errors.js';
import type { ModelHandle } from '../models/model-handle.js';
import { resolveModel } from '../models/model-spec.js';
import type { ExecutorTask, StepContext } from './executor.js';

/**
 * Tasks that can run on another machine. An {@link ExecutorTask} is a name plus a `run` closure; a closure cannot
 * travel, so a remote worker looks the task up by its name here instead. A registered task must rebuild whatever it
 * needs from its JSON input and its {@link TaskContext}: a model is named by spec (`input.model`) and resolved where
 * the task runs, never captured from the producer.
 *
 * Built-in pipeline tasks register themselves when their pipeline module loads (`hierarchical-summary/leaf`, …);
 * user tasks register in a module that workers load with `tome worker --pipelines <module>`.
 */
export interface TaskContext extends StepContext {
  /**
   * A model for `spec` with this window, where the task runs: on a worker serving that spec, its own model; else a
   * handle whose calls go to the workers serving it; in-process, `resolveModel(spec)`.
   */
  model(spec: string, contextWindow: number): Promise<ModelHandle>;
  /** A flow's parent step: its children's outputs, in the order the children were given. Empty otherwise. */
  readonly childrenValues: readonly unknown[];
}

export interface TaskDefinition<Input, Output> {
  /** `<module>/<step>`: lowercase letters, digits, dashes, slashes. */
  readonly name: string;
  /** Inputs and outputs travel as JSON: plain objects, arrays, strings, numbers, booleans, null. */
  run(input: Input, context: TaskContext): Promise<Output>;
}

/** A task any executor can run: in-process by calling it, on Redis by sending its name and input to a worker. */
export interface RegisteredTask<Input, Output> extends ExecutorTask<Input, Output> {
  readonly definition: TaskDefinition<Input, Output>;
}

const registry = new Map<string, RegisteredTask<unknown, unknown>>();

/**
 * Register a task under its name and return it, ready for `executor.map(task, inputs)`. Registering the same name
 * again replaces the task only with `{ replace: true }` (modules loaded twice under tsx and node both register).
 * @throws PipelineRegistryError PIPELINE_EXISTS when the name is taken by another definition.
 */
export function registerTask<Input, Output>(definition: TaskDefinition<Input, Output>, options: { replace?: boolean } = {}): RegisteredTask<Input, Output> {
  if (!/^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*$/.test(definition.name)) {
    throw new InvalidOptionError('task name', definition.name, 'lowercase letters, digits and dashes, in parts separated by "/"');
  }
  const existing = registry.get(definition.name);
  if (existing && !options.replace) {
    throw new PipelineRegistryError('PIPELINE_EXISTS', `a task named "${definition.name}" is already registered`, 'choose another name, or pass { replace: true }');
  }
  const task: RegisteredTask<Input, Output> = {
    name: definition.name,
    definition,
    run: (input, context) => definition.run(input, localTaskContext(context)),
  };
  registry.set(definition.name, task as RegisteredTask<unknown, unknown>);
  return task;
}

/**
 * A task named on a job that this process never registered: the worker was started without the module that
 * registers it. Code PIPELINE_NOT_FOUND (a task is a named part of a pipeline); `taskName` says which.
 */
export class TaskNotFoundError extends PipelineRegistryError {
  /** `registered`: the task names of the process that looked (a worker's, when it comes back from a job). */
  constructor(
    readonly taskName: string,
    registered: readonly string[] = listTasks(),
  ) {
    super('PIPELINE_NOT_FOUND', `no task named "${taskName}" is registered on the worker`, `start the worker with --pipelines <the module that registers it> (registered there: ${registered.join(', ') || '(none)'})`);
  }
}

/** @throws TaskNotFoundError */
export function getTask(name: string): RegisteredTask<unknown, unknown> {
  const task = registry.get(name);
  if (!task) throw new TaskNotFoundError(name);
  return task;
}

/** Is this exact task object the one registered under its name (so a remote worker would run the same code)? */
export function isRegisteredTask(task: ExecutorTask<unknown, unknown>): task is RegisteredTask<unknown, unknown> {
  return registry.get(task.name) === task;
}

export function listTasks(): string[] {
  return [...registry.keys()].sort();
}

/** The context of a registered task run in this process: models resolved here, no flow children. */
function localTaskContext(step: StepContext): TaskContext {
  return { ...step, childrenValues: [], model: (spec, contextWindow) => resolveModel(spec, { contextWindow }) };
}
