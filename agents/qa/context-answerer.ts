import type { ModelHandle } from '../../src/models/model-handle.js';
import { callModel, countPromptTokens, type AgentRuntime } from '../model-call.js';
import { answerFromContextPrompt } from './prompts.js';

/** Answers a question from passages that already fit the window: the last step of the truncate and rag baselines. */
export class ContextAnswerer {
  constructor(
    readonly model: ModelHandle,
    readonly wordLimit: number,
  ) {}

  /** Tokens reserved for the answer. */
  get answerTokens(): number {
    return Math.ceil(this.wordLimit / 0.65);
  }

  /** Tokens of the prompt around the passages (question included): what the passages must leave room for. */
  async overheadTokens(question: string): Promise<number> {
    return countPromptTokens(this.model, await answerFromContextPrompt.formatMessages({ context: '', question, wordLimit: this.wordLimit })) + this.answerTokens;
  }

  async answer(passages: readonly string[], question: string, runtime: AgentRuntime = {}): Promise<string> {
    const context = passages.join('\n\n[…]\n\n');
    const reply = await callModel(
      this.model,
      {
        step: 'answer',
        messages: await answerFromContextPrompt.formatMessages({ context, question, wordLimit: this.wordLimit }),
        task: { kind: 'answer', source: context, query: question, wordLimit: this.wordLimit },
        reservedOutputTokens: this.answerTokens,
      },
      runtime,
    );
    return reply.text;
  }
}
