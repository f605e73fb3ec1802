import type { CellRecord } from './cell-store.js';
import { CONFUSION_TYPES } from './booookscore.js';
import { formatLength } from './lengths.js';

/** One point of the grid: a method at a length, over its samples. */
export interface GridRow {
  readonly method: string;
  readonly length: number;
  readonly samples: number;
  /** Mean score over the samples (failed cells count 0), in [0, 1]. */
  readonly accuracy: number;
  readonly failed: number;
  /** Means per sample. */
  readonly modelCalls: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly wallMs: number;
  /** Error codes of failed cells, distinct. */
  readonly errors: readonly string[];
  /** Summary cells only: quality measures over the cells that did not fail (undefined when all failed). */
  readonly summary?: SummaryRow;
}

/** Means of a summary grid point over its finished cells. */
export interface SummaryRow {
  /** Mean BooookScore coherence over the judged cells; null when none was judged. */
  readonly coherence: number | null;
  readonly judged: number;
  /** Mean summary tokens / budget. */
  readonly lengthRatio: number;
  /** Share of summaries within their budget. */
  readonly withinBudget: number;
  readonly summaryTokens: number;
  readonly budget: number;
  readonly sentences: number;
  readonly judgeCalls: number;
  readonly judgeInputTokens: number;
}

export interface ReportContext {
  readonly task: string;
  readonly model: string;
  readonly haystack: string;
  readonly samples: number;
  readonly seed: number;
  /** The command that reproduces the report, shown at the top. */
  readonly command?: string;
  /** Names of chart files written next to the report, shown as images. */
  readonly charts?: readonly { readonly title: string; readonly file: string }[];
  /** Summary grids: the task's settings, and why coherence is not judged when it is not. */
  readonly summary?: { readonly facts: number; readonly budget: number; readonly judge: string | null; readonly unjudged?: string };
}

const mean = (values: readonly number[]) => (values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length);

/** Cells → one row per (method, length), in the order methods first appear and lengths ascending. */
export function summarizeCells(cells: readonly CellRecord[]): GridRow[] {
  const groups = new Map<string, CellRecord[]>();
  for (const cell of cells) {
    const key = `${cell.method}\u0000${cell.length}`;
    groups.set(key, [...(groups.get(key) ?? []), cell]);
  }
  const methodOrder = [...new Set(cells.map((cell) => cell.method))];
  return [...groups.values()]
    .map((group) => ({
      method: group[0]!.method,
      length: group[0]!.length,
      samples: group.length,
      accuracy: mean(group.map((cell) => cell.score)),
      failed: group.filter((cell) => cell.error).length,
      modelCalls: mean(group.map((cell) => cell.modelCalls)),
      inputTokens: mean(group.map((cell) => cell.inputTokens)),
      outputTokens: mean(group.map((cell) => cell.outputTokens)),
      wallMs: mean(group.map((cell) => cell.wallMs)),
      errors: [...new Set(group.flatMap((cell) => (cell.error ? [cell.error.code] : [])))],
      ...summaryRow(group),
    }))
    .sort((a, b) => methodOrder.indexOf(a.method) - methodOrder.indexOf(b.method) || a.length - b.length);
}

function summaryRow(group: readonly CellRecord[]): { summary?: SummaryRow } {
  const measured = group.flatMap((cell) => (cell.summary && !cell.error ? [cell.summary] : []));
  if (measured.length === 0) return {};
  const judged = measured.flatMap((summary) => (summary.coherence === null ? [] : [summary.coherence]));
  return {
    summary: {
      coherence: judged.length === 0 ? null : mean(judged),
      judged: judged.length,
      lengthRatio: mean(measured.map((summary) => summary.lengthRatio)),
      withinBudget: mean(measured.map((summary) => (summary.withinBudget ? 1 : 0))),
      summaryTokens: mean(measured.map((summary) => summary.summaryTokens)),
      budget: mean(measured.map((summary) => summary.budget)),
      sentences: mean(measured.map((summary) => summary.sentences)),
      judgeCalls: mean(measured.map((summary) => summary.judgeCalls)),
      judgeInputTokens: mean(measured.map((summary) => summary.judgeInputTokens)),
    },
  };
}

