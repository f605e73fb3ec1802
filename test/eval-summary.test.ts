import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { booookScore, CellStore, generateSummarySample, modelHandleFrom, parseSummaryMethod, parseSummaryMethods, renderMarkdownReport, resolveModelWithSettings, runSummaryGrid, summarizeCells, writeGridCharts, type CellRecord, type GridEvent, type ModelSource, type SummaryGridOptions } from '../index.js';
import { main } from '../src/cli/main.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import type { ModelTask } from '../src/tasks.js';
import { ScriptedChatModel } from './helpers/scripted-chat-model.js';

const LIGHTHOUSE = /The keeper of the \S+ lighthouse was called [^\s.]+\./g;
const NOTHING = 'Nothing of note happened.';
const LENGTH = 4096;
const FACTS = 4;

/** The facts planted in the grid's sample `sample` (the scripted models' answer key). */
function plantedFacts(sample: number, samples: number) {
  return generateSummarySample({ tokens: LENGTH, sample, samples, seed: 1, haystack: 'moby-dick', counter: approximateTokenCounter, facts: FACTS }).facts;
}

/** Every planted-fact sentence in the texts a summarizer task reads, in order, once each. */
function factSentences(task: ModelTask): string[] {
  const texts = task.kind === 'summarize' ? [task.source] : task.kind === 'update' ? [task.summary, task.source] : task.kind === 'merge' ? task.summaries : task.kind === 'compress' ? [task.summary] : [];
  return [...new Set(texts.flatMap((text) => text.match(LIGHTHOUSE) ?? []))];
}

/**
 * A summarizer that keeps exactly the planted facts in `kept` (and nothing else). With a word limit under 30 (a
 * 40-token budget) it writes ten 12-digit numbers instead: 26 words allowed, but 42 tokens, over the budget.
 */
function factKeepingSummarizer(kept: () => readonly string[]): ScriptedChatModel {
  return new ScriptedChatModel((task) => {
    if (task.wordLimit < 30) return `Code ${Array<string>(10).fill('123456789012').join(' ')}.`;
    const facts = factSentences(task).filter((sentence) => kept().includes(sentence));
    return facts.length > 0 ? facts.join(' ') : NOTHING;
  });
}

/** A judge that flags, as duplication, any sentence naming `flagged`'s keeper; everything else is clear. */
function judgeFlagging(flagged: () => string): ScriptedChatModel {
  return new ScriptedChatModel((task) => {
    if (task.kind !== 'answer') throw new Error(`the judge got a ${task.kind} task`);
    return task.query.includes(flagged()) ? 'duplication: it repeats an earlier sentence' : 'none';
  });
}

