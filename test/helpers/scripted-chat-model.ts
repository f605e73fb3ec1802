import { BaseChatModel, type BaseChatModelCallOptions } from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import { MESSAGE_OVERHEAD_TOKENS } from '../../agents/model-call.js';
import { approximateTokenCounter } from '../../src/tokens/approximate-token-counter.js';
import type { ModelTask, TomeTaskCallOptions } from '../../src/tasks.js';

/** One call the scripted model received. */
export interface RecordedCall {
  readonly index: number;
  readonly task: ModelTask;
  readonly messages: readonly BaseMessage[];
  /** Prompt tokens by tome's approximate counter, counted the same way agents budget them. */
  readonly promptTokens: number;
}

export type ScriptedReply = string | { text: string; finishReason?: string } | Error;

/** Decides each reply from the task (and everything seen so far). */
export type Script = (task: ModelTask, call: RecordedCall, history: readonly RecordedCall[]) => ScriptedReply | Promise<ScriptedReply>;

interface ScriptedCallOptions extends BaseChatModelCallOptions, TomeTaskCallOptions {}

/**
 * A chat model for orchestration tests: records every call with its structured task and prompt size, and answers
 * from a script. Zero latency unless `delayMs` is set.
 */
export class ScriptedChatModel extends BaseChatModel<ScriptedCallOptions> {
  readonly calls: RecordedCall[] = [];

  constructor(
    private readonly script: Script,
    private readonly delayMs = 0,
  ) {
    super({});
  }

  _llmType(): string {
    return 'scripted';
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    const task = options.tomeTask;
    if (!task) throw new Error('scripted model: call without tomeTask');
    const promptTokens = messages.reduce((sum, message) => sum + approximateTokenCounter.count(String(message.content)) + MESSAGE_OVERHEAD_TOKENS, 0);
    const call: RecordedCall = { index: this.calls.length, task, messages, promptTokens };
    this.calls.push(call);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    options.signal?.throwIfAborted();
    const reply = await this.script(task, call, this.calls);
    if (reply instanceof Error) throw reply;
    const { text, finishReason } = typeof reply === 'string' ? { text: reply, finishReason: 'stop' } : reply;
    return { generations: [{ text, message: new AIMessage({ content: text, response_metadata: { finish_reason: finishReason ?? 'stop' } }) }] };
  }

  callsOf(kind: ModelTask['kind']): RecordedCall[] {
    return this.calls.filter((call) => call.task.kind === kind);
  }
}

/** A valid summary of exactly `words` words ending in a full stop, tagged so tests can trace where it went. */
export function sentenceOfWords(tag: string, words: number): string {
  const filler = Array.from({ length: Math.max(0, words - 1) }, (_, index) => `w${index}`);
  return `${[tag, ...filler].join(' ')}.`;
}
