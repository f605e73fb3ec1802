import { ChunkSummarizer } from '../agents/summarizer/chunk-summarizer.js';
import { SUMMARIZER_PROMPT_VERSION, summarizeChunkPrompt } from '../agents/summarizer/prompts.js';
import { SummaryMerger } from '../agents/summarizer/summary-merger.js';
import { countPromptTokens } from '../agents/model-call.js';
import type { TomeDocument } from '../src/documents.js';
import { map, reduceTree, segment } from '../src/pipeline/blocks.js';
import { Pipeline, toDocument, type DocumentInput, type PipelineSettings } from '../src/pipeline/pipeline.js';
import type { RunContext } from '../src/pipeline/run-context.js';
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
  const topBudget = budgets.at(-1)!;
  const budgetAt = (level: number) => budgets[Math.min(level, budgets.length - 1)]!;
  const leafFixedTokens = countPromptTokens(model, await summarizeChunkPrompt.formatMessages({ chunk: '', wordLimit: 99999 }));
  assertChunkFits(context, leafFixedTokens, options.chunkTokens, budgetAt(0));

  const leaves = await map(context, { name: 'leaf-summaries', level: 0 }, chunks, async (chunk, index) => {
    const outcome = await summarizer.summarize({ chunk: chunk.text, summaryTokens: budgetAt(0), stage: 'leaf-summaries', index }, context);
    return outcome.text;
  });

  const blockTokens = (summary: string, number: number) => merger.blockTokens(summary, number);
  const { root, mergeLevels } = await reduceTree(context, 'merge', leaves, {
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
      const outcome = await merger.merge({ summaries: group, context: previous, summaryTokens: budget, stage: `merge/level-${position.level}`, index: position.index }, context);
      return outcome.text;
    },
  });
  return summaryResult(context, 'hierarchical', root, chunks.length, mergeLevels + 1, inputTokens);
}

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