/** Cost, output and time tables, per `unit` (question or summary). */
function costSections(rows: readonly GridRow[], unit: string, timeNote = ''): string[] {
  return [
    `## Cost: prompt tokens sent to the model per ${unit} (model calls)`,
    '',
    table(rows, (row) => `${compact(row.inputTokens)} (${callCount(row.modelCalls)})`),
    '',
    `## Output tokens per ${unit}`,
    '',
    table(rows, (row) => compact(row.outputTokens)),
    '',
    `## Wall time per ${unit}${timeNote}`,
    '',
    table(rows, (row) => duration(row.wallMs)),
  ];
}

function table(rows: readonly GridRow[], value: (row: GridRow) => string): string {
  const methods = [...new Set(rows.map((row) => row.method))];
  const lengths = [...new Set(rows.map((row) => row.length))].sort((a, b) => a - b);
  const cell = (method: string, length: number) => {
    const row = rows.find((candidate) => candidate.method === method && candidate.length === length);
    return row ? value(row) : '–';
  };
  return [`| method | ${lengths.map(formatLength).join(' | ')} |`, `| --- | ${lengths.map(() => '---:').join(' | ')} |`, ...methods.map((method) => `| ${method} | ${lengths.map((length) => cell(method, length)).join(' | ')} |`)].join('\n');
}

const compact = (value: number) => (value >= 10_000 ? `${(value / 1000).toFixed(0)}k` : value >= 1000 ? `${(value / 1000).toFixed(1)}k` : value.toFixed(0));

/** Accuracy by needle depth (rows) per method (columns), over all lengths: where in the text each method loses the needle. */
function depthTable(cells: readonly CellRecord[]): string | undefined {
  const withDepth = cells.filter((cell) => cell.depth !== undefined);
  if (withDepth.length === 0) return undefined;
  const methods = [...new Set(withDepth.map((cell) => cell.method))];
  const depths = [...new Set(withDepth.map((cell) => cell.depth!))].sort((a, b) => a - b);
  const rows = depths.map((depth) => `| ${(depth * 100).toFixed(0)}% | ${methods.map((method) => `${(mean(withDepth.filter((cell) => cell.method === method && cell.depth === depth).map((cell) => cell.score)) * 100).toFixed(0)}%`).join(' | ')} |`);
  return [`| depth | ${methods.join(' | ')} |`, `| ---: | ${methods.map(() => '---:').join(' | ')} |`, ...rows].join('\n');
}

const percent = (value: number) => `${(value * 100).toFixed(0)}%`;
const failedNote = (row: GridRow) => (row.failed > 0 ? ` (${row.failed} failed)` : '');
const callCount = (calls: number) => calls.toFixed(calls % 1 === 0 ? 0 : 1);
const duration = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

