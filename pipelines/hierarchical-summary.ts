import { ChunkSummarizer } from '../agents/summarizer/chunk-summarizer.js';
import { SUMMARIZER_PROMPT_VERSION, summarizeChunkPrompt } from '../agents/summarizer/prompts.js';
import { SummaryMerger } from '../agents/summarizer/summary-merger.js';
import { countPromptTokens } from '../agents/model-call.js';
import type { TomeDocument } from '../src/documents.js';
import { map, reduceLevel, reduceTree, segment, type ReduceTreeOptions } from '../src/pipeline/blocks.js';
import { NoCheckpoint } from '../src/checkpoint.js';
import { canRunFlows, type ExecutorTask, type FlowExecutor, type FlowNode } from '../src/executor/executor.js';
import { registerTask } from '../src/executor/task-registry.js';
import { InProcessExecutor } from '../src/executor/in-process-executor.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { Pipeline, toDocument, type DocumentInput, type PipelineSettings } from '../src/pipeline/pipeline.js';
import { RunContext } from '../src/pipeline/run-context.js';
import { assertChunkFits, resolveBookSummaryOptions, summaryResult, type BookSummaryOptions, type SummaryResult } from './book-summary.js';
import { mergeSpace, packGroups, planLevelBudgets } from './hierarchy-plan.js';

export const HIERARCHICAL_SUMMARY = 'hierarchical-summary';

/**
 * Hierarchical merging (BooookScore): summarize every chunk on its own (in parallel), then merge consecutive
 * summaries level by level until one remains. Each merge sees the previous merged summary of its level as
 * context (capped at 20% of the free space), so levels above the leaves run in reading order.
 *
 *   chunks ──▶ leaf summaries (budget·0.65^L) ──▶ merges (·0.65^(L−1)) ──▶ … ──▶ final summary (budget)
 */
export function hierarchicalSummary(settings: PipelineSettings, options: BookSummaryOptions = {}): Pipeline<DocumentInput, SummaryResult> {
  const resolved = resolveBookSummaryOptions(options);
  return new Pipeline(
    {
      name: HIERARCHICAL_SUMMARY,
      options: { ...resolved, prompts: SUMMARIZER_PROMPT_VERSION },
      run: (input, context) => summarizeHierarchically(toDocument(input), context, resolved),
    },
    settings,
  );
}

async function summarizeHierarchically(document: TomeDocument, context: RunContext, options: Required<BookSummaryOptions>): Promise<SummaryResult> {
  const { model } = context;
  const inputTokens = model.tokenCounter.count(document.text);
  context.emit({ type: 'pipeline-start', pipeline: HIERARCHICAL_SUMMARY, model: model.spec, inputTokens });
  const chunks = segment(context, document.text, { maxTokens: options.chunkTokens });
  const summarizer = new ChunkSummarizer(model);
  const merger = new SummaryMerger(model);
  const fixedMergeTokens = await merger.fixedPromptTokens();
  const budgets = planLevelBudgets({
    chunkCount: chunks.length,
    contextWindow: model.contextWindow,
    fixedPromptTokens: fixedMergeTokens,
    topTokens: options.summaryTokens,
    levelRatio: options.levelRatio,
  });
  const budgetAt = (level: number) => budgets[Math.min(level, budgets.length - 1)]!;
  const leafFixedTokens = countPromptTokens(model, await summarizeChunkPrompt.formatMessages({ chunk: '', wordLimit: 99999 }));
  assertChunkFits(context, leafFixedTokens, options.chunkTokens, budgetAt(0));

  if (canRunFlows(context.executor)) {
    // On a flow-capable executor (Redis) the whole tree is one flow: see summaryFlow.
    const { root, mergeLevels } = await summaryFlow(context, chunks.map((chunk) => chunk.text), budgets, fixedMergeTokens);
    return summaryResult(context, 'hierarchical', root, chunks.length, mergeLevels + 1, inputTokens);
  }

  const leaves = await map(context, { name: 'leaf-summaries', level: 0 }, chunks, async (chunk, index) => {
    const outcome = await summarizer.summarize({ chunk: chunk.text, summaryTokens: budgetAt(0), stage: 'leaf-summaries', index }, context);
    return outcome.text;
  });

  const { root, mergeLevels } = await reduceTree(context, 'merge', leaves, mergeOperations(model, merger, fixedMergeTokens, budgets, context));
  return summaryResult(context, 'hierarchical', root, chunks.length, mergeLevels + 1, inputTokens);
}

