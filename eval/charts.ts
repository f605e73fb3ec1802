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

type Measure = 'accuracy' | 'inputTokens' | 'wallMs';

const MEASURES: Record<Measure, { title: string; axis: string; scale: 'linear' | 'log'; value: (row: GridRow) => number }> = {
  accuracy: { title: 'Accuracy vs length', axis: 'accuracy (%)', scale: 'linear', value: (row) => Math.round(row.accuracy * 1000) / 10 },
  inputTokens: { title: 'Cost vs length: prompt tokens per question', axis: 'prompt tokens per question', scale: 'log', value: (row) => Math.max(1, Math.round(row.inputTokens)) },
  wallMs: { title: 'Time vs length: wall time per question', axis: 'milliseconds per question', scale: 'log', value: (row) => Math.max(1, Math.round(row.wallMs)) },
};

/**
 * A Vega-Lite line chart of one measure against document length, one line per method (log₂ length axis, labels
 * like 4k / 256k). Exposed so callers can restyle it before rendering.
 */
export function lengthChartSpec(rows: readonly GridRow[], measure: Measure, subtitle: string): TopLevelSpec {
  const definition = MEASURES[measure];
  const lengths = [...new Set(rows.map((row) => row.length))].sort((a, b) => a - b);
  const methods = [...new Set(rows.map((row) => row.method))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: definition.title, subtitle },
    width: 520,
    height: 300,
    background: 'white',
    data: { values: rows.map((row) => ({ method: row.method, length: row.length, lengthLabel: formatLength(row.length), value: definition.value(row) })) },
    mark: { type: 'line', point: { size: 60, filled: true }, strokeWidth: 2 },
    encoding: {
      x: { field: 'length', type: 'quantitative', title: 'document length (tokens)', scale: { type: 'log', base: 2, domain: [lengths[0] ?? 1, lengths.at(-1) ?? 2] }, axis: { values: lengths, labelExpr: "datum.value >= 1048576 ? (datum.value / 1048576) + 'm' : datum.value >= 1024 ? (datum.value / 1024) + 'k' : datum.value" } },
      y: { field: 'value', type: 'quantitative', title: definition.axis, scale: measure === 'accuracy' ? { domain: [0, 100] } : { type: definition.scale } },
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

/** Accuracy, cost and time charts of a grid, as SVG and PNG files in `directory` (failed points left out). */
export async function writeGridCharts(allRows: readonly GridRow[], directory: string, subtitle: string): Promise<WrittenChart[]> {
  await mkdir(directory, { recursive: true });
  // Points where every sample failed (a method the model cannot run) are not measurements: the report lists them.
  const rows = allRows.filter((row) => row.failed < row.samples);
  const charts: { name: string; measure: Measure }[] = [
    { name: 'accuracy-vs-length', measure: 'accuracy' },
    { name: 'cost-vs-length', measure: 'inputTokens' },
    { name: 'time-vs-length', measure: 'wallMs' },
  ];
  const written: WrittenChart[] = [];
  for (const chart of charts) {
    const { svg, png } = await renderChart(lengthChartSpec(rows, chart.measure, subtitle));
    const svgPath = join(directory, `${chart.name}.svg`);
    const pngPath = join(directory, `${chart.name}.png`);
    await writeFile(svgPath, svg);
    await writeFile(pngPath, png);
    written.push({ name: chart.name, title: MEASURES[chart.measure].title, svg: svgPath, png: pngPath });
  }
  return written;
}
