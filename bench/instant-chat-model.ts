import { BaseChatModel, type BaseChatModelCallOptions } from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { TomeTaskCallOptions } from '../src/tasks.js';

interface InstantCallOptions extends BaseChatModelCallOptions, TomeTaskCallOptions {}

/**
 * A chat model that answers at once (or after `latencyMs`) with a valid summary of about 60% of the asked word
 * limit, so a benchmark measures tome's own work per call: prompt rendering, token budgeting, LangChain plumbing,
 * executor, checkpoint and progress events.
 */
export class InstantChatModel extends BaseChatModel<InstantCallOptions> {
  calls = 0;

  constructor(private readonly latencyMs = 0) {
    super({});
  }

  _llmType(): string {
    return 'instant';
  }

  async _generate(_messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    this.calls++;
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    const words = Math.max(1, Math.floor((options.tomeTask?.wordLimit ?? 50) * 0.6));
    const text = `${'The crew sailed on. '.repeat(Math.max(1, Math.floor(words / 4))).trim()}`;
    return { generations: [{ text, message: new AIMessage({ content: text, response_metadata: { finish_reason: 'stop' } }) }] };
  }
}
