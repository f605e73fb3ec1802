import type { ModelHandle } from '../../src/models/model-handle.js';
import { callModel, type AgentRuntime } from '../model-call.js';
import { generateSummary, type SummaryOutcome } from './generate-summary.js';
import { summarizeChunkPrompt } from './prompts.js';
import { wordLimitForTokens } from './validity.js';

export interface ChunkSummaryRequest {
  readonly chunk: string;
  /** Most tokens the summary may take; the word limit asked for is 0.65 × this. */
  readonly summaryTokens: number;
  /** Progress label and checkpoint-independent id, e.g. `leaf-summaries`, index 12. */
  readonly stage: string;
  readonly index: number;
}

/** Summarizes one chunk on its own: level 0 of hierarchical merging and the first step of incremental updating. */
export class ChunkSummarizer {
  constructor(readonly model: ModelHandle) {}

  async summarize(request: ChunkSummaryRequest, runtime: AgentRuntime = {}): Promise<SummaryOutcome> {
    const wordLimit = wordLimitForTokens(request.summaryTokens);
    return generateSummary(
      {
        stage: request.stage,
        index: request.index,
        wordLimit,
        attempt: async (limit, attempt) =>
          callModel(
            this.model,
            {
              step: `${request.stage}/${request.index}#${attempt}`,
              messages: await summarizeChunkPrompt.formatMessages({ chunk: request.chunk, wordLimit: limit }),
              task: { kind: 'summarize', source: request.chunk, wordLimit: limit },
              reservedOutputTokens: request.summaryTokens,
            },
            runtime,
          ),
      },
      runtime,
    );
  }
}
