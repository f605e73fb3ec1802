import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { loadDocument } from '../documents.js';
import { AbortedError, InvalidOptionError, ModelSpecError } from '../errors.js';
import type { ModelHandle } from '../models/model-handle.js';
import { modelFor } from './queue-commands.js';
import { booookScore } from '../../eval/booookscore.js';
import { CellStore, type CellRecord } from '../../eval/cell-store.js';
import { writeGridCharts } from '../../eval/charts.js';
import { runEvalGrid, type GridEvent, type ModelSource } from '../../eval/grid.js';
import { HAYSTACK_KINDS, type HaystackKind } from '../../eval/haystack.js';
import { formatLength, parseLengths } from '../../eval/lengths.js';
import { parseMethods, parseSummaryMethods } from '../../eval/methods.js';
import { registerEngineSettings, resolveModelWithSettings, splitModelSettings, type ModelSettings } from '../../eval/model-settings.js';
import { renderMarkdownReport, summarizeCells } from '../../eval/report.js';
import { factCoverage, lengthCompliance } from '../../eval/summary-metrics.js';
import { DEFAULT_PLANTED_FACTS, EVAL_TASK_NAMES, evalTask, SUMMARY_TASK } from '../../eval/tasks/index.js';
import { runSummaryGrid, type SummaryGridOptions } from '../../eval/summary-grid.js';
import { BOOK_SUMMARY_DEFAULTS } from '../../pipelines/book-summary.js';

interface EvalOptions {
  model: string;
  methods?: string;
  lengths: string;
  samples: number;
  seed: number;
  haystack?: HaystackKind;
  judge?: string;
  facts?: number;
  summaryTokens?: number;
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
 * `attention=blocks|streaming|knn|full`, `attn-<option>=value` for one attention option (`attn-topK=8`,
 * `attn-sinks=4`, `attn-offload=disk`: the names of `--attention-opts`), `rope=TYPE:FACTOR` (`rope=yarn:4`) and
 * `rope-<parameter>=value` for the extra parameters `--rope` takes after commas (`rope-beta_fast=16`), since a
 * comma separates methods. Any other key fails its cells with a typed MODEL_SPEC_INVALID naming the setting,
 * instead of being silently ignored; values the engine refuses fail them with the engine's own typed error.
 */
registerEngineSettings('onnx', async (rest, settings, options) => {
  let attentionMode: string | undefined;
  const attentionOptions: Record<string, string> = {};
  let ropeOverride: string | undefined;
  const ropeParameters: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'attention') attentionMode = value;
    else if (key === 'rope') ropeOverride = value;
    else if (key.startsWith('attn-') && key.length > 'attn-'.length) attentionOptions[key.slice('attn-'.length)] = value;
    else if (key.startsWith('rope-') && key.length > 'rope-'.length) ropeParameters.push(`${key.slice('rope-'.length)}=${value}`);
    else throw new ModelSpecError('MODEL_SPEC_INVALID', `onnx:${rest}`, `the onnx engine takes no setting ${key}=${value}`, 'use attention=MODE, attn-<option>=VALUE (e.g. attn-topK=8), rope=TYPE:FACTOR or rope-<parameter>=VALUE (e.g. rope-beta_fast=16)');
  }
  if (ropeParameters.length > 0) {
    if (ropeOverride === undefined) throw new ModelSpecError('MODEL_SPEC_INVALID', `onnx:${rest}`, `${ropeParameters.map((parameter) => `rope-${parameter}`).join(', ')} without rope=TYPE:FACTOR`, 'add rope=TYPE:FACTOR to the method, e.g. truncate@rope=yarn:4+rope-beta_fast=16');
    ropeOverride = [ropeOverride, ...ropeParameters].join(',');
  }
  const engineOptions = {
    ...(attentionMode !== undefined || Object.keys(attentionOptions).length > 0 ? { attention: { mode: attentionMode ?? 'full', options: attentionOptions } } : {}),
    ...(ropeOverride !== undefined ? { ropeOverride } : {}),
  };
  const { resolveOnnxModel } = await import('../../inference/langchain/onnx-provider.js');
  return resolveOnnxModel(rest, options, engineOptions);
});

/** Stop a local engine behind a handle (an `onnx:` model's worker thread and weights); other models hold nothing. */
async function releaseModel(model: ModelHandle): Promise<void> {
  const engine = (model.chatModel as { engine?: { dispose?: () => Promise<void> } }).engine;
  if (typeof engine?.dispose === 'function') await engine.dispose();
}