const source = (model: ScriptedChatModel): ModelSource => async (settings) => ({ model: modelHandleFrom(model, { contextWindow: Number(settings.window ?? 8192), name: 'scripted' }), close: async () => {} });
const judgeSource = (model: ScriptedChatModel) => ({ spec: 'scripted-judge', open: async () => ({ model: modelHandleFrom(model, { contextWindow: 8192, name: 'scripted-judge' }), close: async () => {} }) });

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'tome-eval-summary-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('summary grid', () => {
  const samples = 2;
  const facts = [plantedFacts(0, samples), plantedFacts(1, samples)];
  // Each document's facts 0 and 2 are kept (coverage 2/4); the judge flags the sentence naming fact 2.
  const kept = () => facts.flatMap((planted) => [planted[0]!.sentence, planted[2]!.sentence]);
  const flagged = (sample: number) => facts[sample]![2]!.mustContain[1]!;

  it('records coverage, length compliance and coherence per cell, with one judge call per summary sentence', async () => {
    const summarizer = factKeepingSummarizer(kept);
    let judgedSample = 0;
    const judge = judgeFlagging(() => flagged(judgedSample));
    const grid: SummaryGridOptions = { methods: parseSummaryMethods('hierarchical,incremental,incremental@summary-tokens=40'), lengths: [LENGTH], samples, facts: FACTS, modelSpec: 'scripted', models: source(summarizer), store: await CellStore.open(undefined), judge: judgeSource(judge) };
    // Cells run one at a time in sample order: the judge knows which document it is judging.
    const result = await runSummaryGrid({ ...grid, onEvent: (event) => void (event.type === 'cell-end' && event.done === 3 && (judgedSample = 1)) });
    expect(result.cells).toHaveLength(6);
    expect(result.cells.filter((cell) => cell.error)).toEqual([]);

    for (const cell of result.cells.filter((record) => record.method !== 'incremental@summary-tokens=40')) {
      const planted = facts[cell.sample]!;
      expect(cell.answer).toBe(`${planted[0]!.sentence} ${planted[2]!.sentence}`);
      expect(cell.expected).toEqual(planted.map((fact) => fact.sentence));
      expect(cell.score).toBe(0.5);
      expect(cell.summary).toMatchObject({ facts: 4, factsCovered: 2, coverage: 0.5, budget: 900, sentences: 2, coherence: 0.5, confusing: 1, confusions: { duplication: 1 }, judge: 'scripted-judge', judgeCalls: 2, withinBudget: true });
      expect(cell.summary!.summaryTokens).toBe(approximateTokenCounter.count(cell.answer));
      expect(cell.summary!.lengthRatio).toBeCloseTo(cell.summary!.summaryTokens / 900);
      expect(cell.summary!.judgeInputTokens).toBeGreaterThan(cell.summary!.summaryTokens * 2);
      expect(cell.modelCalls).toBeGreaterThan(1);
      expect(cell.inputTokens).toBeGreaterThan(LENGTH);
    }
    const overBudget = result.cells.filter((record) => record.method === 'incremental@summary-tokens=40');
    for (const cell of overBudget) {
      // "Code" (1) + ten 12-digit numbers (4 each) + "." (1) = 42 tokens against a 40-token budget.
      expect(cell.summary).toMatchObject({ budget: 40, summaryTokens: 42, withinBudget: false, coverage: 0, factsCovered: 0, sentences: 1, coherence: 1, judgeCalls: 1 });
      expect(cell.summary!.lengthRatio).toBeCloseTo(42 / 40);
      expect(cell.score).toBe(0);
    }
    // Exactly one judge call per summary sentence, all cells together: (2 + 2 + 1) sentences × 2 samples.
    expect(judge.calls).toHaveLength(10);
    expect(judge.calls.every((call) => call.task.kind === 'answer')).toBe(true);
    // Judging is not the method's cost: the summarizer saw no judge prompt, the cells' calls are its own.
    expect(summarizer.calls.every((call) => call.task.kind !== 'answer')).toBe(true);
    expect(result.cells.reduce((sum, cell) => sum + cell.modelCalls, 0)).toBe(summarizer.calls.length);

    const rows = summarizeCells(result.cells);
    expect(rows.find((row) => row.method === 'hierarchical')!.summary).toMatchObject({ coherence: 0.5, judged: 2, withinBudget: 1, sentences: 2, judgeCalls: 2 });
    expect(rows.find((row) => row.method === 'incremental@summary-tokens=40')!.summary).toMatchObject({ coherence: 1, withinBudget: 0, summaryTokens: 42, budget: 40 });
    const report = renderMarkdownReport(result.cells, { task: 'summary', model: 'scripted', haystack: 'moby-dick', samples, seed: 1, summary: { facts: FACTS, budget: 900, judge: 'scripted-judge' } });
    expect(report).toContain('Coherence judged by `scripted-judge`');
    expect(report).toMatch(/## Planted-fact coverage[^\n]*\n\n\| method \| 4k \|\n\| --- \| ---: \|\n\| hierarchical \| 50% \|\n\| incremental \| 50% \|\n\| incremental@summary-tokens=40 \| 0% \|/);
    expect(report).toContain('| hierarchical | 50% (2 sentences) |');
    expect(report).toContain('| incremental@summary-tokens=40 | 100% (1 sentences) |');
    expect(report).toContain('| incremental@summary-tokens=40 | 42 / 40 = 105% (0% within) |');
    expect(report).toMatch(/\| duplication \| 2 \| 2 \| 0 \|/);
    expect(report).not.toContain('needle');

    const charts = await writeGridCharts(rows, directory, 'test');
    expect(charts.map((chart) => chart.name)).toEqual(['coverage-vs-length', 'coherence-vs-length', 'length-compliance-vs-length', 'cost-vs-length', 'time-vs-length']);
    expect(await readFile(join(directory, 'coherence-vs-length.svg'), 'utf8')).toContain('incremental@summary-tokens=40');
  });

  it('resumes: an interrupted grid keeps finished cells; a rerun summarizes and judges only the rest; another judge is another grid', async () => {
    const path = join(directory, 'cells.jsonl');
    const grid = { methods: parseSummaryMethods('hierarchical,incremental'), lengths: [LENGTH], samples, facts: FACTS, modelSpec: 'scripted' };
    const controller = new AbortController();
    const firstJudge = judgeFlagging(() => 'nobody');
    const interrupted = await runSummaryGrid({
      ...grid,
      models: source(factKeepingSummarizer(kept)),
      store: await CellStore.open(path),
      judge: judgeSource(firstJudge),
      signal: controller.signal,
      onEvent: (event: GridEvent) => {
        if (event.type === 'cell-end' && event.done === 1) controller.abort(new Error('interrupted'));
      },
    });
    expect(interrupted).toMatchObject({ interrupted: true });
    expect(interrupted.cells).toHaveLength(1);
    expect(firstJudge.calls).toHaveLength(2);

    const summarizer = factKeepingSummarizer(kept);
    const judge = judgeFlagging(() => 'nobody');
    const resumed = await runSummaryGrid({ ...grid, models: source(summarizer), store: await CellStore.open(path), judge: judgeSource(judge) });
    expect(resumed.cells).toHaveLength(4);
    expect(resumed.cells[0]).toEqual(interrupted.cells[0]);
    expect(judge.calls).toHaveLength(3 * 2);
    expect(summarizer.calls.length).toBe(resumed.cells.slice(1).reduce((sum, cell) => sum + cell.modelCalls, 0));
    expect(resumed.cells.map((cell) => cell.summary!.coherence)).toEqual([1, 1, 1, 1]);

    const again = [factKeepingSummarizer(kept), judgeFlagging(() => 'nobody')] as const;
    const cached = await runSummaryGrid({ ...grid, models: source(again[0]), store: await CellStore.open(path), judge: judgeSource(again[1]) });
    expect(again[0].calls).toHaveLength(0);
    expect(again[1].calls).toHaveLength(0);
    expect(cached.cells).toEqual(resumed.cells);

    // Without a judge the cells are other cells (the judge is part of their key): all four run again, unjudged.
    const unjudged = factKeepingSummarizer(kept);
    const rerun = await runSummaryGrid({ ...grid, models: source(unjudged), store: await CellStore.open(path), judge: 'none' });
    expect(rerun.cells.map((cell) => cell.summary!.coherence)).toEqual([null, null, null, null]);
    expect(rerun.cells.map((cell) => cell.summary!.judgeCalls)).toEqual([0, 0, 0, 0]);
    expect(unjudged.calls.length).toBeGreaterThan(0);
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(8);
  });

  it('judges with the model itself by default; the extractive engine cannot judge: n/a by default, refused when named', async () => {
    const own = factKeepingSummarizer(kept);
    const self = await runSummaryGrid({ methods: parseSummaryMethods('incremental'), lengths: [LENGTH], samples: 1, facts: FACTS, modelSpec: 'scripted', models: source(own), store: await CellStore.open(undefined) });
    expect(self.cells[0]!.summary).toMatchObject({ judge: 'scripted', sentences: 2, judgeCalls: 2, coherence: 1 });
    expect(own.callsOf('answer')).toHaveLength(2);

    const extractive: ModelSource = async (settings) => ({ model: await resolveModelWithSettings('extractive', settings), close: async () => {} });
    const offline = await runSummaryGrid({ methods: parseSummaryMethods('hierarchical'), lengths: [LENGTH], samples: 1, facts: FACTS, modelSpec: 'extractive', models: extractive, store: await CellStore.open(undefined) });
    expect(offline.cells[0]!.error).toBeUndefined();
    expect(offline.cells[0]!.summary).toMatchObject({ coherence: null, confusing: null, judge: null, judgeCalls: 0 });
    expect(offline.cells[0]!.summary!.sentences).toBeGreaterThan(0);
    const report = renderMarkdownReport(offline.cells, { task: 'summary', model: 'extractive', haystack: 'moby-dick', samples: 1, seed: 1, summary: { facts: FACTS, budget: 900, judge: null, unjudged: 'the extractive engine cannot judge' } });
    expect(report).toContain('| hierarchical | n/a |');
    expect(report).toContain('Coherence not judged: the extractive engine cannot judge.');
    expect((await writeGridCharts(summarizeCells(offline.cells), directory, 'test')).map((chart) => chart.name)).not.toContain('coherence-vs-length');

    // Why: the extractive engine "answers" the judge with a sentence copied from the summary, which names no
    // confusion, so even nonsense would score 100%.
    const nonsense = await booookScore('Zorp blah. The whale the whale the whale. Then Queequeg sings.', await resolveModelWithSettings('extractive', {}));
    expect(nonsense).toMatchObject({ score: 1, judgeIsExtractive: true });

    const store = await CellStore.open(join(directory, 'refused.jsonl'));
    const namedExtractive = { spec: 'extractive', open: async () => ({ model: await resolveModelWithSettings('extractive', {}), close: async () => {} }) };
    await expect(runSummaryGrid({ methods: parseSummaryMethods('hierarchical'), lengths: [LENGTH], samples: 1, modelSpec: 'extractive', models: extractive, store, judge: namedExtractive })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('--judge') });
    expect(store.all()).toEqual([]);
  }, 30_000);

  it('parses summary methods with their options and model settings', () => {
    expect(parseSummaryMethod('incremental@chunk-tokens=1024+summary-tokens=500+window=16384')).toEqual({ label: 'incremental@chunk-tokens=1024+summary-tokens=500+window=16384', method: 'incremental', summaryOptions: { chunkTokens: 1024, summaryTokens: 500 }, modelSettings: { window: '16384' } });
    expect(parseSummaryMethod('hierarchical@level-ratio=0.5').summaryOptions).toEqual({ levelRatio: 0.5 });
    expect(parseSummaryMethod('coa@summary-tokens=300')).toMatchObject({ method: 'coa', summaryOptions: { summaryTokens: 300 } });
    expect(() => parseSummaryMethod('truncate')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => parseSummaryMethod('coa@chunk-tokens=512')).toThrow(/summary-tokens only/);
    expect(() => parseSummaryMethod('incremental@level-ratio=0.5')).toThrow(/hierarchical only/);
    expect(() => parseSummaryMethod('hierarchical@level-ratio=2')).toThrow(/levelRatio/);
    expect(() => parseSummaryMethod('hierarchical@summary-tokens=10')).toThrow(/summaryTokens/);
    expect(() => parseSummaryMethods('hierarchical,hierarchical')).toThrow(/each method once/);
  });

  it('generates documents of exact length with the facts planted, different per sample', () => {
    const [first, second] = [0, 1].map((sample) => generateSummarySample({ tokens: 8192, sample, samples: 2, seed: 1, counter: approximateTokenCounter }));
    for (const sample of [first!, second!]) {
      expect(approximateTokenCounter.count(sample.document)).toBe(8192);
      expect(sample.tokens).toBe(8192);
      expect(sample.facts).toHaveLength(8);
      for (const fact of sample.facts) expect(sample.document).toContain(fact.sentence);
    }
    expect(first!.document).not.toBe(second!.document);
    expect(generateSummarySample({ tokens: 8192, sample: 0, samples: 2, seed: 1, counter: approximateTokenCounter })).toEqual(first);
  });
});

