#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadDocument } from '../documents.js';
import { getPipeline, listPipelines } from '../pipeline/registry.js';
import { bookSummary, SUMMARY_METHODS, type SummaryMethod, type SummaryResult } from '../../pipelines/index.js';
import { ASK_METHODS } from '../../pipelines/ask-methods.js';
import { CERTAINTY_MEASURES } from '../../agents/xl3m/certainty.js';
import { ask } from './ask-command.js';
import { chat } from './chat-command.js';
import { loadPlugins } from '../plugins.js';
import { addQueueCommands, modelFor } from './queue-commands.js';
import { addInferenceCommands } from './inference-commands.js';
import { addModelCommands } from './model-commands.js';
import { addEvalCommands } from './eval-commands.js';
import { registerModelProvider } from '../models/model-spec.js';
import { reportError } from './report-error.js';
import { runWithProgress } from './run-with-progress.js';

interface SharedOptions {
  model: string;
  queue?: string;
  prefix?: string;
  contextWindow?: number;
  concurrency: number;
  checkpoint?: string;
  out?: string;
  json?: boolean;
}

interface SummarizeOptions extends SharedOptions {
  plugin: string[];
  method: SummaryMethod;
  chunkTokens?: number;
  summaryTokens?: number;
}

interface RunOptions extends SharedOptions {
  option: Record<string, string>;
  plugin: string[];
}

function wholeNumber(minimum: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum) throw new InvalidArgumentError(`expected a whole number ≥ ${minimum}.`);
    return parsed;
  };
}

function finiteNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError('expected a number.');
  return parsed;
}