/** The Markdown report: what ran, accuracy / cost / time tables, per-depth accuracy, failures, charts. */
export function renderMarkdownReport(cells: readonly CellRecord[], context: ReportContext): string {
  const rows = summarizeCells(cells);
  const isSummary = context.summary !== undefined || cells.some((cell) => cell.summary !== undefined);
  const lines = [`# tome eval: ${context.task}`, ''];
  if (isSummary) {
    const settings = context.summary;
    const judging = settings?.judge ? `Coherence judged by \`${settings.judge}\` (one call per summary sentence).` : `Coherence not judged${settings?.unjudged ? `: ${settings.unjudged}` : ''}.`;
    lines.push(
      `Model \`${context.model}\`, haystack \`${context.haystack}\`, ${context.samples} sample(s) per length${settings ? `, ${settings.facts} planted facts per document, summary budget ${settings.budget} tokens (unless a method sets @summary-tokens=)` : ''}, seed ${context.seed}. Lengths are exact token counts of the document by the model's counter; ${cells.length} cells. ${judging}`,
    );
  } else {
    lines.push(`Model \`${context.model}\`, haystack \`${context.haystack}\`, ${context.samples} sample(s) per length (needle depths swept evenly from 0% to 100%), seed ${context.seed}. Lengths are exact token counts of the document by the model's counter; ${cells.length} cells.`);
  }
  if (context.command) lines.push('', 'Reproduce with:', '', '```sh', context.command, '```');
  if (isSummary) {
    const quality = (value: (summary: SummaryRow) => string) => (row: GridRow) => (row.summary ? value(row.summary) : 'failed');
    lines.push(
      '',
      '## Planted-fact coverage (share of planted facts the summary names; the cell score)',
      '',
      table(rows, (row) => `${percent(row.accuracy)}${failedNote(row)}`),
      '',
      '## BooookScore coherence (share of summary sentences the judge finds free of confusion)',
      '',
      table(rows, quality((summary) => (summary.coherence === null ? 'n/a' : `${percent(summary.coherence)} (${summary.sentences.toFixed(0)} sentences)`))),
      '',
      '## Length compliance: summary tokens / budget (share of summaries within budget)',
      '',
      table(rows, quality((summary) => `${summary.summaryTokens.toFixed(0)} / ${summary.budget.toFixed(0)} = ${percent(summary.lengthRatio)} (${percent(summary.withinBudget)} within)`)),
      '',
      ...costSections(rows, 'summary', ' (judging not included)'),
    );
    if (rows.some((row) => (row.summary?.judgeCalls ?? 0) > 0)) {
      lines.push('', '## Judge: prompt tokens per summary (judge calls)', '', table(rows, quality((summary) => `${compact(summary.judgeInputTokens)} (${callCount(summary.judgeCalls)})`)));
      const confusions = confusionTable(cells);
      if (confusions) lines.push('', '## Sentences flagged per confusion type (all lengths)', '', confusions);
    }
  } else {
    lines.push(
      '',
      '## Accuracy (mean score per sample)',
      '',
      table(rows, (row) => `${percent(row.accuracy)}${failedNote(row)}`),
      '',
      ...costSections(rows, 'question'),
    );
    const depths = depthTable(cells);
    if (depths) lines.push('', '## Accuracy by needle depth (all lengths)', '', depths);
  }
  if (context.charts && context.charts.length > 0) lines.push('', '## Charts', '', ...context.charts.flatMap((chart) => [`![${chart.title}](${chart.file})`, '']));
  const failures = cells.filter((cell) => cell.error);
  if (failures.length > 0) {
    const distinct = new Map<string, CellRecord>();
    for (const failure of failures) distinct.set(`${failure.method}:${failure.error!.code}`, failure);
    lines.push('', '## Failed cells', '', ...[...distinct.values()].map((cell) => `- \`${cell.method}\`: ${cell.error!.code}: ${cell.error!.message}`));
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Sentences flagged per confusion type (rows) per method (columns), summed over every judged cell. */
function confusionTable(cells: readonly CellRecord[]): string | undefined {
  const judged = cells.filter((cell) => cell.summary && cell.summary.coherence !== null);
  if (judged.length === 0) return undefined;
  const methods = [...new Set(judged.map((cell) => cell.method))];
  const types = [...CONFUSION_TYPES, 'unspecified'].filter((type) => judged.some((cell) => (cell.summary!.confusions[type] ?? 0) > 0));
  const total = (method: string, type: string) => judged.filter((cell) => cell.method === method).reduce((sum, cell) => sum + (cell.summary!.confusions[type] ?? 0), 0);
  const sentences = (method: string) => judged.filter((cell) => cell.method === method).reduce((sum, cell) => sum + cell.summary!.sentences, 0);
  return [
    `| confusion | ${methods.join(' | ')} |`,
    `| --- | ${methods.map(() => '---:').join(' | ')} |`,
    ...types.map((type) => `| ${type} | ${methods.map((method) => total(method, type)).join(' | ')} |`),
    `| (sentences judged) | ${methods.map(sentences).join(' | ')} |`,
  ].join('\n');
}
