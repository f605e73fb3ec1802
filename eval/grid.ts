import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import type { BaseMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';
import pLimit from 'p-limit';
import { TomeError } from '../src/errors.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';
import type { CellRecord, CellStore } from './cell-store.js';
import type { HaystackKind } from './haystack.js';
import { methodPipeline, type MethodSpec } from './methods.js';
import { settingsKey, type ModelSettings } from './model-settings.js';
import { scoreSample } from './scoring.js';
import type { EvalSample, EvalTask, GenerateOptions } from './task.js';

/** Opens the model for a method's settings ({} = the model as given); the grid opens each distinct one once. */
export type ModelSource = (settings: ModelSettings) => Promise<{ model: ModelHandle; close: () => Promise<void> }>;

/** What the grid reports while it runs. */
export type GridEvent =
  | { type: 'grid-start'; total: number; done: number }
  | { type: 'cell-end'; record: CellRecord; done: number; total: number; cached: boolean }
  | { type: 'grid-end'; done: number; total: number; interrupted: boolean };

export interface EvalGridOptions {
  readonly task: EvalTask;
  readonly methods: readonly MethodSpec[];
  /** Document lengths in tokens. */
  readonly lengths: readonly number[];
  /** Samples per length (their needle depths are swept evenly). Default 5. */
  readonly samples?: number;
  /** Default 1. */
  readonly seed?: number;
  /** Default `filler`. */
  readonly haystack?: HaystackKind;
  /** The --model spec, recorded with each cell (part of its key). */
  readonly modelSpec: string;
  readonly models: ModelSource;
  /** Where finished cells go; a rerun skips those already there. */
  readonly store: CellStore;
  /** Cells run at once, and model calls in flight within each. Default 1. */
  readonly concurrency?: number;
  /** Lengths are exact by this counter. Default the model's (settings {}), else tome's approximate counter. */
  readonly counter?: TokenCounter;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: GridEvent) => void;
}

export interface EvalGridResult {
  /** Every cell of this grid that is finished (this run's and earlier runs'). */
  readonly cells: readonly CellRecord[];
  readonly interrupted: boolean;
}

/** Identity of a cell: everything that changes what it computes (`variant`: task options outside the method, e.g. the judge). */
export function cellKey(parts: { task: string; haystack: string; method: string; model: string; length: number; sample: number; seed: number; variant?: string }): string {
  return [parts.task, parts.haystack, parts.method, parts.model, parts.length, parts.sample, parts.seed, ...(parts.variant ? [parts.variant] : [])].join('|');
}

/**
 * Run every method on every generated sample of every length and record one {@link CellRecord} per cell. Each
 * sample is generated once and shared by all methods; cells already in the store are skipped. Ctrl-C (the
 * signal) stops starting cells and abandons the ones in flight; everything finished stays recorded.
 */
export async function runEvalGrid(options: EvalGridOptions): Promise<EvalGridResult> {
  return runGrid<EvalSample, MethodSpec>(options, {
    task: options.task.name,
    methods: options.methods,
    generate: (generate) => options.task.generate(generate),
    describe: (sample) => ({ tokens: sample.tokens, ...(sample.depth === undefined ? {} : { depth: sample.depth }), expected: sample.answers }),
    async run(method, sample, cell) {
      const pipeline = methodPipeline(method, { model: cell.model, concurrency: cell.concurrency });
      const result = await pipeline.invoke({ document: sample.document, question: sample.question }, { signal: cell.signal, callbacks: [cell.usage] });
      return { score: scoreSample(sample, result.answer), answer: result.answer.slice(0, 500), modelCalls: result.modelCalls };
    },
  });
}

/** What every grid method has: its column label and the model settings it opens the model with. */
export interface GridMethod {
  readonly label: string;
  readonly modelSettings: ModelSettings;
}

/** The options every grid takes; the task and its methods come with the {@link GridTask}. */
export type GridOptions = Omit<EvalGridOptions, 'task' | 'methods'>;

/** What a cell runner gets: the model opened for its method's settings and a usage counter to pass as a callback. */
export interface CellContext {
  readonly model: ModelHandle;
  readonly usage: UsageCounter;
  /** The grid's concurrency: model calls in flight within the cell. */
  readonly concurrency: number;
  readonly signal?: AbortSignal;
}

/** What a cell runner returns; `wallMs` when it times only part of its work (the method, not the judging of it). */
export type CellOutcome = Pick<CellRecord, 'score' | 'answer' | 'modelCalls' | 'summary'> & { readonly wallMs?: number };

/** Opens (once per grid) the model for some settings: `{}` is the model as given. */
export type OpenModel = (settings: ModelSettings) => ReturnType<ModelSource>;

/** One kind of task on the grid: how it generates samples and runs a method on one. */
export interface GridTask<Sample, Method extends GridMethod> {
  /** Recorded as the cells' task. */
  readonly task: string;
  /** Task options outside the methods that change results (part of each cell's key). */
  readonly variant?: string;
  readonly methods: readonly Method[];
  generate(options: GenerateOptions): Sample;
  /** The sample's fields recorded with each of its cells. */
  describe(sample: Sample): Pick<CellRecord, 'tokens' | 'depth' | 'expected'>;
  /** Called once before the first cell (not when every cell is already recorded), e.g. to open a judge. */
  prepare?(open: OpenModel): Promise<void>;
  run(method: Method, sample: Sample, cell: CellContext): Promise<CellOutcome>;
}