/** Opens models for the grid: locally with settings, or on tome workers (--queue), where only `window` applies. */
function modelSource(options: EvalOptions): ModelSource {
  return async (settings: ModelSettings) => {
    if (options.queue === undefined) {
      const model = await resolveModelWithSettings(options.model, settings, { contextWindow: options.contextWindow });
      return { model, close: () => releaseModel(model) };
    }
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

/** `--judge`: absent → the model itself; `none` → no coherence; else that model, opened once (on the queue with --queue). */
function judgeFor(options: EvalOptions): SummaryGridOptions['judge'] {
  const spec = options.judge;
  if (spec === undefined) return 'model';
  if (spec === 'none') return 'none';
  return {
    spec,
    open: async () => {
      const opened = await modelFor(spec, { queue: options.queue, prefix: options.prefix });
      return { model: opened.model, close: async () => (await releaseModel(opened.model), await opened.close()) };
    },
  };
}

/** Why a summary grid has no coherence numbers, for the report. */
function unjudgedReason(options: EvalOptions, cells: readonly CellRecord[]): string {
  if (options.judge === 'none') return 'no judge (--judge none)';
  // With the default judge, a summary with sentences left unjudged means the model was the extractive engine.
  if (options.judge === undefined && cells.some((cell) => (cell.summary?.sentences ?? 0) > 0)) return `the judge defaults to the model, and \`${options.model}\` is tome's extractive engine, which cannot judge; pass --judge <provider>:<model>`;
  return 'no summary was judged (every cell failed or wrote no sentence)';
}

async function evaluate(taskName: string, options: EvalOptions): Promise<void> {
  const summaryTask = taskName === SUMMARY_TASK;
  const task = summaryTask ? undefined : evalTask(taskName);
  const name = task?.name ?? SUMMARY_TASK;
  if (!summaryTask) {
    const summaryOnly = (['judge', 'facts', 'summaryTokens'] as const).find((key) => options[key] !== undefined);
    if (summaryOnly) throw new InvalidOptionError(`--${summaryOnly.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`, options[summaryOnly], 'only with the summary task (tome eval summary)');
  }
  const haystack = options.haystack ?? (summaryTask ? 'moby-dick' : 'filler');
  const askMethods = summaryTask ? undefined : parseMethods(options.methods ?? 'truncate,rag,coa');
  const summaryMethods = summaryTask ? parseSummaryMethods(options.methods ?? 'hierarchical,incremental') : undefined;
  const labels = (askMethods ?? summaryMethods ?? []).map((method) => method.label);
  const lengths = parseLengths(options.lengths);
  const facts = options.facts ?? DEFAULT_PLANTED_FACTS;
  const budget = options.summaryTokens ?? BOOK_SUMMARY_DEFAULTS.summaryTokens;
  const out = options.out ?? join('eval-results', name);
  const store = await CellStore.open(join(out, 'cells.jsonl'));
  const progress = new GridProgress(name);
  const controller = new AbortController();
  const onInterrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\ntome: stopping after the cells in flight are abandoned; finished cells are kept (Ctrl-C again to quit now)\n');
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  let result;
  try {
    const grid = { lengths, samples: options.samples, seed: options.seed, haystack, modelSpec: options.model, models: modelSource(options), store, concurrency: options.concurrency, signal: controller.signal, onEvent: (event: GridEvent) => progress.handle(event) };
    result = summaryMethods ? await runSummaryGrid({ ...grid, methods: summaryMethods, facts, summaryTokens: budget, judge: judgeFor(options) }) : await runEvalGrid({ ...grid, task: task!, methods: askMethods! });
  } finally {
    progress.stop();
    process.off('SIGINT', onInterrupt);
  }
  const rows = summarizeCells(result.cells);
  if (rows.length > 0) {
    const judge = result.cells.find((cell) => cell.summary?.judge)?.summary?.judge ?? null;
    const summary = summaryTask ? { facts, budget, judge, ...(judge ? {} : { unjudged: unjudgedReason(options, result.cells) }) } : undefined;
    const charts = await writeGridCharts(rows, out, `${name}, model ${options.model}${summaryTask ? `, judge ${judge ?? 'none'}` : ''}, ${options.samples} sample(s) per length`);
    const summaryFlags = summaryTask ? ` --facts ${facts} --summary-tokens ${budget}${options.judge === undefined ? '' : ` --judge ${options.judge}`}` : '';
    const command = `tome eval ${name} --model ${options.model} --methods ${labels.join(',')} --lengths ${lengths.map(formatLength).join(',')} --samples ${options.samples} --seed ${options.seed} --haystack ${haystack}${summaryFlags}`;
    const report = renderMarkdownReport(result.cells, { task: name, model: options.model, haystack, samples: options.samples, seed: options.seed, command, charts: charts.map((chart) => ({ title: chart.title, file: relative(out, chart.svg) })), ...(summary ? { summary } : {}) });
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'report.md'), report);
    if (summary && !judge) process.stderr.write(`tome: coherence not judged: ${summary.unjudged}\n`);
    process.stderr.write(`tome: wrote ${join(out, 'report.md')}, ${charts.length * 2} charts and ${join(out, 'cells.jsonl')}\n`);
    process.stdout.write(options.json ? `${JSON.stringify({ task: name, model: options.model, haystack, samples: options.samples, seed: options.seed, ...(summary ? { summary } : {}), rows, cells: result.cells })}\n` : report);
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
    .argument('<task>', `one of ${EVAL_TASK_NAMES.join(', ')}`)
    .option('--model <spec>', 'extractive (offline default), <provider>:<model>, onnx:<dir>', 'extractive')
    .option('--methods <list>', 'methods, comma-separated, each optionally method@key=value+key=value: ask methods (default truncate,rag,coa; e.g. rag@k=10, truncate@window=32768, truncate@attention=blocks+rope=yarn:4 for onnx: models), or for summary hierarchical, incremental, coa (default hierarchical,incremental; e.g. incremental@chunk-tokens=1024+summary-tokens=500)')
    .option('--lengths <list>', 'document lengths in tokens (k = 1024, m = 1048576)', '4k,16k,64k')
    .option('--samples <n>', 'samples per length; needle depths are swept evenly over them', wholeNumber(1), 5)
    .option('--seed <n>', 'seed of the generated samples', wholeNumber(0), 1)
    .addOption(new Option('--haystack <kind>', 'what fills the space around needles (default filler; moby-dick for summary)').choices(HAYSTACK_KINDS))
    .option('--judge <spec>', 'summary: the model that judges BooookScore coherence (default the --model itself; the extractive engine cannot judge, so its coherence is n/a), or none')
    .option('--facts <n>', `summary: facts planted in each document (default ${DEFAULT_PLANTED_FACTS})`, wholeNumber(1))
    .option('--summary-tokens <tokens>', `summary: the summary budget of methods without @summary-tokens= (default ${BOOK_SUMMARY_DEFAULTS.summaryTokens})`, wholeNumber(32))
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
