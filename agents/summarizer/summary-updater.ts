import type { ModelHandle } from '../../src/models/model-handle.js';
import { countWords } from '../../src/models/extractive/selection.js';
import { callModel, type AgentRuntime } from '../model-call.js';
import { generateSummary, type SummaryOutcome } from './generate-summary.js';
import { updateSummaryPrompt } from './prompts.js';
import type { SummaryCompressor } from './summary-compressor.js';
import { wordLimitForTokens } from './validity.js';

/** Compression never aims below this many words: a target of 3 words (early in a long book) helps nobody. */
export const MIN_COMPRESSION_WORDS = 25;

export interface UpdateRequest {
  readonly summary: string;
  readonly chunk: string;
  /** 1-based number of this chunk, out of `parts`. */
  readonly part: number;
  readonly parts: number;
  readonly summaryTokens: number;
  readonly stage: string;
  readonly index: number;
}

export interface UpdateOutcome extends SummaryOutcome {
  /** How many times the previous summary was compressed to make room. */
  readonly compressions: number;
}

/**
 * Folds the next chunk into the running summary (incremental updating). When an update comes back too long or
 * cut off, the *previous* summary is compressed to ≈ wordLimit·(parts covered)/(all parts) words and the update
 * is asked again — BooookScore's remedy for a summary that has outgrown its budget.
 */
export class SummaryUpdater {
  constructor(
    readonly model: ModelHandle,
    private readonly compressor: SummaryCompressor,
  ) {}

  async update(request: UpdateRequest, runtime: AgentRuntime = {}): Promise<UpdateOutcome> {
    const wordLimit = wordLimitForTokens(request.summaryTokens);
    let previous = request.summary;
    let compressions = 0;
    const outcome = await generateSummary(
      {
        stage: request.stage,
        index: request.index,
        wordLimit,
        attempt: async (limit, attempt) =>
          callModel(
            this.model,
            {
              step: `${request.stage}/${request.index}#${attempt}`,
              messages: await updateSummaryPrompt.formatMessages({ summary: previous, chunk: request.chunk, part: request.part, parts: request.parts, wordLimit: limit }),
              task: { kind: 'update', summary: previous, source: request.chunk, chunkIndex: request.part - 1, chunkCount: request.parts, wordLimit: limit },
              reservedOutputTokens: request.summaryTokens,
            },
            runtime,
          ),
        onRejected: async (problem) => {
          if (problem === 'empty') return;
          const targetWords = Math.max(MIN_COMPRESSION_WORDS, Math.round((wordLimit * (request.part - 1)) / request.parts));
          const fromWords = countWords(previous);
          if (fromWords <= targetWords) return;
          const compressed = await this.compressor.compress({ summary: previous, targetWords, stage: request.stage, index: request.index }, runtime);
          compressions++;
          runtime.emit?.({ type: 'summary-compressed', stage: request.stage, index: request.index, fromWords, toWords: countWords(compressed.text), targetWords });
          previous = compressed.text;
        },
      },
      runtime,
    );
    return { ...outcome, compressions };
  }
}
