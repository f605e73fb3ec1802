import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { loadDocument } from '../documents.js';
import { AbortedError, ModelSpecError } from '../errors.js';
import type { ModelHandle } from '../models/model-handle.js';
import { modelFor } from './queue-commands.js';
import { booookScore } from '../../eval/booookscore.js';
import { CellStore } from '../../eval/cell-store.js';
import { writeGridCharts } from '../../eval/charts.js';
import { runEvalGrid, type GridEvent, type ModelSource } from '../../eval/grid.js';
import { HAYSTACK_KINDS, type HaystackKind } from '../../eval/haystack.js';
import { formatLength, parseLengths } from '../../eval/lengths.js';
import { parseMethods } from '../../eval/methods.js';
import { registerEngineSettings, resolveModelWithSettings, splitModelSettings, type ModelSettings } from '../../eval/model-settings.js';
import { renderMarkdownReport, summarizeCells } from '../../eval/report.js';
import { factCoverage, lengthCompliance } from '../../eval/summary-metrics.js';
import { EVAL_TASKS, evalTask } from '../../eval/tasks/index.js';

interface EvalOptions {
  model: string;
  methods: string;
  lengths: string;
  samples: number;
  seed: number;
  haystack: HaystackKind;
  concurrency: number;
  contextWindow?: number;
  queue?: string;
  prefix?: string;
  out?: string;
  json?: boolean;
}

interface ScoreSummaryOptions {
  judge: string;
  budget?: number;
  facts?: string;
  concurrency: number;
  contextWindow?: number;
  json?: boolean;
}

/**
 * Engine settings the local `onnx:` engine takes from grid methods, mapped onto its open options:
 * `attention=blocks|streaming|knn|full`, `rope=yarn:4` (any `--rope` value), and `attn-<option>=value` for one
 * attention default (`attn-topK=8`, `attn-sinks=4`; the names of `--attention-opts`). Any other key fails its cells
 * with a typed MODEL_SPEC_INVALID naming the setting, instead of being silently ignored.
 */
registerEngineSettings('onnx', async (rest, settings, options) => {
  let attentionMode: string | undefined;
  const attentionOptions: Record<string, string> = {};
  let ropeOverride: string | undefined;
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'attention') attentionMode = value;
    else if (key === 'rope') ropeOverride = value;
    else if (key.startsWith('attn-') && key.length > 'attn-'.length) attentionOptions[key.slice('attn-'.length)] = value;
    else throw new ModelSpecError('MODEL_SPEC_INVALID', `onnx:${rest}`, `the onnx engine takes no setting ${key}=${value}`, 'use attention=MODE, rope=TYPE:FACTOR or attn-<option>=VALUE (e.g. attn-topK=8)');
  }
  const engineOptions = {
    ...(attentionMode !== undefined || Object.keys(attentionOptions).length > 0 ? { attention: { mode: attentionMode ?? 'full', options: attentionOptions } } : {}),
    ...(ropeOverride !== undefined ? { ropeOverride } : {}),
  };
  const { resolveOnnxModel } = await import('../../inference/langchain/onnx-provider.js');
  return resolveOnnxModel(rest, options, engineOptions);
});

/** Opens models for the grid: locally with settings, or on tome workers (--queue), where only `window` applies. */
function modelSource(options: EvalOptions): ModelSource {
  return async (settings: ModelSettings) => {
    if (options.queue === undefined) return { model: await resolveModelWithSettings(options.model, settings, { contextWindow: options.contextWindow }), close: async () => {} };
    const { options: common, engine } = splitModelSettings(settings);
    if (Object.keys(engine).length > 0) throw new ModelSpecError('MODEL_SPEC_INVALID', options.model, 'engine settings cannot travel to queue workers', 'run the grid without --queue to compare engine settings');
    return modelFor(options.model, { queue: options.queue, prefix: options.prefix, contextWindow: common.contextWindow ?? options.contextWindow });
  };
}

/** A progress bar over the grid's cells on stderr (terminals only). */
class GridProgress {
  private readonly bar?: cliProgress.SingleBar;

