import type { BaseMessage } from '@langchain/core/messages';
import type { ModelHandle } from '../../src/models/model-handle.js';
import { countWords } from '../../src/models/extractive/selection.js';
import { callModel, countPromptTokens, type AgentRuntime } from '../model-call.js';
import { shrunkWordLimit, wordLimitForTokens } from '../summarizer/validity.js';
import { leadingSentencesWithin } from './notes.js';
import { compressNotesPrompt, previousNotesBlock, workerQueryPrompt, workerSummaryPrompt } from './prompts.js';

/** Compression attempts for a CU that came back over budget, each asking for 10% fewer words. */
export const MAX_CU_COMPRESSIONS = 3;

export interface WorkerStepRequest {
  /** The part of the text this worker reads. */
  readonly chunk: string;
  /** The communication unit of the worker before; '' for the first worker. */
  readonly previous: string;
  /** The question; absent (or blank) for the query-free (summarization) variant. */
  readonly query?: string;
  /** Most tokens the new CU may hold; also the room reserved for the worker's answer. Word limit: 0.65 × this. */
  readonly maxCuTokens: number;
  /** Progress label and step name, e.g. `workers/path-1`, index 12 (position in reading order). */
  readonly stage: string;
  readonly index: number;
}

export interface WorkerStepOutcome {
  /** The new CU, at most `maxCuTokens` tokens by the model's counter. */
  readonly text: string;
  /** Compression calls it took to bring the CU within budget (0 when the reply fitted). */
  readonly compressions: number;
  /** True when compression did not bring the CU within budget and it was cut at sentence ends. */
  readonly cut: boolean;
}

/**
 * A Chain-of-Agents worker: CU_i = worker(CU_{i−1}, chunk_i, query). A CU longer than `maxCuTokens` is never
 * passed on as it is, nor silently truncated: it is compressed (a `compress` task aiming at 0.65·maxCuTokens
 * words, up to {@link MAX_CU_COMPRESSIONS} attempts), and only if that fails cut to whole sentences; either way a
 * `summary-compressed` progress event reports it.
 */
export class ChainWorker {
  constructor(readonly model: ModelHandle) {}

  /** Tokens of the worker prompt with empty notes, chunk and question: what chunk budgeting must leave room for. */
  async fixedPromptTokens(withQuery: boolean, maxCuTokens: number): Promise<number> {
    return countPromptTokens(this.model, await this.messages({ chunk: '', previous: '', query: withQuery ? '' : undefined }, wordLimitForTokens(maxCuTokens)));
  }

  async step(request: WorkerStepRequest, runtime: AgentRuntime = {}): Promise<WorkerStepOutcome> {
    const wordLimit = wordLimitForTokens(request.maxCuTokens);
    const query = hasQuery(request.query) ? request.query : undefined;
    const reply = await callModel(
      this.model,
      {
        step: `${request.stage}/${request.index}`,
        messages: await this.messages({ chunk: request.chunk, previous: request.previous, query }, wordLimit),
        task: { kind: 'worker-step', source: request.chunk, previous: request.previous, ...(query === undefined ? {} : { query }), chunkIndex: request.index, wordLimit },
        reservedOutputTokens: request.maxCuTokens,
      },
      runtime,
    );
    let text = reply.text;
    if (text === '') {
      // An empty reply would erase everything read so far: pass the earlier notes on instead.
      runtime.emit?.({ type: 'output-rejected', stage: request.stage, index: request.index, attempt: 1, reason: 'empty', wordLimit });
      text = request.previous;
    }
    if (this.tokens(text) <= request.maxCuTokens) return { text, compressions: 0, cut: false };
    return this.compress(text, request, runtime);
  }

  private async compress(text: string, request: WorkerStepRequest, runtime: AgentRuntime): Promise<WorkerStepOutcome> {
    const { maxCuTokens } = request;
    const targetWords = wordLimitForTokens(maxCuTokens);
    const fixed = countPromptTokens(this.model, await compressNotesPrompt.formatMessages({ communication: '', wordLimit: targetWords }));
    // The over-long CU has to fit the compression prompt itself; the window always leaves room for more than one CU.
    const input = leadingSentencesWithin(text, (part) => this.tokens(part), Math.max(1, this.model.contextWindow - fixed - maxCuTokens - COMPRESS_MARGIN_TOKENS));
    let best = input;
    let compressions = 0;
    for (let attempt = 1; attempt <= MAX_CU_COMPRESSIONS && this.tokens(best) > maxCuTokens; attempt++) {
      const wordLimit = shrunkWordLimit(targetWords, attempt);
      const reply = await callModel(
        this.model,
        {
          step: `${request.stage}/${request.index}/compress#${attempt}`,
          messages: await compressNotesPrompt.formatMessages({ communication: input, wordLimit }),
          task: { kind: 'compress', summary: input, wordLimit },
          reservedOutputTokens: maxCuTokens,
        },
        runtime,
      );
      compressions++;
      if (reply.text !== '' && this.tokens(reply.text) < this.tokens(best)) best = reply.text;
    }
    const cut = this.tokens(best) > maxCuTokens;
    if (cut) best = leadingSentencesWithin(best, (part) => this.tokens(part), maxCuTokens);
    runtime.emit?.({ type: 'summary-compressed', stage: request.stage, index: request.index, fromWords: countWords(text), toWords: countWords(best), targetWords });
    return { text: best, compressions, cut };
  }

  private tokens(text: string): number {
    return this.model.tokenCounter.count(text);
  }

  private async messages(fields: { chunk: string; previous: string; query: string | undefined }, wordLimit: number): Promise<BaseMessage[]> {
    const previous = previousNotesBlock(fields.previous);
    return fields.query === undefined
      ? workerSummaryPrompt.formatMessages({ previous, chunk: fields.chunk, wordLimit })
      : workerQueryPrompt.formatMessages({ previous, chunk: fields.chunk, query: fields.query, wordLimit });
  }
}

/** Slack between the compression prompt and the window, for counters that are not exactly additive. */
const COMPRESS_MARGIN_TOKENS = 16;

export function hasQuery(query: string | undefined): query is string {
  return query !== undefined && query.trim() !== '';
}
