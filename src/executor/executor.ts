/**
 * Runs many independent steps of one kind — leaf summaries, segment scores — with a concurrency limit,
 * cancellation, retries for transient failures, and progress events. In-process is the embedded default; the
 * Redis-backed executor (tome/queue) implements the same contract, which is why a step is a *named* task plus
 * JSON-serializable inputs rather than an arbitrary closure: a remote worker looks the task up by name.
 */
export interface Executor {
  /** Run `task` on every input; results come back in input order. Rejects with the first non-retryable failure. */
  map<Input, Output>(task: ExecutorTask<Input, Output>, inputs: readonly Input[], options?: ExecutorRunOptions): Promise<Output[]>;
}

export interface ExecutorTask<Input, Output> {
  /** Stable name: progress events, error messages and remote workers use it. */
  readonly name: string;
  run(input: Input, context: StepContext): Promise<Output>;
}

export interface StepContext {
  /** Position of the input in the list given to `map`. */
  readonly index: number;
  /** 1 on the first try. */
  readonly attempt: number;
  readonly signal?: AbortSignal;
}

export interface RetryPolicy {
  /** Retries after the first attempt. Default 3. */
  retries: number;
  /** Delay before the first retry, in ms. Default 500. */
  minDelayMs: number;
  /** Cap on any delay, in ms. Default 30 000. */
  maxDelayMs: number;
  /** Growth of the delay per retry. Default 2. */
  factor: number;
  /** Which failures are worth retrying. Default: {@link isTransientError}. */
  shouldRetry: (error: unknown) => boolean;
}

export interface ExecutorRunOptions {
  /** Most steps in flight at once. Default: the executor's own (in-process: 4). */
  concurrency?: number;
  signal?: AbortSignal;
  retry?: Partial<RetryPolicy>;
  /** Called synchronously for every step event; must not throw. */
  onEvent?: (event: StepEvent) => void;
}

export type StepEvent =
  | { type: 'step-start'; task: string; index: number; attempt: number }
  | { type: 'step-retry'; task: string; index: number; attempt: number; delayMs: number; error: string }
  | { type: 'step-end'; task: string; index: number; attempt: number; elapsedMs: number }
  | { type: 'step-error'; task: string; index: number; attempt: number; error: string };

/**
 * One step of a flow: a registered task and its input, run once all of its children have finished. The parent's
 * task sees the children's outputs, in the order given here, as `context.childrenValues`.
 */
export interface FlowNode {
  readonly task: ExecutorTask<unknown, unknown>;
  readonly input: unknown;
  readonly children?: readonly FlowNode[];
}

/**
 * An executor that can run a tree of steps as one unit (on Redis: a BullMQ flow, parents waiting on their
 * children). Every task in the tree must be registered (registerTask, ./task-registry.ts): the steps run wherever the
 * executor puts them. `onEvent` reports each node, numbered in depth-first, children-first order.
 */
export interface FlowExecutor extends Executor {
  runFlow<Output>(root: FlowNode, options?: ExecutorRunOptions): Promise<Output>;
}

export function canRunFlows(executor: Executor): executor is FlowExecutor {
  return typeof (executor as Partial<FlowExecutor>).runFlow === 'function';
}