function keyValue(value: string, previous: Record<string, string>): Record<string, string> {
  const separator = value.indexOf('=');
  if (separator <= 0) throw new InvalidArgumentError('expected key=value.');
  return { ...previous, [value.slice(0, separator)]: value.slice(separator + 1) };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function addSharedOptions(command: Command): Command {
  return command
    .option('--model <spec>', 'extractive (offline default), <provider>:<model> (openai:gpt-4o-mini, ollama:llama3.1, …)', 'extractive')
    .option('--context-window <tokens>', "the model's context window (default: its profile, else 8192)", wholeNumber(256))
    .option('--concurrency <n>', 'independent model calls in flight at once', wholeNumber(1), 4)
    .option('--checkpoint <file>', 'record finished steps; rerunning the same command resumes')
    .option('--out <file>', 'write the result to a file instead of stdout')
    .option('--json', 'print one JSON object instead of text')
    .option('--queue <url>', 'run the model calls and task steps on tome workers at this Redis URL (the pipeline runs here)')
    .option('--prefix <prefix>', 'key prefix of the queues, with --queue');
}

async function emit(text: string, out: string | undefined): Promise<void> {
  if (out) {
    await writeFile(out, text.endsWith('\n') ? text : `${text}\n`);
    process.stderr.write(`tome: wrote ${out}\n`);
  } else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

async function summarize(file: string, options: SummarizeOptions): Promise<void> {
  await loadPlugins(options.plugin);
  const document = await loadDocument(file);
  const { model, executor, close } = await modelFor(options.model, options);
  try {
    const pipeline = bookSummary(options.method, { model, executor, concurrency: options.concurrency, checkpointPath: options.checkpoint }, { chunkTokens: options.chunkTokens, summaryTokens: options.summaryTokens });
    const result: SummaryResult = await runWithProgress(pipeline, document);
    await emit(options.json ? JSON.stringify(result) : result.summary, options.out);
  } finally {
    await close();
  }
}

async function run(name: string, file: string, options: RunOptions): Promise<void> {
  await loadPlugins(options.plugin);
  const registered = getPipeline(name);
  const document = await loadDocument(file);
  const { model, executor, close } = await modelFor(options.model, options);
  try {
    const pipeline = registered.create({ model, executor, concurrency: options.concurrency, checkpointPath: options.checkpoint }, options.option);
    const output = await runWithProgress(pipeline, document);
    await emit(options.json || typeof output !== 'string' ? renderOutput(output, options.json === true) : output, options.out);
  } finally {
    await close();
  }
}

/** Text output of `tome run`: a string as is, a result's `summary`/`answer` field, else JSON. */
function renderOutput(output: unknown, json: boolean): string {
  if (json) return JSON.stringify(output);
  if (typeof output === 'object' && output !== null) {
    const { summary, answer } = output as { summary?: unknown; answer?: unknown };
    if (typeof summary === 'string') return summary;
    if (typeof answer === 'string') return answer;
  }
  return JSON.stringify(output, null, 2);
}

// `--model onnx:<dir | owner/repo>` on every command; tome/inference (and onnxruntime-node) load only when used.
registerModelProvider('onnx', async (rest, options) => (await import('../../inference/langchain/onnx-provider.js')).resolveOnnxModel(rest, options));

export function buildProgram(): Command {
  const program = new Command('tome')
    .description('Reason over documents far longer than any context window.')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  addSharedOptions(
    program
      .command('summarize')
      .description('summarize a whole book or long document')
      .argument('<file>', 'UTF-8 text file')
      .addOption(new Option('--method <method>', 'hierarchical, incremental, coa (Chain-of-Agents) or scm (SCM ultra-long mode)').choices(SUMMARY_METHODS).default('hierarchical'))
      .option('--chunk-tokens <tokens>', 'most tokens per chunk (default 2048)', wholeNumber(64))
      .option('--summary-tokens <tokens>', 'token budget of the final summary (default 900)', wholeNumber(32))
      .option('--plugin <module>', 'module to import first (e.g. one that registers a model provider), repeatable', collect, []),
  ).action(summarize);

  addSharedOptions(
    program
      .command('ask')
      .description('answer a question about a long document')
      .argument('<file>', 'UTF-8 text file')
      .argument('[question]', 'the question (xl3m only: default the last --question-tokens tokens of the file)')
      .addOption(new Option('--method <method>', 'coa (Chain-of-Agents), scm (Self-Controlled Memory), rag, truncate or xl3m (key-context selection; onnx: models)').choices(ASK_METHODS).default('coa'))
      .option('--k <n>', 'rag/scm: segments or memories retrieved', wholeNumber(1))
      .option('--segment-tokens <tokens>', 'rag/scm/xl3m: tokens per segment (default 512)', wholeNumber(32))
      .option('--question-tokens <tokens>', 'xl3m without a question: the last this many tokens are the question (default 64)', wholeNumber(1))
      .option('--select <k|budget>', 'xl3m: keep the k most certain segments, or as many as fit the window (budget, default) or budget:<tokens>')
      .addOption(new Option('--measure <measure>', 'xl3m: certainty of the model on the question').choices(CERTAINTY_MEASURES).default('mean-entropy'))
      .option('--threshold <nats>', 'xl3m: keep only segments whose measure is at most this', finiteNumber)
      .option('--answer-words <words>', 'most words in the answer (default 130)', wholeNumber(1))
      .option('--memory <dir>', "scm: keep the document's memory here so later questions skip reading it")
      .option('--max-cu-tokens <tokens>', 'coa: most tokens per communication unit', wholeNumber(32))
      .option('--paths <n>', 'coa: reading paths, judged by the model', wholeNumber(1)),
  ).action(async (file: string, question: string | undefined, options) => {
    const text = await ask(file, question, options);
    // An empty text means the answer was already streamed to stdout; end its line.
    if (text === '') process.stdout.write('\n');
    else await emit(text, options.out);
  });

  program
    .command('chat')
    .description('talk about documents with a memory that survives restarts (Self-Controlled Memory)')
    .argument('[file]', 'a document to read into the session first')
    .requiredOption('--session <name>', 'session name: its memory lives in --sessions-dir/<name>')
    .option('--sessions-dir <dir>', 'where sessions live (default ~/.tome/sessions)')
    .option('--model <spec>', 'extractive (offline default), <provider>:<model>', 'extractive')
    .option('--context-window <tokens>', "the model's context window", wholeNumber(256))
    .option('--k <n>', 'memories activated per message (default 5)', wholeNumber(1))
    .option('--verbose', "print the controller's decisions on stderr")
    .action(chat);

  addSharedOptions(
    program
      .command('run')
      .description('run a registered pipeline (see `tome pipelines`) on a file')
      .argument('<name>', 'pipeline name')
      .argument('<file>', 'UTF-8 text file')
      .option('--option <key=value>', 'pipeline option, repeatable', keyValue, {})
      .option('--plugin <module>', 'module that registers pipelines (.js or .ts), repeatable', collect, []),
  ).action(run);

  program
    .command('pipelines')
    .description('list registered pipelines')
    .option('--plugin <module>', 'module that registers pipelines, repeatable', collect, [])
    .action(async (options: { plugin: string[] }) => {
      await loadPlugins(options.plugin);
      for (const pipeline of listPipelines()) process.stdout.write(`${pipeline.name.padEnd(24)} ${pipeline.description}\n`);
    });

  addQueueCommands(program, { wholeNumber, keyValue, collect });
  addInferenceCommands(program, { wholeNumber, collect });
  addModelCommands(program);
  addEvalCommands(program, { wholeNumber });

  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

/** True when this file is the program (bin link, `node dist/src/cli/main.js`, tsx), false when imported. */
function invokedDirectly(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedDirectly()) process.exitCode = await main();
