/**
 * BullMQ sandboxed processor for model calls: runs in a worker thread, so a model that blocks its event loop
 * (local inference) never stalls the main thread's lock renewal. Each thread resolves its model once, as it loads
 * (plugins, weights): a thread that TomeWorker starts ahead of the first calls is then ready to answer them.
 */
import type { SandboxedJob } from 'bullmq';
import { loadPlugins } from '../plugins.js';
import { resolveModel } from '../models/model-spec.js';
import type { ModelHandle } from '../models/model-handle.js';
import { THREAD_CONTEXT_WINDOW_ENV, THREAD_MODEL_ENV, THREAD_PLUGINS_ENV } from './model-call-processor-file.js';
import type { ContinuationScores } from '../models/prompt-scorer.js';
import { runModelJob } from './model-call-runner.js';
import type { ModelCallResult } from './payload.js';


async function threadModel(): Promise<ModelHandle> {
  const spec = process.env[THREAD_MODEL_ENV];
  if (!spec) throw new Error(`${THREAD_MODEL_ENV} is not set: start sandboxed workers through TomeWorker`);
  await loadPlugins(JSON.parse(process.env[THREAD_PLUGINS_ENV] ?? '[]') as string[]);
  const contextWindow = Number(process.env[THREAD_CONTEXT_WINDOW_ENV]);
  return resolveModel(spec, Number.isInteger(contextWindow) && contextWindow > 0 ? { contextWindow } : {});
}

const model = threadModel();
// A model that cannot be resolved fails each job that needs it, with its own message, not the thread's start.
await model.then(
  () => undefined,
  () => undefined,
);

export default async function processModelCall(job: SandboxedJob): Promise<ModelCallResult | ContinuationScores> {
  return runModelJob(job.name, job.data, await model);
}
