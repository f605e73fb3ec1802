/**
 * tome/queue: where work runs. In-process: the {@link Executor} contract and its embedded default. On Redis with
 * BullMQ: {@link TomeQueue} (producers: submit documents, follow them, fetch results; remote models whose calls run
 * on workers) and {@link TomeWorker} (serve one model's calls and run document jobs).
 */
export type { Executor, ExecutorTask, ExecutorRunOptions, StepContext, StepEvent, RetryPolicy } from '../executor/executor.js';
export { InProcessExecutor, DEFAULT_RETRY_POLICY, type InProcessExecutorOptions } from '../executor/in-process-executor.js';
export { isTransientError } from '../executor/transient-errors.js';
export { resolveConnection, redact, DEFAULT_QUEUE_PREFIX, type QueueConnectionOptions, type ResolvedConnection } from './connection.js';
export { TomeQueue, DEFAULT_RETENTION_SECONDS, type SubmitOptions, type JobStatus, type JobState } from './tome-queue.js';
export { TomeWorker, type TomeWorkerOptions } from './tome-worker.js';
export { RemoteChatModel, MODEL_CALL_ATTEMPTS } from './remote-chat-model.js';
export { RemoteScorer } from './remote-scorer.js';
export { MAX_PAYLOAD_BYTES, checkModelCallJob, checkScoreJob, checkDocumentJob, type ScoreJob, type ModelCallJob, type ModelCallResult, type DocumentJob } from './payload.js';
export { DOCUMENT_QUEUE, modelCallQueue } from './queue-names.js';
export { startDashboard, discoverQueues, DASHBOARD_DEFAULT_PORT, type Dashboard, type DashboardOptions } from './dashboard.js';
