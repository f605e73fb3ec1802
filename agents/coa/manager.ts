import type { BaseMessage } from '@langchain/core/messages';
import type { ModelHandle } from '../../src/models/model-handle.js';
import type { ManagerStepTask } from '../../src/tasks.js';
import { callModel, countPromptTokens, type AgentRuntime, type ModelRequest } from '../model-call.js';
import { generateSummary } from '../summarizer/generate-summary.js';
import { wordLimitForTokens } from '../summarizer/validity.js';
import { DEFAULT_QUESTION_INSTRUCTION, DEFAULT_SUMMARY_INSTRUCTION, managerQueryPrompt, managerSummaryPrompt } from './prompts.js';
import { streamModel } from './window.js';
import { hasQuery } from './worker.js';

export interface ManagerRequest {
  /** The LAST communication unit: the manager sees nothing else of the text. */
  readonly communication: string;
  /** The question; absent (or blank) for the final summary. */
  readonly query?: string;
  /** Replaces the default task instruction (question: answer it; no question: summarize). */
  readonly instruction?: string;
  /** Tokens reserved for the answer; its word limit is 0.65 × this. */
  readonly answerTokens: number;
  /** Progress label and step name, e.g. `manager`, index 0 (the reading path). */
  readonly stage: string;
  readonly index: number;
}

/**
 * The Chain-of-Agents manager: the final answer from the last CU and the question (or, without a question, the
 * final summary). Answers are one call; summaries are checked like every tome summary (non-empty, within the
 * word limit, ending in a full sentence) and asked again with 10% fewer words when not.
 */
export class ChainManager {
  constructor(readonly model: ModelHandle) {}

  /** Tokens of the manager prompt with empty notes and question (the instruction included). */
  async fixedPromptTokens(withQuery: boolean, instruction: string | undefined, answerTokens: number): Promise<number> {
    return countPromptTokens(this.model, await this.messages({ communication: '', query: withQuery ? '' : undefined, instruction }, wordLimitForTokens(answerTokens)));
  }

  async answer(request: ManagerRequest, runtime: AgentRuntime = {}): Promise<string> {
    const wordLimit = wordLimitForTokens(request.answerTokens);
    if (hasQuery(request.query)) return (await callModel(this.model, await this.request(request, wordLimit, 1), runtime)).text;
    const outcome = await generateSummary(
      {
        stage: request.stage,
        index: request.index,
        wordLimit,
        attempt: async (limit, attempt) => callModel(this.model, await this.request(request, limit, attempt), runtime),
      },
      runtime,
    );
    return outcome.text;
  }

  /**
   * The answer as the model writes it: text chunks whose concatenation is the answer (returned at the end). The
   * prompt passes the same window check as every other call. One call, no validity retries.
   */
  async *streamAnswer(request: ManagerRequest, runtime: AgentRuntime = {}): AsyncGenerator<string, string> {
    return yield* streamModel(this.model, await this.request(request, wordLimitForTokens(request.answerTokens), 1), runtime);
  }

  private async request(request: ManagerRequest, wordLimit: number, attempt: number): Promise<ModelRequest> {
    const query = hasQuery(request.query) ? request.query : undefined;
    const task: ManagerStepTask = { kind: 'manager-step', communication: request.communication, ...(query === undefined ? {} : { query }), wordLimit };
    return {
      step: `${request.stage}/${request.index}${attempt > 1 ? `#${attempt}` : ''}`,
      messages: await this.messages({ communication: request.communication, query, instruction: request.instruction }, wordLimit),
      task,
      reservedOutputTokens: request.answerTokens,
    };
  }

  private async messages(fields: { communication: string; query: string | undefined; instruction: string | undefined }, wordLimit: number): Promise<BaseMessage[]> {
    if (fields.query === undefined) {
      return managerSummaryPrompt.formatMessages({ communication: fields.communication, instruction: fields.instruction ?? DEFAULT_SUMMARY_INSTRUCTION, wordLimit });
    }
    return managerQueryPrompt.formatMessages({ communication: fields.communication, query: fields.query, instruction: fields.instruction ?? DEFAULT_QUESTION_INSTRUCTION, wordLimit });
  }
}