/** How levels are grouped and merged: the same code in-process (reduceTree) and in a flow's level steps. */
function mergeOperations(model: ModelHandle, merger: SummaryMerger, fixedMergeTokens: number, budgets: readonly number[], runtime: RunContext): ReduceTreeOptions<string> {
  const topBudget = budgets.at(-1)!;
  const budgetAt = (level: number) => budgets[Math.min(level, budgets.length - 1)]!;
  const blockTokens = (summary: string, number: number) => merger.blockTokens(summary, number);
  return {
    group(items, level) {
      const asFinal = packGroups(items, blockTokens, mergeSpace(model.contextWindow, fixedMergeTokens, topBudget).summaries);
      if (asFinal.length === 1) return asFinal;
      const asLevel = packGroups(items, blockTokens, mergeSpace(model.contextWindow, fixedMergeTokens, budgetAt(level)).summaries);
      // One group under the smaller level budget would become the final merge, which needs the top budget's room.
      return asLevel.length > 1 ? asLevel : asFinal;
    },
    async merge(group, position) {
      const budget = position.final ? topBudget : budgetAt(position.level);
      const space = mergeSpace(model.contextWindow, fixedMergeTokens, budget);
      const previous = position.previous === undefined ? '' : trailingSentencesWithin(position.previous, (text) => merger.contextTokens(text), space.context);
      const outcome = await merger.merge({ summaries: group, context: previous, summaryTokens: budget, stage: `merge/level-${position.level}`, index: position.index }, runtime);
      return outcome.text;
    },
  };
}

/**
 * The tree of a hierarchical summary as one flow of registered steps. Every leaf summary is a child of the level-1
 * step; each level's step is the only child of the next level's; the root is the last planned level. A level
 * step runs once all its children have finished, reads their summaries in order (`childrenValues`) and does that
 * level's grouping and in-order merges — one step per level, not per merge, because how a level is grouped
 * depends on the token lengths of the summaries below it, which exist only once those have run. The root keeps
 * merging while more than one summary is left (as reduceTree does); a level left with one summary passes it on.
 * Steps rebuild the model from its spec and report their model calls, so the result equals the in-process one.
 */
async function summaryFlow(context: RunContext, chunks: readonly string[], budgets: readonly number[], fixedMergeTokens: number): Promise<{ root: string; mergeLevels: number }> {
  const model = { model: context.model.spec, contextWindow: context.model.contextWindow };
  const leaves: FlowNode[] = chunks.map((chunk, index) => ({ task: leafTask, input: { ...model, chunk, summaryTokens: budgets[0]!, index } satisfies LeafInput }));
  const plannedLevels = budgets.length - 1;
  let node: FlowNode | undefined;
  for (let level = 1; level <= plannedLevels; level++) {
    node = { task: levelTask, input: { ...model, level, budgets, fixedMergeTokens, root: level === plannedLevels } satisfies LevelInput, children: node ? [node] : leaves };
  }
  const total = chunks.length + plannedLevels;
  context.emit({ type: 'stage-start', stage: 'leaf-summaries', level: 0, total: chunks.length, cached: 0 });
  let done = 0;
  const output = await (context.executor as FlowExecutor).runFlow<FlowOutput>(node ?? leaves[0]!, {
    signal: context.signal,
    onEvent: (event) => {
      if (event.type !== 'step-end') return;
      done++;
      const stage = event.task === leafTask.name ? 'leaf-summaries' : 'merge';
      context.emit({ type: 'step-end', stage, level: event.task === leafTask.name ? 0 : 1, index: event.index, done, total, cached: event.attempt === 0 });
    },
  });
  context.emit({ type: 'stage-end', stage: 'leaf-summaries', level: 0 });
  context.stats.modelCalls += output.modelCalls;
  context.stats.promptTokens += output.promptTokens;
  return { root: output.items[0]!, mergeLevels: output.mergeLevels };
}