  constructor(task: string, stream: NodeJS.WriteStream = process.stderr) {
    if (!stream.isTTY) return;
    this.bar = new cliProgress.SingleBar({ stream, format: `eval ${task} |{bar}| {value}/{total} cells | last: {last} | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 20 }, cliProgress.Presets.shades_classic);
  }

  handle(event: GridEvent): void {
    if (!this.bar) return;
    if (event.type === 'grid-start') this.bar.start(event.total, event.done, { last: '–' });
    else if (event.type === 'cell-end') this.bar.update(event.done, { last: `${event.record.method} ${formatLength(event.record.length)} → ${(event.record.score * 100).toFixed(0)}%` });
    else this.bar.stop();
  }

  stop(): void {
    this.bar?.stop();
  }
}

async function evaluate(taskName: string, options: EvalOptions): Promise<void> {
  const task = evalTask(taskName);
  const methods = parseMethods(options.methods);
  const lengths = parseLengths(options.lengths);
  const out = options.out ?? join('eval-results', task.name);
  const store = await CellStore.open(join(out, 'cells.jsonl'));
  const progress = new GridProgress(task.name);
  const controller = new AbortController();
  const onInterrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\ntome: stopping after the cells in flight are abandoned; finished cells are kept (Ctrl-C again to quit now)\n');
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  let result;
  try {
    result = await runEvalGrid({ task, methods, lengths, samples: options.samples, seed: options.seed, haystack: options.haystack, modelSpec: options.model, models: modelSource(options), store, concurrency: options.concurrency, signal: controller.signal, onEvent: (event) => progress.handle(event) });
  } finally {
    progress.stop();
    process.off('SIGINT', onInterrupt);
  }
  const rows = summarizeCells(result.cells);
  if (rows.length > 0) {
    const charts = await writeGridCharts(rows, out, `${task.name}, model ${options.model}, ${options.samples} sample(s) per length`);
    const command = `tome eval ${task.name} --model ${options.model} --methods ${methods.map((method) => method.label).join(',')} --lengths ${lengths.map(formatLength).join(',')} --samples ${options.samples} --seed ${options.seed} --haystack ${options.haystack}`;
    const report = renderMarkdownReport(result.cells, { task: task.name, model: options.model, haystack: options.haystack, samples: options.samples, seed: options.seed, command, charts: charts.map((chart) => ({ title: chart.title, file: relative(out, chart.svg) })) });
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'report.md'), report);
    process.stderr.write(`tome: wrote ${join(out, 'report.md')}, ${charts.length * 2} charts and ${join(out, 'cells.jsonl')}\n`);
    process.stdout.write(options.json ? `${JSON.stringify({ task: task.name, model: options.model, haystack: options.haystack, samples: options.samples, seed: options.seed, rows, cells: result.cells })}\n` : report);
  }
  if (result.interrupted) throw new AbortedError(new Error(`interrupted with ${result.cells.length} cells finished; rerun the same command to resume`));
}

async function scoreSummary(file: string, options: ScoreSummaryOptions): Promise<void> {
  const document = await loadDocument(file);
  const judge: ModelHandle = (await modelFor(options.judge, { contextWindow: options.contextWindow })).model;
  if (judge.extractive) process.stderr.write('tome: warning: the extractive engine is not a language model and cannot judge coherence; pass --judge <provider>:<model> for a meaningful score\n');
  const coherence = await booookScore(document.text, judge, { concurrency: options.concurrency });
  const length = options.budget === undefined ? undefined : lengthCompliance(document.text, options.budget, judge.tokenCounter);
  const facts = options.facts === undefined ? undefined : factCoverage(document.text, (await readFile(options.facts, 'utf8')).split('\n').map((line) => line.trim()).filter((line) => line !== '').map((line) => ({ sentence: line, mustContain: line.split('|').map((word) => word.trim()).filter((word) => word !== '') })));
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ coherence, ...(length ? { length } : {}), ...(facts ? { facts } : {}) })}\n`);
    return;
  }
  const lines = [`BooookScore coherence: ${(coherence.score * 100).toFixed(1)} (${coherence.sentences - coherence.confusing} of ${coherence.sentences} sentences without confusion; judge ${coherence.judge})`];
  for (const [type, count] of Object.entries(coherence.byType)) lines.push(`  ${type}: ${count}`);
  if (length) lines.push(`length: ${length.tokens} tokens of a ${length.budget}-token budget (${(length.ratio * 100).toFixed(0)}%, ${length.withinBudget ? 'within' : 'over'} budget)`);
  if (facts) lines.push(`planted facts covered: ${facts.covered.length} of ${facts.covered.length + facts.missed.length} (${(facts.coverage * 100).toFixed(0)}%)`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `tome eval` and `tome score-summary`. */
export function addEvalCommands(program: Command, parsers: { wholeNumber: (minimum: number) => (value: string) => number }): void {
  const { wholeNumber } = parsers;
  program
    .command('eval')
    .description('compare ask methods on generated long-context tasks: accuracy, cost and time per length, as a report with charts')
    .argument('<task>', `one of ${EVAL_TASKS.map((task) => task.name).join(', ')}`)
    .option('--model <spec>', 'extractive (offline default), <provider>:<model>, onnx:<dir>', 'extractive')
    .option('--methods <list>', 'ask methods, comma-separated, each optionally method@key=value+key=value (e.g. rag@k=10, truncate@window=32768, truncate@attention=blocks for onnx: models)', 'truncate,rag,coa')
    .option('--lengths <list>', 'document lengths in tokens (k = 1024, m = 1048576)', '4k,16k,64k')
    .option('--samples <n>', 'samples per length; needle depths are swept evenly over them', wholeNumber(1), 5)
    .option('--seed <n>', 'seed of the generated samples', wholeNumber(0), 1)
    .addOption(new Option('--haystack <kind>', 'what fills the space around needles').choices(HAYSTACK_KINDS).default('filler'))
    .option('--concurrency <n>', 'cells run at once (and model calls in flight within each)', wholeNumber(1), 1)
    .option('--context-window <tokens>', "the model's context window (a method's @window= overrides it)", wholeNumber(256))
    .option('--queue <url>', 'run the model calls on tome workers at this Redis URL')
    .option('--prefix <prefix>', 'key prefix of the queues, with --queue')
    .option('--out <dir>', 'where cells.jsonl, report.md and the charts go; a rerun resumes from cells.jsonl (default eval-results/<task>)')
    .option('--json', 'print the raw table (rows and cells) as JSON instead of the report')
    .action(evaluate);

  program
    .command('score-summary')
    .description('BooookScore coherence of a summary (a judge model checks each sentence), with optional length and fact checks')
    .argument('<summary>', 'UTF-8 text file with the summary')
    .requiredOption('--judge <spec>', 'the judge model, e.g. openai:gpt-4o-mini or ollama:llama3.1')
    .option('--budget <tokens>', 'report length compliance against this token budget', wholeNumber(1))
    .option('--facts <file>', 'planted facts, one per line, written as the words a summary must contain separated by |')
    .option('--concurrency <n>', 'judge calls in flight at once', wholeNumber(1), 4)
    .option('--context-window <tokens>', "the judge's context window", wholeNumber(256))
    .option('--json', 'print one JSON object')
    .action(scoreSummary);
}