/** The grid loop every task shares: plan, skip recorded cells, generate each sample once, run, record, close. */
export async function runGrid<Sample, Method extends GridMethod>(options: GridOptions, task: GridTask<Sample, Method>): Promise<EvalGridResult> {
  const samples = options.samples ?? 5;
  const seed = options.seed ?? 1;
  const haystack = options.haystack ?? 'filler';
  const concurrency = options.concurrency ?? 1;
  const limit = pLimit(concurrency);
  const models = new Map<string, ReturnType<ModelSource>>();
  const open: OpenModel = (settings) => {
    const key = settingsKey(settings);
    if (!models.has(key)) models.set(key, options.models(settings));
    return models.get(key)!;
  };
  const plan = options.lengths.flatMap((length) => Array.from({ length: samples }, (_, sample) => ({ length, sample })));
  const keyOf = (method: Method, length: number, sample: number) => cellKey({ task: task.task, haystack, method: method.label, model: options.modelSpec, length, sample, seed, variant: task.variant });
  const keys = plan.flatMap(({ length, sample }) => task.methods.map((method) => keyOf(method, length, sample)));
  const total = keys.length;
  let done = keys.filter((key) => options.store.has(key)).length;
  options.onEvent?.({ type: 'grid-start', total, done });

  const signal = options.signal;
  try {
    if (done < total) await task.prepare?.(open);
    // Lengths are exact by the model's own counter unless the caller names one: the model as given, or (when it
    // cannot open as given, e.g. a window too small until a method's settings stretch it) any method's variant.
    const counter = options.counter ?? (await modelCounter(open, [{}, ...task.methods.map((method) => method.modelSettings)]));
    const work: Promise<void>[] = [];
    for (const { length, sample } of plan) {
      const pending = task.methods.filter((method) => !options.store.has(keyOf(method, length, sample)));
      if (pending.length === 0) continue;
      let generated: Sample | undefined;
      const sampleOnce = () => (generated ??= task.generate({ tokens: length, sample, samples, seed, haystack, counter }));
      for (const method of pending) {
        work.push(
          limit(async () => {
            if (signal?.aborted) return;
            const generatedSample = sampleOnce();
            const base = { key: keyOf(method, length, sample), task: task.task, haystack, method: method.label, model: options.modelSpec, length, sample, seed, ...task.describe(generatedSample) };
            const record = await runCell(base, signal, async (usage) => {
              const { model } = await open(method.modelSettings);
              usage.counter = model.tokenCounter;
              return task.run(method, generatedSample, { model, usage, concurrency, signal });
            });
            if (!record) return;
            await options.store.add(record);
            options.onEvent?.({ type: 'cell-end', record, done: ++done, total, cached: false });
          }),
        );
      }
    }
    await Promise.all(work);
  } finally {
    for (const opened of models.values()) await opened.then((handle) => handle.close(), () => undefined);
  }
  const interrupted = signal?.aborted === true && done < total;
  options.onEvent?.({ type: 'grid-end', done, total, interrupted });
  return { cells: keys.map((key) => options.store.get(key)).filter((record): record is CellRecord => record !== undefined), interrupted };
}

/** The token counter of the first of these model variants that opens; tome's approximate counter when none does. */
async function modelCounter(open: OpenModel, variants: readonly ModelSettings[]): Promise<TokenCounter> {
  for (const settings of variants) {
    const counter = await open(settings).then((opened) => opened.model.tokenCounter, () => undefined);
    if (counter) return counter;
  }
  return approximateTokenCounter;
}

type CellBase = Omit<CellRecord, 'score' | 'answer' | 'modelCalls' | 'inputTokens' | 'outputTokens' | 'wallMs' | 'error' | 'summary'>;

/** One method on one sample; undefined when interrupted (nothing recorded, so a rerun does it again). */
async function runCell(base: CellBase, signal: AbortSignal | undefined, run: (usage: UsageCounter) => Promise<CellOutcome>): Promise<CellRecord | undefined> {
  const startedAt = performance.now();
  const usage = new UsageCounter();
  try {
    const { wallMs, ...outcome } = await run(usage);
    return { ...base, ...outcome, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, wallMs: wallMs ?? Math.round(performance.now() - startedAt) };
  } catch (error) {
    if (signal?.aborted || (TomeError.is(error) && error.code === 'ABORTED')) return undefined;
    // Typed errors (bad settings, a method the model cannot run) become a failed cell; anything else is a bug.
    if (!TomeError.is(error)) throw error;
    return { ...base, score: 0, answer: '', modelCalls: usage.calls, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, wallMs: Math.round(performance.now() - startedAt), error: { code: error.code, message: error.message } };
  }
}

/** Counts what model calls cost: prompt tokens in, generated tokens out, by the model's counter. Pass it as a callback. */
export class UsageCounter extends BaseCallbackHandler {
  name = 'tome-eval-usage';
  calls = 0;
  inputTokens = 0;
  outputTokens = 0;

  constructor(public counter: TokenCounter = approximateTokenCounter) {
    super();
  }

  override handleChatModelStart(_llm: unknown, messages: BaseMessage[][]): void {
    this.calls++;
    for (const message of messages.flat()) this.inputTokens += this.counter.count(typeof message.content === 'string' ? message.content : JSON.stringify(message.content));
  }

  override handleLLMEnd(output: LLMResult): void {
    for (const generation of output.generations.flat()) this.outputTokens += this.counter.count(generation.text);
  }
}