interface StepModel {
  /** Spec of the run's model, resolved where the step runs. */
  readonly model: string;
  readonly contextWindow: number;
}
interface LeafInput extends StepModel {
  readonly chunk: string;
  readonly summaryTokens: number;
  readonly index: number;
}
interface LevelInput extends StepModel {
  readonly level: number;
  readonly budgets: readonly number[];
  readonly fixedMergeTokens: number;
  /** The top planned level: keeps merging until one summary is left. */
  readonly root: boolean;
}
/** What every step of the flow returns: its summaries in order, and counts over its whole subtree. */
interface FlowOutput {
  readonly items: string[];
  readonly modelCalls: number;
  readonly promptTokens: number;
  readonly mergeLevels: number;
}

/** A run context for one step on a worker: counts its model calls; no checkpoint (the job's id is its record). */
function stepContext(model: ModelHandle): RunContext {
  return new RunContext(model, new InProcessExecutor({ concurrency: 1 }), new NoCheckpoint(), 1, () => {});
}

const leafTask = registerTask<LeafInput, FlowOutput>({
  name: 'hierarchical-summary/leaf',
  async run(input, task) {
    const model = await task.model(input.model, input.contextWindow);
    const context = stepContext(model);
    const outcome = await new ChunkSummarizer(model).summarize({ chunk: input.chunk, summaryTokens: input.summaryTokens, stage: 'leaf-summaries', index: input.index }, context);
    return { items: [outcome.text], modelCalls: context.stats.modelCalls, promptTokens: context.stats.promptTokens, mergeLevels: 0 };
  },
}) as unknown as ExecutorTask<unknown, unknown>;

const levelTask = registerTask<LevelInput, FlowOutput>({
  name: 'hierarchical-summary/merge-level',
  async run(input, task) {
    const children = task.childrenValues as FlowOutput[];
    let items = children.flatMap((child) => child.items);
    let mergeLevels = Math.max(0, ...children.map((child) => child.mergeLevels));
    const model = await task.model(input.model, input.contextWindow);
    const context = stepContext(model);
    const operations = mergeOperations(model, new SummaryMerger(model), input.fixedMergeTokens, input.budgets, context);
    for (let level = input.level; items.length > 1 && (level === input.level || input.root); level++) {
      items = await reduceLevel(context, 'merge', items, level, operations);
      mergeLevels = level;
    }
    const sum = (field: 'modelCalls' | 'promptTokens') => children.reduce((total, child) => total + child[field], context.stats[field]);
    return { items, modelCalls: sum('modelCalls'), promptTokens: sum('promptTokens'), mergeLevels };
  },
}) as unknown as ExecutorTask<unknown, unknown>;

/**
 * The end of `text` costing at most `cap` tokens: the part nearest what follows. Whole sentences when at least one
 * fits; otherwise the last sentence's trailing words after an ellipsis, so some continuity always survives.
 */
export function trailingSentencesWithin(text: string, tokens: (text: string) => number, cap: number): string {
  const sentences = text.trim().split(/(?<=[.!?…]["'”’)\]]*)\s+/);
  let kept = '';
  for (let index = sentences.length - 1; index >= 0; index--) {
    const candidate = kept === '' ? sentences[index]! : `${sentences[index]} ${kept}`;
    if (tokens(candidate) > cap) break;
    kept = candidate;
  }
  if (kept !== '') return kept;
  const words = (sentences.at(-1) ?? '').split(/\s+/);
  for (let start = 1; start < words.length; start++) {
    const candidate = `…${words.slice(start).join(' ')}`;
    if (tokens(candidate) <= cap) return candidate;
  }
  return '';
}