describe('tome eval summary CLI', () => {
  it('runs offline on the extractive engine: coverage and length per cell, coherence n/a, report and charts', async () => {
    const out = join(directory, 'out');
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    onTestFinished(() => (stdout.mockRestore(), stderr.mockRestore()));
    expect(await main(['node', 'tome', 'eval', 'summary', '--lengths', '4k', '--samples', '1', '--facts', '3', '--summary-tokens', '300', '--out', out, '--json'])).toBe(0);
    const printed = JSON.parse(String(stdout.mock.calls.at(-1)![0])) as { summary: { judge: string | null; unjudged: string }; haystack: string; cells: CellRecord[] };
    expect(printed.haystack).toBe('moby-dick');
    expect(printed.summary).toMatchObject({ judge: null, unjudged: expect.stringContaining('extractive') });
    expect(printed.cells.map((cell) => cell.method)).toEqual(['hierarchical', 'incremental']);
    for (const cell of printed.cells) {
      expect(cell.summary).toMatchObject({ budget: 300, facts: 3, coherence: null, judgeCalls: 0 });
      expect(cell.score).toBe(cell.summary!.coverage);
    }
    const report = await readFile(join(out, 'report.md'), 'utf8');
    expect(report).toContain('# tome eval: summary');
    expect(report).toContain('--facts 3 --summary-tokens 300');
    expect(report).toMatch(/## BooookScore coherence[\s\S]*\| hierarchical \| n\/a \|/);
    expect(report).toContain('## Length compliance');
    expect((await readFile(join(out, 'coverage-vs-length.png'))).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    expect(String(stderr.mock.calls.map((call) => call[0]).join(''))).toContain('coherence not judged');
  }, 60_000);

  it('exits 2 on summary options misused: an extractive judge, summary options on other tasks, ask methods', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    onTestFinished(() => stderr.mockRestore());
    expect(await main(['node', 'tome', 'eval', 'summary', '--lengths', '4k', '--samples', '1', '--judge', 'extractive', '--out', directory])).toBe(2);
    expect(await main(['node', 'tome', 'eval', 'passkey', '--judge', 'openai:gpt-4o-mini', '--out', directory])).toBe(2);
    expect(await main(['node', 'tome', 'eval', 'passkey', '--facts', '3', '--out', directory])).toBe(2);
    expect(await main(['node', 'tome', 'eval', 'summary', '--methods', 'truncate', '--out', directory])).toBe(2);
    expect(String(stderr.mock.calls.map((call) => call[0]).join(''))).toMatch(/--judge[\s\S]*extractive/);
  });
});
