/**
 * tome/queue: where work runs. In-process: the {@link Executor} contract and its embedded default. On Redis with
 * BullMQ: {@link RedisExecutor} (registered tasks and flows on the workers), {@link TomeQueue} (producers: submit documents, follow them, fetch results; remote models whose calls run
 * on workers) and {@link TomeWorker} (serve one model's calls and run document jobs).
 */
export type { Executor, ExecutorTask, ExecutorRunOptions, StepContext, StepEvent, RetryPolicy } from '../executor/executor.js';
export { InProcessExecutor, DEFAULT_RETRY_POLICY, type InProcessExecutorOptions } from '../executor/in-process-executor.js';
export type { FlowNode, FlowExecutor } from '../executor/executor.js';
export { canRunFlows } from '../executor/executor.js';
export { registerTask, getTask, isRegisteredTask, listTasks, TaskNotFoundError, type TaskContext, type TaskDefinition, type RegisteredTask } from '../executor/task-registry.js';
export { RedisExecutor, taskJobId, type RedisExecutorOptions } from './redis-executor.js';
export { isTransientError } from '../executor/transient-errors.js';
export { resolveConnection, redact, DEFAULT_QUEUE_PREFIX, type QueueConnectionOptions, type ResolvedConnection } from './connection.js';
export { TomeQueue, DEFAULT_RETENTION_SECONDS, type SubmitOptions, type JobStatus, type JobState } from './tome-queue.js';
export { TomeWorker, type TomeWorkerOptions } from './tome-worker.js';
export { RemoteChatModel, MODEL_CALL_ATTEMPTS } from './remote-chat-model.js';
export { RemoteScorer } from './remote-scorer.js';
export { MAX_PAYLOAD_BYTES, checkModelCallJob, checkScoreJob, checkDocumentJob, checkTaskJob, type TaskJob, type ScoreJob, type ModelCallJob, type ModelCallResult, type DocumentJob } from './payload.js';
export { DOCUMENT_QUEUE, TASK_QUEUE, modelCallQueue } from './queue-names.js';
export { startDashboard, discoverQueues, DASHBOARD_DEFAULT_PORT, type Dashboard, type DashboardOptions } from './dashboard.js';
