import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { formatLength } from './lengths.js';
import type { GridRow } from './report.js';

/** A chart written as `<name>.svg` and `<name>.png`. */
export interface WrittenChart {
  readonly name: string;
  readonly title: string;
  readonly svg: string;
  readonly png: string;
}

type Measure = 'accuracy' | 'coverage' | 'coherence' | 'lengthRatio' | 'inputTokens' | 'wallMs';

const toPercent = (share: number) => Math.round(share * 1000) / 10;

const MEASURES: Record<Measure, { title: string; axis: string; scale: 'linear' | 'log' | 'percent'; value: (row: GridRow) => number | undefined }> = {
  accuracy: { title: 'Accuracy vs length', axis: 'accuracy (%)', scale: 'percent', value: (row) => toPercent(row.accuracy) },
  coverage: { title: 'Planted-fact coverage vs length', axis: 'planted facts named in the summary (%)', scale: 'percent', value: (row) => toPercent(row.accuracy) },
  coherence: { title: 'BooookScore coherence vs length', axis: 'sentences without confusion (%)', scale: 'percent', value: (row) => (row.summary?.coherence == null ? undefined : toPercent(row.summary.coherence)) },
  lengthRatio: { title: 'Length compliance vs length: summary tokens as % of the budget', axis: 'summary tokens (% of budget)', scale: 'linear', value: (row) => (row.summary ? toPercent(row.summary.lengthRatio) : undefined) },
  inputTokens: { title: 'Cost vs length: prompt tokens per {unit}', axis: 'prompt tokens per {unit}', scale: 'log', value: (row) => Math.max(1, Math.round(row.inputTokens)) },
  wallMs: { title: 'Time vs length: wall time per {unit}', axis: 'milliseconds per {unit}', scale: 'log', value: (row) => Math.max(1, Math.round(row.wallMs)) },
};

/** A measure's titles for these rows: cost and time are per question, or per summary on a summary grid. */
function measureFor(measure: Measure, rows: readonly GridRow[]): (typeof MEASURES)[Measure] {
  const unit = rows.some((row) => row.summary !== undefined) ? 'summary' : 'question';
  const definition = MEASURES[measure];
  return { ...definition, title: definition.title.replace('{unit}', unit), axis: definition.axis.replace('{unit}', unit) };
}

/**
 * A Vega-Lite line chart of one measure against document length, one line per method (log₂ length axis, labels
 * like 4k / 256k). Exposed so callers can restyle it before rendering.
 */
export function lengthChartSpec(rows: readonly GridRow[], measure: Measure, subtitle: string): TopLevelSpec {
  const definition = measureFor(measure, rows);
  const lengths = [...new Set(rows.map((row) => row.length))].sort((a, b) => a - b);
  const methods = [...new Set(rows.map((row) => row.method))];
  // Rows without the measure (a summary grid point nobody judged) are left out, not drawn at 0.
  const points = rows.flatMap((row) => {
    const value = definition.value(row);
    return value === undefined ? [] : [{ method: row.method, length: row.length, lengthLabel: formatLength(row.length), value }];
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: definition.title, subtitle },
    width: 520,
    height: 300,
    background: 'white',
    data: { values: points },
    mark: { type: 'line', point: { size: 60, filled: true }, strokeWidth: 2 },
    encoding: {
      x: { field: 'length', type: 'quantitative', title: 'document length (tokens)', scale: { type: 'log', base: 2, domain: [lengths[0] ?? 1, lengths.at(-1) ?? 2] }, axis: { values: lengths, labelExpr: "datum.value >= 1048576 ? (datum.value / 1048576) + 'm' : datum.value >= 1024 ? (datum.value / 1024) + 'k' : datum.value" } },
      y: { field: 'value', type: 'quantitative', title: definition.axis, scale: definition.scale === 'percent' ? { domain: [0, 100] } : definition.scale === 'linear' ? { zero: true } : { type: 'log' } },
      // Colour, dash and point shape all follow the method (one merged legend), so coinciding lines stay visible.
      color: { field: 'method', type: 'nominal', title: 'method', sort: methods, legend: { labelLimit: 320 } },
      strokeDash: { field: 'method', type: 'nominal', title: 'method', sort: methods, legend: { labelLimit: 320 } },
      shape: { field: 'method', type: 'nominal', title: 'method', sort: methods, legend: { labelLimit: 320 } },
      tooltip: [{ field: 'method' }, { field: 'lengthLabel', title: 'length' }, { field: 'value', title: definition.axis }],
    },
    config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' },
  };
}

/** Render a Vega-Lite spec to SVG (Vega's headless renderer) and PNG (resvg, 2× scale). */
export async function renderChart(spec: TopLevelSpec): Promise<{ svg: string; png: Buffer }> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
    return { svg, png };
  } finally {
    view.finalize();
  }
}

/**
 * Accuracy, cost and time charts of a grid, as SVG and PNG files in `directory` (failed points left out). A summary
 * grid gets coverage, coherence (when any cell was judged) and length-compliance charts in place of accuracy.
 */
export async function writeGridCharts(allRows: readonly GridRow[], directory: string, subtitle: string): Promise<WrittenChart[]> {
  await mkdir(directory, { recursive: true });
  // Points where every sample failed (a method the model cannot run) are not measurements: the report lists them.
  const rows = allRows.filter((row) => row.failed < row.samples);
  const isSummary = rows.some((row) => row.summary !== undefined);
  const quality: { name: string; measure: Measure }[] = isSummary
    ? [
        { name: 'coverage-vs-length', measure: 'coverage' },
        ...(rows.some((row) => row.summary?.coherence != null) ? [{ name: 'coherence-vs-length', measure: 'coherence' as const }] : []),
        { name: 'length-compliance-vs-length', measure: 'lengthRatio' },
      ]
    : [{ name: 'accuracy-vs-length', measure: 'accuracy' }];
  const charts: { name: string; measure: Measure }[] = [...quality, { name: 'cost-vs-length', measure: 'inputTokens' }, { name: 'time-vs-length', measure: 'wallMs' }];
  const written: WrittenChart[] = [];
  for (const chart of charts) {
    const { svg, png } = await renderChart(lengthChartSpec(rows, chart.measure, subtitle));
    const svgPath = join(directory, `${chart.name}.svg`);
    const pngPath = join(directory, `${chart.name}.png`);
    await writeFile(svgPath, svg);
    await writeFile(pngPath, png);
    written.push({ name: chart.name, title: measureFor(chart.measure, rows).title, svg: svgPath, png: pngPath });
  }
  return written;
}
