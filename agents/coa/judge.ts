import type { ModelHandle } from '../../src/models/model-handle.js';
import { callModel, countPromptTokens, type AgentRuntime } from '../model-call.js';
import { leadingSentencesWithin } from './notes.js';
import { candidateBlock, judgePrompt, judgeQuestionBlock } from './prompts.js';

/** Tokens reserved for the judge's reply (a number, maybe with a word or two around it). */
export const JUDGE_REPLY_TOKENS = 16;
/** Word limit the judge task carries. */
export const JUDGE_WORD_LIMIT = 8;
/** Slack kept free in the judge prompt, for counters that are not exactly additive. */
const JUDGE_MARGIN_TOKENS = 16;

export interface JudgeRequest {
  /** The final answers of the reading paths, in path order. */
  readonly candidates: readonly string[];
  readonly query?: string;
  readonly stage: string;
  readonly index: number;
}

export interface JudgeOutcome {
  /** 0-based index of the chosen candidate. */
  readonly choice: number;
  /** The judge's raw reply ('' when there was a single candidate and no call). */
  readonly reply: string;
}

/**
 * Picks the best of several reading paths' answers with a `judge` task (the paper found an LLM judge beats
 * majority vote). The reply is read leniently: the first integer in 1…n, else candidate 1.
 */
export class PathJudge {
  constructor(readonly model: ModelHandle) {}

  /** Tokens of the judge prompt with no candidates, for `candidates` of them (the question included). */
  async fixedPromptTokens(query: string | undefined, candidates: number): Promise<number> {
    return countPromptTokens(this.model, await judgePrompt.formatMessages({ question: judgeQuestionBlock(query), candidates: '', count: candidates }));
  }

  /** Tokens candidate `number` (1-based) adds to the prompt. */
  blockTokens(candidate: string, number: number): number {
    return this.model.tokenCounter.count(candidateBlock(candidate, number));
  }

  async judge(request: JudgeRequest, runtime: AgentRuntime = {}): Promise<JudgeOutcome> {
    const count = request.candidates.length;
    if (count <= 1) return { choice: 0, reply: '' };
    // Pipelines size answers so that all candidates fit; a model that overran its answer budget is shown to the
    // judge by its leading sentences (the candidate itself is kept whole).
    const room = this.model.contextWindow - (await this.fixedPromptTokens(request.query, count)) - JUDGE_REPLY_TOKENS - JUDGE_MARGIN_TOKENS;
    const share = Math.floor(room / count);
    const shown = request.candidates.map((candidate, position) => {
      if (this.blockTokens(candidate, position + 1) <= share) return candidate;
      const labelTokens = this.blockTokens('', position + 1);
      return leadingSentencesWithin(candidate, (text) => this.model.tokenCounter.count(text), Math.max(1, share - labelTokens));
    });
    const reply = await callModel(
      this.model,
      {
        step: `${request.stage}/${request.index}`,
        messages: await judgePrompt.formatMessages({
          question: judgeQuestionBlock(request.query),
          candidates: shown.map((candidate, position) => candidateBlock(candidate, position + 1)).join('').trimEnd(),
          count,
        }),
        task: { kind: 'judge', ...(request.query === undefined || request.query.trim() === '' ? {} : { query: request.query }), candidates: shown, wordLimit: JUDGE_WORD_LIMIT },
        reservedOutputTokens: JUDGE_REPLY_TOKENS,
      },
      runtime,
    );
    return { choice: parseJudgeReply(reply.text, count) - 1, reply: reply.text };
  }
}

/** The first integer in the reply that is between 1 and `count`; 1 when there is none. */
export function parseJudgeReply(reply: string, count: number): number {
  for (const match of reply.matchAll(/\d+/g)) {
    const value = Number(match[0]);
    if (Number.isInteger(value) && value >= 1 && value <= count) return value;
  }
  return 1;
}
