import { callModel, countPromptTokens } from '../agents/model-call.js';
import { backgroundBlock, blockSummaryPrompt, SCM_PROMPT_VERSION } from '../agents/scm/prompts.js';
import { SUMMARIZER_PROMPT_VERSION } from '../agents/summarizer/prompts.js';
import { SummaryMerger } from '../agents/summarizer/summary-merger.js';
import { WORDS_PER_TOKEN } from '../agents/summarizer/validity.js';
import { InvalidOptionError } from '../src/errors.js';
import { definedOnly } from '../src/options.js';
import { countWords } from '../src/models/extractive/selection.js';
import { map, reduceTree, segment } from '../src/pipeline/blocks.js';
import { Pipeline, toDocument, type DocumentInput, type PipelineSettings } from '../src/pipeline/pipeline.js';
import { summaryResult, type SummaryResult } from './book-summary.js';
import { packGroups } from './hierarchy-plan.js';

export const SCM_SUMMARY = 'scm-summary';

export interface ScmSummaryOptions {
  /** Tokens per block (the paper: 3,000), lowered to fit the window next to its background. Default 3,000. */
  blockTokens?: number;
  /** Words per block summary (the paper: 500). Default 500. */
  blockSummaryWords?: number;
  /** Tokens of block summaries merged at once (the paper: ~2,300). Default 2,300. */
  mergeGroupTokens?: number;
  /** Share of a group's words each merge keeps (the paper: the most compact ~30%). Default 0.3. */
  keepShare?: number;
}

/**
 * SCM's ultra-long document mode: summarize blocks with the block before each as background only (blocks are
 * independent, so they run in parallel), then merge groups of block summaries, keeping ~30% of their words, level by
 * level until one summary remains.
 */
export function scmSummary(settings: PipelineSettings, options: ScmSummaryOptions = {}): Pipeline<DocumentInput, SummaryResult> {
  const resolved = { blockTokens: 3000, blockSummaryWords: 500, mergeGroupTokens: 2300, keepShare: 0.3, ...definedOnly(options) };
  if (!(resolved.keepShare > 0 && resolved.keepShare < 1)) throw new InvalidOptionError('keepShare', resolved.keepShare, 'a number between 0 and 1');
  return new Pipeline(
    {
      name: SCM_SUMMARY,
      options: { ...resolved, prompts: [SCM_PROMPT_VERSION, SUMMARIZER_PROMPT_VERSION] },
      async run(input, context) {
        const document = toDocument(input);
        const { model } = context;
        const inputTokens = model.tokenCounter.count(document.text);
        context.emit({ type: 'pipeline-start', pipeline: SCM_SUMMARY, model: model.spec, inputTokens });
        const answerTokens = Math.ceil(resolved.blockSummaryWords / WORDS_PER_TOKEN);
        const fixed = countPromptTokens(model, await blockSummaryPrompt.formatMessages({ background: backgroundBlock(' '), block: '', wordLimit: resolved.blockSummaryWords }));
        // A block and its background must fit together with the prompt and the answer.
        const blockTokens = Math.min(resolved.blockTokens, Math.floor((model.contextWindow - fixed - answerTokens - 32) / 2));
        if (blockTokens < 64) throw new InvalidOptionError('blockSummaryWords', resolved.blockSummaryWords, `smaller for a ${model.contextWindow}-token window`);
        const blocks = segment(context, document.text, { maxTokens: blockTokens });
        const blockSummaries = await map(context, { name: 'scm-blocks' }, blocks, async (block, index) => {
          const background = index === 0 ? '' : blocks[index - 1]!.text;
          const reply = await callModel(
            model,
            {
              step: `scm-blocks/${index}`,
              messages: await blockSummaryPrompt.formatMessages({ background: backgroundBlock(background), block: block.text, wordLimit: resolved.blockSummaryWords }),
              task: { kind: 'summarize', source: block.text, wordLimit: resolved.blockSummaryWords },
              reservedOutputTokens: answerTokens,
            },
            context,
          );
          return reply.text;
        });
        const merger = new SummaryMerger(model);
        const fixedMerge = await merger.fixedPromptTokens();
        // The answer reserve is keepShare × the group's words / 0.65; a word costs at least one token.
        const groupTokens = Math.min(resolved.mergeGroupTokens, Math.floor((model.contextWindow - fixedMerge - 32) / (1 + resolved.keepShare / WORDS_PER_TOKEN)));
        const { root, mergeLevels } = await reduceTree(context, 'scm-merge', blockSummaries, {
          group: (items) => {
            const groups = packGroups(items, (summary, number) => merger.blockTokens(summary, number), groupTokens);
            // Summaries that each fill a group on their own (a model overshooting its limit) are merged in pairs.
            return groups.length < items.length ? groups : Array.from({ length: Math.ceil(items.length / 2) }, (_, index) => items.slice(index * 2, index * 2 + 2));
          },
          merge: async (group, position) => {
            const keepWords = Math.max(30, Math.round(resolved.keepShare * group.reduce((sum, summary) => sum + countWords(summary), 0)));
            const outcome = await merger.merge({ summaries: group, context: '', summaryTokens: Math.ceil(keepWords / WORDS_PER_TOKEN), stage: `scm-merge/level-${position.level}`, index: position.index }, context);
            return outcome.text;
          },
          carryPrevious: false,
        });
        return summaryResult(context, 'scm', root, blocks.length, mergeLevels + 1, inputTokens);
      },
    },
    settings,
  );
}
