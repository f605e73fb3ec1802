import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidOptionError } from '../errors.js';
import { loadDocument } from '../documents.js';
import { resolveModel } from '../models/model-spec.js';
import type { ModelHandle } from '../models/model-handle.js';
import { TomeQueue } from '../queue/tome-queue.js';
import { TomeWorker } from '../queue/tome-worker.js';
import { RedisExecutor } from '../queue/redis-executor.js';
import type { Executor } from '../executor/executor.js';
import { DASHBOARD_DEFAULT_PORT, startDashboard } from '../queue/dashboard.js';
import { resolveConnection } from '../queue/connection.js';
import { loadPlugins } from '../plugins.js';

/** Pipelines behind `tome submit --task summarize --method …`. */
const SUMMARY_PIPELINES: Record<string, string> = {
  hierarchical: 'hierarchical-summary',
  incremental: 'incremental-summary',
  coa: 'chain-of-agents-summary',
  scm: 'scm-summary',
};

interface QueueOptions {
  queue: string;
  prefix?: string;
}

/**
 * The model and executor for a command: the spec resolved here and the in-process executor (`executor` left
 * undefined), or — with `--queue` — a remote model whose calls run on the workers serving that spec, and a
 * {@link RedisExecutor} that runs registered tasks and flows (a hierarchical summary's tree) on the workers. The
 * pipeline itself runs here either way.
 */
export async function modelFor(spec: string, options: { queue?: string; prefix?: string; contextWindow?: number }): Promise<{ model: ModelHandle; executor?: Executor; close: () => Promise<void> }> {
  if (options.queue === undefined) return { model: await resolveModel(spec, { contextWindow: options.contextWindow }), close: async () => {} };
  const queue = await TomeQueue.connect({ url: options.queue, prefix: options.prefix });
  // A local model whose checkpoint is also here: budget prompts with its own tokenizer and window, as the workers
  // do, so segments (and so results) are the same as in-process. Otherwise approximate counting.
  const local = spec.startsWith('onnx:') ? await describeLocalModel(spec.slice('onnx:'.length)) : null;
  const model = await queue.remoteModel(spec, options.contextWindow ?? local?.contextWindow, local?.tokenCounter);
  return { model, executor: new RedisExecutor(queue), close: () => queue.close() };
}

async function describeLocalModel(rest: string) {
  const { describeOnnxModel } = await import('../../inference/langchain/onnx-provider.js');
  return describeOnnxModel(rest);
}

async function withQueue<T>(options: QueueOptions, work: (queue: TomeQueue) => Promise<T>): Promise<T> {
  const queue = await TomeQueue.connect({ url: options.queue, prefix: options.prefix });
  try {
    return await work(queue);
  } finally {
    await queue.close();
  }
}

