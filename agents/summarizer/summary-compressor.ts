import type { ModelHandle } from '../../src/models/model-handle.js';
import { countWords } from '../../src/models/extractive/selection.js';
import { callModel, type AgentRuntime } from '../model-call.js';
import { compressSummaryPrompt } from './prompts.js';
import { MAX_SUMMARY_ATTEMPTS, WORDS_PER_TOKEN } from './validity.js';

/** A compression is accepted within ±20% of its target length. */
export const COMPRESSION_TOLERANCE = 0.2;

export interface CompressRequest {
  readonly summary: string;
  readonly targetWords: number;
  readonly stage: string;
  readonly index: number;
}

export interface CompressOutcome {
  readonly text: string;
  readonly attempts: number;
  /** False when no attempt landed within tolerance; `text` is then the attempt closest to the target. */
  readonly withinTolerance: boolean;
}

/** Shortens a running summary so an incremental update has room again. */
export class SummaryCompressor {
  constructor(readonly model: ModelHandle) {}

  async compress(request: CompressRequest, runtime: AgentRuntime = {}): Promise<CompressOutcome> {
    const { targetWords } = request;
    let closest = request.summary;
    let closestDistance = Math.abs(countWords(request.summary) - targetWords);
    for (let attempt = 1; attempt <= MAX_SUMMARY_ATTEMPTS; attempt++) {
      const reply = await callModel(
        this.model,
        {
          step: `${request.stage}/${request.index}/compress#${attempt}`,
          messages: await compressSummaryPrompt.formatMessages({ summary: request.summary, wordLimit: targetWords }),
          task: { kind: 'compress', summary: request.summary, wordLimit: targetWords },
          reservedOutputTokens: Math.ceil((targetWords * (1 + COMPRESSION_TOLERANCE)) / WORDS_PER_TOKEN),
        },
        runtime,
      );
      const words = countWords(reply.text);
      const distance = Math.abs(words - targetWords);
      if (reply.text !== '' && distance < closestDistance) {
        closest = reply.text;
        closestDistance = distance;
      }
      if (reply.text !== '' && distance <= targetWords * COMPRESSION_TOLERANCE) return { text: reply.text, attempts: attempt, withinTolerance: true };
    }
    return { text: closest, attempts: MAX_SUMMARY_ATTEMPTS, withinTolerance: false };
  }
}
