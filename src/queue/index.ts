/**
 * tome/queue: where pipeline steps run. The contract ({@link Executor}) and the embedded default
 * ({@link InProcessExecutor}); the Redis/BullMQ executor for running steps on many machines implements the same
 * contract.
 */
export type { Executor, ExecutorTask, ExecutorRunOptions, StepContext, StepEvent, RetryPolicy } from '../executor/executor.js';
export { InProcessExecutor, DEFAULT_RETRY_POLICY, type InProcessExecutorOptions } from '../executor/in-process-executor.js';
export { isTransientError } from '../executor/transient-errors.js';
