import type { CellRecord } from './cell-store.js';
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
    }))
    .sort((a, b) => methodOrder.indexOf(a.method) - methodOrder.indexOf(b.method) || a.length - b.length);
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

/** The Markdown report: what ran, accuracy / cost / time tables, per-depth accuracy, failures, charts. */
export function renderMarkdownReport(cells: readonly CellRecord[], context: ReportContext): string {
  const rows = summarizeCells(cells);
  const failures = cells.filter((cell) => cell.error);
  const lines = [
    `# tome eval: ${context.task}`,
    '',
    `Model \`${context.model}\`, haystack \`${context.haystack}\`, ${context.samples} sample(s) per length (needle depths swept evenly from 0% to 100%), seed ${context.seed}. Lengths are exact token counts of the document by the model's counter; ${cells.length} cells.`,
    ...(context.command ? ['', 'Reproduce with:', '', '```sh', context.command, '```'] : []),
    '',
    '## Accuracy (mean score per sample)',
    '',
    table(rows, (row) => `${(row.accuracy * 100).toFixed(0)}%${row.failed > 0 ? ` (${row.failed} failed)` : ''}`),
    '',
    '## Cost: prompt tokens sent to the model per question (model calls)',
    '',
    table(rows, (row) => `${compact(row.inputTokens)} (${row.modelCalls.toFixed(row.modelCalls % 1 === 0 ? 0 : 1)})`),
    '',
    '## Output tokens per question',
    '',
    table(rows, (row) => compact(row.outputTokens)),
    '',
    '## Wall time per question',
    '',
    table(rows, (row) => (row.wallMs >= 1000 ? `${(row.wallMs / 1000).toFixed(1)} s` : `${row.wallMs.toFixed(0)} ms`)),
  ];
  const depths = depthTable(cells);
  if (depths) lines.push('', '## Accuracy by needle depth (all lengths)', '', depths);
  if (context.charts && context.charts.length > 0) lines.push('', '## Charts', '', ...context.charts.flatMap((chart) => [`![${chart.title}](${chart.file})`, '']));
  if (failures.length > 0) {
    const distinct = new Map<string, CellRecord>();
    for (const failure of failures) distinct.set(`${failure.method}:${failure.error!.code}`, failure);
    lines.push('', '## Failed cells', '', ...[...distinct.values()].map((cell) => `- \`${cell.method}\`: ${cell.error!.code}: ${cell.error!.message}`));
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
