import type { ModelHandle } from '../../src/models/model-handle.js';
import { callModel, countPromptTokens, type AgentRuntime } from '../model-call.js';
import { generateSummary, type SummaryOutcome } from './generate-summary.js';
import { mergeContextBlock, mergeSummariesPrompt, summaryBlock } from './prompts.js';
import { wordLimitForTokens } from './validity.js';

export interface MergeRequest {
  /** Consecutive summaries of one level, in reading order. */
  readonly summaries: readonly string[];
  /** The previous merged summary of the same level, already cut to its token cap; '' for none. */
  readonly context: string;
  readonly summaryTokens: number;
  readonly stage: string;
  readonly index: number;
}

/** Merges consecutive summaries into one (levels ≥ 1 of hierarchical merging). */
export class SummaryMerger {
  constructor(readonly model: ModelHandle) {}

  /** Tokens of the merge prompt with no summaries and no context: what packing must leave room for. */
  async fixedPromptTokens(): Promise<number> {
    const messages = await mergeSummariesPrompt.formatMessages({ context: '', summaries: '', wordLimit: 99999 });
    return countPromptTokens(this.model, messages);
  }

  /** Tokens that summary `number` (1-based) adds to the prompt. */
  blockTokens(summary: string, number: number): number {
    return this.model.tokenCounter.count(summaryBlock(summary, number));
  }

  /** Tokens the context adds to the prompt. */
  contextTokens(context: string): number {
    return context === '' ? 0 : this.model.tokenCounter.count(mergeContextBlock(context));
  }

  async merge(request: MergeRequest, runtime: AgentRuntime = {}): Promise<SummaryOutcome> {
    const summaries = request.summaries.map((summary, position) => summaryBlock(summary, position + 1)).join('').trimEnd();
    return generateSummary(
      {
        stage: request.stage,
        index: request.index,
        wordLimit: wordLimitForTokens(request.summaryTokens),
        attempt: async (limit, attempt) =>
          callModel(
            this.model,
            {
              step: `${request.stage}/${request.index}#${attempt}`,
              messages: await mergeSummariesPrompt.formatMessages({ context: mergeContextBlock(request.context), summaries, wordLimit: limit }),
              task: { kind: 'merge', summaries: request.summaries, ...(request.context === '' ? {} : { context: request.context }), wordLimit: limit },
              reservedOutputTokens: request.summaryTokens,
            },
            runtime,
          ),
      },
      runtime,
    );
  }
}
