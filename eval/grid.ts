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
import type { EvalSample, EvalTask } from './task.js';

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

/** Identity of a cell: everything that changes what it computes. */
export function cellKey(parts: { task: string; haystack: string; method: string; model: string; length: number; sample: number; seed: number }): string {
  return [parts.task, parts.haystack, parts.method, parts.model, parts.length, parts.sample, parts.seed].join('|');
}

/**
 * Run every method on every generated sample of every length and record one {@link CellRecord} per cell. Each
 * sample is generated once and shared by all methods; cells already in the store are skipped. Ctrl-C (the
 * signal) stops starting cells and abandons the ones in flight; everything finished stays recorded.
 */
export async function runEvalGrid(options: EvalGridOptions): Promise<EvalGridResult> {
  const samples = options.samples ?? 5;
  const seed = options.seed ?? 1;
  const haystack = options.haystack ?? 'filler';
  const limit = pLimit(options.concurrency ?? 1);
  const models = new Map<string, ReturnType<ModelSource>>();
  const modelFor = (settings: ModelSettings) => {
    const key = settingsKey(settings);
    if (!models.has(key)) models.set(key, options.models(settings));
    return models.get(key)!;
  };
  const plan = options.lengths.flatMap((length) => Array.from({ length: samples }, (_, sample) => ({ length, sample })));
  const keyOf = (method: MethodSpec, length: number, sample: number) => cellKey({ task: options.task.name, haystack, method: method.label, model: options.modelSpec, length, sample, seed });
  const keys = plan.flatMap(({ length, sample }) => options.methods.map((method) => keyOf(method, length, sample)));
  const total = keys.length;
  let done = keys.filter((key) => options.store.has(key)).length;
  options.onEvent?.({ type: 'grid-start', total, done });

  const signal = options.signal;
  // Lengths are exact by the model's own counter unless the caller names one.
  const counter = options.counter ?? (await modelFor({}).then((opened) => opened.model.tokenCounter, () => approximateTokenCounter));
  const work: Promise<void>[] = [];
  for (const { length, sample } of plan) {
    const pending = options.methods.filter((method) => !options.store.has(keyOf(method, length, sample)));
    if (pending.length === 0) continue;
    let generated: EvalSample | undefined;
    const sampleOnce = () => (generated ??= options.task.generate({ tokens: length, sample, samples, seed, haystack, counter }));
    for (const method of pending) {
      work.push(
        limit(async () => {
          if (signal?.aborted) return;
          const record = await runCell({ method, sample: sampleOnce(), length, index: sample, seed, haystack, modelSpec: options.modelSpec, key: keyOf(method, length, sample), modelFor, concurrency: options.concurrency ?? 1, signal });
          if (!record) return;
          await options.store.add(record);
          options.onEvent?.({ type: 'cell-end', record, done: ++done, total, cached: false });
        }),
      );
    }
  }
  try {
    await Promise.all(work);
  } finally {
    for (const opened of models.values()) await opened.then((handle) => handle.close(), () => undefined);
  }
  const interrupted = signal?.aborted === true && done < total;
  options.onEvent?.({ type: 'grid-end', done, total, interrupted });
  return { cells: keys.map((key) => options.store.get(key)).filter((record): record is CellRecord => record !== undefined), interrupted };
}

interface CellRun {
  method: MethodSpec;
  sample: EvalSample;
  length: number;
  index: number;
  seed: number;
  haystack: string;
  modelSpec: string;
  key: string;
  concurrency: number;
  modelFor: (settings: ModelSettings) => ReturnType<ModelSource>;
  signal?: AbortSignal;
}

/** One method on one sample; undefined when interrupted (nothing recorded, so a rerun does it again). */
async function runCell(run: CellRun): Promise<CellRecord | undefined> {
  const base = { key: run.key, task: run.sample.task, haystack: run.haystack, method: run.method.label, model: run.modelSpec, length: run.length, sample: run.index, seed: run.seed, tokens: run.sample.tokens, ...(run.sample.depth === undefined ? {} : { depth: run.sample.depth }), expected: run.sample.answers };
  const startedAt = performance.now();
  let usage: UsageCounter | undefined;
  try {
    const { model } = await run.modelFor(run.method.modelSettings);
    usage = new UsageCounter(model.tokenCounter);
    const pipeline = methodPipeline(run.method, { model, concurrency: run.concurrency });
    const result = await pipeline.invoke({ document: run.sample.document, question: run.sample.question }, { signal: run.signal, callbacks: [usage] });
    return { ...base, score: scoreSample(run.sample, result.answer), answer: result.answer.slice(0, 500), modelCalls: result.modelCalls, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, wallMs: Math.round(performance.now() - startedAt) };
  } catch (error) {
    if (run.signal?.aborted || (TomeError.is(error) && error.code === 'ABORTED')) return undefined;
    // Typed errors (bad settings, a method the model cannot run) become a failed cell; anything else is a bug.
    if (!TomeError.is(error)) throw error;
    return { ...base, score: 0, answer: '', modelCalls: usage?.calls ?? 0, inputTokens: usage?.inputTokens ?? 0, outputTokens: usage?.outputTokens ?? 0, wallMs: Math.round(performance.now() - startedAt), error: { code: error.code, message: error.message } };
  }
}

/** Counts what a cell's model calls cost: prompt tokens in, generated tokens out, by the model's counter. */
class UsageCounter extends BaseCallbackHandler {
  name = 'tome-eval-usage';
  calls = 0;
  inputTokens = 0;
  outputTokens = 0;

  constructor(private readonly counter: TokenCounter) {
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