/** `tome worker`: serve a model's calls and run document jobs until SIGINT/SIGTERM, then drain. */
async function worker(options: QueueOptions & { model: string; contextWindow?: number; concurrency: number; pipelines: string[]; documents: boolean; tasks: boolean; threads: boolean }): Promise<void> {
  await loadPlugins(options.pipelines);
  const model = await resolveModel(options.model, { contextWindow: options.contextWindow });
  const threads = options.threads ? { plugins: options.pipelines.map((module) => resolve(module)) } : undefined;
  const running = await TomeWorker.start({ connection: { url: options.queue, prefix: options.prefix }, model, concurrency: options.concurrency, documents: options.documents, tasks: options.tasks, threads });
  process.stderr.write(`tome worker: serving ${model.spec} (concurrency ${options.concurrency}${threads ? ', model calls in worker threads' : ''})${options.documents ? ', document jobs' : ''}${options.tasks ? ', task steps' : ''}; Ctrl-C to drain and stop\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('tome worker: draining (finishing jobs in flight)…\n');
  await running.close();
}

async function submit(file: string, options: QueueOptions & { task: string; method?: string; question?: string; pipeline?: string; option: Record<string, string>; model: string; contextWindow?: number }): Promise<void> {
  const document = await loadDocument(file);
  let pipeline = options.pipeline;
  const pipelineOptions = { ...options.option };
  if (pipeline === undefined) {
    if (options.task === 'summarize') pipeline = SUMMARY_PIPELINES[options.method ?? 'hierarchical'];
    else if (options.task === 'ask') {
      if (options.question === undefined) throw new InvalidOptionError('--question', undefined, 'the question to ask, with --task ask');
      pipeline = `ask-${options.method ?? 'coa'}`;
      pipelineOptions.question = options.question;
    }
    if (pipeline === undefined) throw new InvalidOptionError('--task/--method', `${options.task}/${options.method}`, 'summarize with hierarchical|incremental|coa|scm, or ask with coa|scm|rag|truncate');
  }
  const id = await withQueue(options, (queue) => queue.submitDocument(document, { pipeline: pipeline!, options: pipelineOptions, model: options.model, contextWindow: options.contextWindow }));
  process.stdout.write(`${id}\n`);
}

async function status(id: string, options: QueueOptions & { json?: boolean }): Promise<void> {
  const state = await withQueue(options, (queue) => queue.getStatus(id));
  process.stdout.write(options.json ? `${JSON.stringify(state)}\n` : `${state.id}: ${state.state}${state.progress ? ` ${JSON.stringify(state.progress)}` : ''}${state.failedReason ? ` (${state.failedReason})` : ''}\n`);
}

async function result(id: string, options: QueueOptions & { wait?: boolean; json?: boolean }): Promise<void> {
  const value = await withQueue(options, (queue) => queue.getResult(id, { wait: options.wait }));
  const text = options.json ? JSON.stringify(value) : typeof value === 'object' && value !== null && typeof (value as { summary?: unknown }).summary === 'string' ? (value as { summary: string }).summary : typeof value === 'object' && value !== null && typeof (value as { answer?: unknown }).answer === 'string' ? (value as { answer: string }).answer : JSON.stringify(value, null, 2);
  process.stdout.write(`${text}\n`);
}

async function cancel(id: string, options: QueueOptions): Promise<void> {
  const removed = await withQueue(options, (queue) => queue.cancel(id));
  process.stdout.write(removed ? `${id}: cancelled\n` : `${id}: already running or finished; left as it is\n`);
}

/** `tome dashboard`: bull-board for tome's queues on 127.0.0.1 until Ctrl-C. */
async function dashboard(options: QueueOptions & { port: number }): Promise<void> {
  const running = await startDashboard({ connection: { url: options.queue, prefix: options.prefix }, port: options.port });
  process.stderr.write(`tome dashboard: ${running.url} (queues at ${resolveConnection({ url: options.queue, prefix: options.prefix }).redactedUrl}); Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await running.close();
}

/** Add the queue commands: worker, submit, status, result, cancel, dashboard. */
export function addQueueCommands(program: Command, parsers: { wholeNumber: (minimum: number) => (value: string) => number; keyValue: (value: string, previous: Record<string, string>) => Record<string, string>; collect: (value: string, previous: string[]) => string[] }): void {
  const queueOptions = (command: Command) =>
    command.requiredOption('--queue <url>', 'Redis URL, e.g. redis://127.0.0.1:6379 (rediss:// for TLS; password from the URL or TOME_REDIS_PASSWORD)').option('--prefix <prefix>', 'key prefix of tome\'s queues (default "{tome}", a Redis Cluster hash tag)');

  queueOptions(program.command('worker').description('serve model calls, task steps and document jobs from the queue until Ctrl-C, then drain'))
    .option('--model <spec>', 'the model this worker serves', 'extractive')
    .option('--context-window <tokens>', "the model's context window", parsers.wholeNumber(256))
    .option('--concurrency <n>', 'jobs in flight at once', parsers.wholeNumber(1), 4)
    .option('--pipelines <module>', 'module that registers custom pipelines, repeatable', parsers.collect, [])
    .option('--no-documents', 'take no document jobs')
    .option('--no-tasks', 'take no task steps (registered tasks and flows run by --queue commands, e.g. hierarchical summaries)')
    .option('--no-threads', 'answer model calls on the main thread (default: worker threads, so a busy engine never stalls lock renewal)')
    .action(worker);

  queueOptions(program.command('submit').description('queue a document for a pipeline run; prints the job id').argument('<file>', 'UTF-8 text file'))
    .option('--task <task>', 'summarize or ask', 'summarize')
    .option('--method <method>', 'summarize: hierarchical|incremental|coa|scm; ask: coa|scm|rag|truncate')
    .option('--question <text>', 'the question, with --task ask')
    .option('--pipeline <name>', 'any registered pipeline instead of --task/--method')
    .option('--option <key=value>', 'pipeline option, repeatable', parsers.keyValue, {})
    .option('--model <spec>', 'model the workers use', 'extractive')
    .option('--context-window <tokens>', "the model's context window", parsers.wholeNumber(256))
    .action(submit);

  queueOptions(program.command('status').description('state and progress of a submitted job').argument('<id>', 'job id from tome submit')).option('--json', 'print JSON').action(status);
  queueOptions(program.command('result').description('result of a submitted job').argument('<id>', 'job id from tome submit'))
    .option('--wait', 'wait until it finishes')
    .option('--json', 'print the whole result as JSON')
    .action(result);
  queueOptions(program.command('cancel').description('remove a job that has not started').argument('<id>', 'job id')).action(cancel);
  queueOptions(program.command('dashboard').description("serve a BullMQ dashboard (bull-board) for tome's queues on 127.0.0.1"))
    .option('--port <port>', 'port on 127.0.0.1 (0: any free port)', parsers.wholeNumber(0), DASHBOARD_DEFAULT_PORT)
    .action(dashboard);
}
