import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { CellStore, evalTask, modelHandleFrom, parseMethods, registerEngineSettings, renderMarkdownReport, resolveModelWithSettings, runEvalGrid, summarizeCells, writeGridCharts, type GridEvent, type ModelSettings, type ModelSource } from '../index.js';
import { main } from '../src/cli/main.js';
import { ScriptedChatModel } from './helpers/scripted-chat-model.js';

/** Answers with the first 5-digit number it was shown: right exactly when the needle reached the model. */
function readingModel(): ScriptedChatModel {
  return new ScriptedChatModel((task) => {
    const source = task.kind === 'answer' ? task.source : '';
    return /\b\d{5}\b/.exec(source)?.[0] ?? 'I could not find it.';
  });
}

function scriptedSource(model: ScriptedChatModel, seen: ModelSettings[] = []): ModelSource {
  return async (settings) => {
    seen.push(settings);
    return { model: modelHandleFrom(model, { contextWindow: Number(settings.window ?? 8192), name: 'scripted' }), close: async () => {} };
  };
}

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'tome-eval-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

const passkey = evalTask('passkey');

describe('eval grid', () => {
  it('records accuracy, calls, tokens and time per cell; truncation loses needles past the window, rag does not', async () => {
    const model = readingModel();
    const store = await CellStore.open(join(directory, 'cells.jsonl'));
    const result = await runEvalGrid({ task: passkey, methods: parseMethods('truncate,rag'), lengths: [2048, 32_768], samples: 3, modelSpec: 'scripted', models: scriptedSource(model), store });
    expect(result.cells).toHaveLength(12);
    expect(result.interrupted).toBe(false);
    const rows = summarizeCells(result.cells);
    const accuracy = (method: string, length: number) => rows.find((row) => row.method === method && row.length === length)!.accuracy;
    expect(accuracy('truncate', 2048)).toBe(1);
    expect(accuracy('rag', 2048)).toBe(1);
    expect(accuracy('rag', 32_768)).toBe(1);
    // Only the needle at depth 0 is inside the first 8k tokens of a 32k document.
    expect(accuracy('truncate', 32_768)).toBeCloseTo(1 / 3);
    expect(result.cells.filter((cell) => cell.error)).toEqual([]);
    for (const cell of result.cells) {
      expect(cell.modelCalls).toBe(1);
      expect(cell.inputTokens).toBeGreaterThan(100);
      expect(cell.inputTokens).toBeLessThanOrEqual(8192);
      expect(cell.outputTokens).toBeGreaterThan(0);
      expect(cell.wallMs).toBeGreaterThanOrEqual(0);
      expect(cell.tokens).toBe(cell.length);
    }
    expect(model.calls).toHaveLength(12);
  });

  it('resumes: a rerun skips finished cells; an interrupted run keeps what finished', async () => {
    const path = join(directory, 'cells.jsonl');
    const methods = parseMethods('truncate,rag');
    const grid = { task: passkey, methods, lengths: [2048, 4096], samples: 2, modelSpec: 'scripted' };
    const controller = new AbortController();
    const first = readingModel();
    const events: GridEvent[] = [];
    const interrupted = await runEvalGrid({
      ...grid,
      models: scriptedSource(first),
      store: await CellStore.open(path),
      signal: controller.signal,
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'cell-end' && event.done === 3) controller.abort(new Error('interrupted'));
      },
    });
    expect(interrupted.interrupted).toBe(true);
    expect(interrupted.cells).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({ type: 'grid-end', interrupted: true, done: 3, total: 8 });
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(3);

    const second = readingModel();
    const resumed = await runEvalGrid({ ...grid, models: scriptedSource(second), store: await CellStore.open(path) });
    expect(resumed.interrupted).toBe(false);
    expect(resumed.cells).toHaveLength(8);
    expect(second.calls).toHaveLength(5);

    const third = readingModel();
    const again = await runEvalGrid({ ...grid, models: scriptedSource(third), store: await CellStore.open(path) });
    expect(third.calls).toHaveLength(0);
    expect(again.cells).toEqual(resumed.cells);
  });

  it('passes model-level settings to the engine hook; a model without the hook fails the cell with a typed error', async () => {
    const received: { rest: string; settings: ModelSettings; contextWindow?: number }[] = [];
    const model = readingModel();
    registerEngineSettings('fake-engine', async (rest, settings, options) => {
      received.push({ rest, settings, contextWindow: options.contextWindow });
      if (settings.attention === 'unknown') throw new Error('not typed');
      return modelHandleFrom(model, { contextWindow: options.contextWindow ?? 4096, name: `fake-engine:${rest}` });
    });
    const result = await runEvalGrid({
      task: passkey,
      methods: parseMethods('truncate@attention=blocks+rope=yarn:4+window=8192'),
      lengths: [2048],
      samples: 1,
      modelSpec: 'fake-engine:tiny',
      models: async (settings) => ({ model: await resolveModelWithSettings('fake-engine:tiny', settings), close: async () => {} }),
      store: await CellStore.open(undefined),
    });
    expect(received).toEqual([{ rest: 'tiny', settings: { attention: 'blocks', rope: 'yarn:4' }, contextWindow: 8192 }]);
    expect(result.cells[0]).toMatchObject({ score: 1, modelCalls: 1 });

    const failed = await runEvalGrid({ task: passkey, methods: parseMethods('truncate@attention=blocks,truncate'), lengths: [1024], samples: 1, modelSpec: 'extractive', models: async (settings) => ({ model: await resolveModelWithSettings('extractive', settings), close: async () => {} }), store: await CellStore.open(undefined) });
    expect(failed.cells[0]).toMatchObject({ method: 'truncate@attention=blocks', score: 0, error: { code: 'MODEL_SPEC_INVALID' } });
    expect(failed.cells[0]!.error!.message).toContain('attention=blocks');
    expect(failed.cells[1]).toMatchObject({ method: 'truncate', score: 1 });
    expect(renderMarkdownReport(failed.cells, { task: 'passkey', model: 'extractive', haystack: 'filler', samples: 1, seed: 1 })).toMatch(/## Failed cells[\s\S]*truncate@attention=blocks`: MODEL_SPEC_INVALID/);
  });

  it('runs agent-level methods on the offline engine: coa and rag keep the needle where truncate loses it', async () => {
    const store = await CellStore.open(undefined);
    const result = await runEvalGrid({ task: evalTask('niah-single'), methods: parseMethods('truncate,rag,coa'), lengths: [32_768], samples: 3, modelSpec: 'extractive', models: async (settings) => ({ model: await resolveModelWithSettings('extractive', settings), close: async () => {} }), store });
    const rows = summarizeCells(result.cells);
    expect(rows.find((row) => row.method === 'rag')!.accuracy).toBe(1);
    expect(rows.find((row) => row.method === 'coa')!.accuracy).toBe(1);
    expect(rows.find((row) => row.method === 'truncate')!.accuracy).toBeLessThan(1);
    expect(rows.find((row) => row.method === 'coa')!.modelCalls).toBeGreaterThan(1);
  }, 60_000);

  it('writes a Markdown report and SVG + PNG charts', async () => {
    const result = await runEvalGrid({ task: passkey, methods: parseMethods('truncate,rag'), lengths: [1024, 8192], samples: 2, modelSpec: 'scripted', models: scriptedSource(readingModel()), store: await CellStore.open(undefined) });
    const rows = summarizeCells(result.cells);
    const charts = await writeGridCharts(rows, directory, 'test');
    expect(charts.map((chart) => chart.name)).toEqual(['accuracy-vs-length', 'cost-vs-length', 'time-vs-length']);
    const svg = await readFile(charts[0]!.svg, 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('truncate');
    expect(svg).toContain('8k');
    expect((await readFile(charts[0]!.png)).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    const report = renderMarkdownReport(result.cells, { task: 'passkey', model: 'scripted', haystack: 'filler', samples: 2, seed: 1, charts: [{ title: 'Accuracy', file: 'accuracy-vs-length.svg' }] });
    expect(report).toContain('| truncate | 100% | 50% |');
    expect(report).toContain('| rag | 100% | 100% |');
    expect(report).toContain('![Accuracy](accuracy-vs-length.svg)');
    expect(report).toMatch(/\| 0% \| 100% \| 100% \|/);
  });
});

describe('tome eval / score-summary CLI', () => {
  it('runs a grid, writes report, charts and cells, and resumes on rerun', async () => {
    const out = join(directory, 'out');
    const argv = ['node', 'tome', 'eval', 'passkey', '--methods', 'truncate,rag', '--lengths', '1k,2k', '--samples', '2', '--out', out, '--json'];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(argv)).toBe(0);
      const printed = JSON.parse(String(stdout.mock.calls.at(-1)![0])) as { rows: { method: string; length: number; accuracy: number }[] };
      expect(printed.rows.map((row) => `${row.method}@${row.length}`)).toEqual(['truncate@1024', 'truncate@2048', 'rag@1024', 'rag@2048']);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    const cells = (await readFile(join(out, 'cells.jsonl'), 'utf8')).trim().split('\n');
    expect(cells).toHaveLength(8);
    expect(await readFile(join(out, 'report.md'), 'utf8')).toContain('# tome eval: passkey');
    expect((await readFile(join(out, 'accuracy-vs-length.png'))).length).toBeGreaterThan(1000);
    const quiet = [vi.spyOn(process.stdout, 'write').mockImplementation(() => true), vi.spyOn(process.stderr, 'write').mockImplementation(() => true)];
    onTestFinished(() => quiet.forEach((spy) => spy.mockRestore()));
    expect(await main(argv)).toBe(0);
    expect((await readFile(join(out, 'cells.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(8);
  }, 60_000);

  it('exits 2 on bad input', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    onTestFinished(() => stderr.mockRestore());
    expect(await main(['node', 'tome', 'eval', 'no-such-task', '--out', directory])).toBe(2);
    expect(await main(['node', 'tome', 'eval', 'passkey', '--lengths', '4k,huge', '--out', directory])).toBe(2);
    expect(await main(['node', 'tome', 'eval', 'passkey', '--methods', 'magic', '--out', directory])).toBe(2);
    expect(await main(['node', 'tome', 'score-summary', join(directory, 'missing.txt'), '--judge', 'extractive'])).toBe(2);
  });
});
