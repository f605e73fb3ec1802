import { BOOK_SUMMARY_DEFAULTS } from '../pipelines/book-summary.js';
import { bookSummary } from '../pipelines/index.js';
import { InvalidOptionError } from '../src/errors.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { splitSentences } from '../src/models/extractive/sentences.js';
import { booookScore } from './booookscore.js';
import type { SummaryCellMetrics } from './cell-store.js';
import { runGrid, UsageCounter, type EvalGridResult, type GridOptions } from './grid.js';
import type { SummaryMethodSpec } from './methods.js';
import { factCoverage, lengthCompliance } from './summary-metrics.js';
import { DEFAULT_PLANTED_FACTS, generateSummarySample, SUMMARY_TASK, type SummarySample } from './tasks/summary.js';

/** A judge model other than the grid's own: its spec (part of each cell's key) and how to open it. */
export interface JudgeSource {
  readonly spec: string;
  open(): Promise<{ model: ModelHandle; close: () => Promise<void> }>;
}

export interface SummaryGridOptions extends GridOptions {
  readonly methods: readonly SummaryMethodSpec[];
  /** Planted facts per document. Default 8. */
  readonly facts?: number;
  /** Budget (tokens) of the summary for methods that set none with `@summary-tokens=`. Default 900, as `tome summarize`. */
  readonly summaryTokens?: number;
  /**
   * Who judges BooookScore coherence. `'model'` (default): the grid's model as given (no method settings), except
   * tome's extractive engine, which cannot judge: coherence is then recorded as not judged (null). A
   * {@link JudgeSource}: that model, which must not be the extractive engine. `'none'`: coherence not judged.
   */
  readonly judge?: 'model' | 'none' | JudgeSource;
}

/**
 * Summary quality on the grid: every book-summary method on seeded documents of exact token lengths with planted
 * facts. Per cell: planted-fact coverage (the cell's score), length against the method's budget, BooookScore
 * coherence (one judge call per summary sentence), and the method's model calls, tokens and time (judging is
 * counted apart). Resumable like every grid: the cells' keys include the facts, the default budget and the judge.
 * @throws InvalidOptionError for fewer than one fact, or an explicit judge that is the extractive engine.
 */
export async function runSummaryGrid(options: SummaryGridOptions): Promise<EvalGridResult> {
  const facts = options.facts ?? DEFAULT_PLANTED_FACTS;
  if (!Number.isInteger(facts) || facts < 1) throw new InvalidOptionError('--facts', facts, 'a whole number ≥ 1');
  const defaultBudget = options.summaryTokens ?? BOOK_SUMMARY_DEFAULTS.summaryTokens;
  const judgeOption = options.judge ?? 'model';
  const judgeSpec = judgeOption === 'none' ? 'none' : judgeOption === 'model' ? options.modelSpec : judgeOption.spec;
  let judge: ModelHandle | undefined;
  let closeJudge = async () => {};
  try {
    return await runGrid<SummarySample, SummaryMethodSpec>(
      { ...options, haystack: options.haystack ?? 'moby-dick' },
      {
        task: SUMMARY_TASK,
        variant: `facts=${facts}+budget=${defaultBudget}+judge=${judgeSpec}`,
        methods: options.methods,
        generate: (generate) => generateSummarySample({ ...generate, facts }),
        describe: (sample) => ({ tokens: sample.tokens, expected: sample.facts.map((fact) => fact.sentence) }),
        async prepare(open) {
          if (judgeOption === 'none') return;
          if (judgeOption === 'model') {
            const { model } = await open({});
            if (!model.extractive) judge = model;
            return;
          }
          const opened = await judgeOption.open();
          closeJudge = opened.close;
          if (opened.model.extractive) throw new InvalidOptionError('--judge', judgeOption.spec, 'a language model (e.g. openai:gpt-4o-mini, ollama:llama3.1, onnx:<dir>): the extractive engine cannot judge coherence; leave --judge out or pass --judge none to skip coherence');
          judge = opened.model;
        },
        async run(method, sample, cell) {
          const budget = method.summaryOptions.summaryTokens ?? defaultBudget;
          const pipeline = bookSummary(method.method, { model: cell.model, concurrency: cell.concurrency }, { ...method.summaryOptions, summaryTokens: budget });
          const startedAt = performance.now();
          const result = await pipeline.invoke(sample.document, { signal: cell.signal, callbacks: [cell.usage] });
          const wallMs = Math.round(performance.now() - startedAt);
          const length = lengthCompliance(result.summary, budget, cell.model.tokenCounter);
          const coverage = factCoverage(result.summary, sample.facts);
          const sentences = splitSentences(result.summary).length;
          let judged: Pick<SummaryCellMetrics, 'coherence' | 'confusing' | 'confusions' | 'judge' | 'judgeCalls' | 'judgeInputTokens' | 'judgeOutputTokens' | 'judgeMs'> = { coherence: null, confusing: null, confusions: {}, judge: null, judgeCalls: 0, judgeInputTokens: 0, judgeOutputTokens: 0, judgeMs: 0 };
          if (judge && sentences > 0) {
            const usage = new UsageCounter(judge.tokenCounter);
            const judgeStartedAt = performance.now();
            const coherence = await booookScore(result.summary, judge, { concurrency: cell.concurrency, signal: cell.signal, callbacks: [usage] });
            judged = { coherence: coherence.score, confusing: coherence.confusing, confusions: coherence.byType, judge: coherence.judge, judgeCalls: usage.calls, judgeInputTokens: usage.inputTokens, judgeOutputTokens: usage.outputTokens, judgeMs: Math.round(performance.now() - judgeStartedAt) };
          }
          const summary: SummaryCellMetrics = {
            budget,
            summaryTokens: length.tokens,
            lengthRatio: length.ratio,
            withinBudget: length.withinBudget,
            facts: sample.facts.length,
            factsCovered: coverage.covered.length,
            coverage: coverage.coverage,
            sentences,
            ...judged,
            chunks: result.chunks,
            levels: result.levels,
          };
          return { score: coverage.coverage, answer: result.summary, modelCalls: result.modelCalls, wallMs, summary };
        },
      },
    );
  } finally {
    await closeJudge();
  }
}
