/**
 * The engine tome uses when no LLM is configured: a real LangChain chat model, deterministic and offline, that
 * answers every task by selecting sentences of its inputs (TextRank for summaries, BM25 for questions).
 *
 * It never pretends to be an LLM. It does not read the prompt prose; it reads the structured task agents attach
 * as call option `tomeTask` (see src/tasks.ts), and every message it returns says `engine: 'extractive'` in its
 * response metadata so callers and traces can tell extracted sentences from generated text.
 */

import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import {
  BaseChatModel,
  type BaseChatModelCallOptions,
  type BaseChatModelParams,
} from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import { InvalidOptionError, TomeError, throwIfAborted } from '../../errors.js';
import type { ModelTask, TomeTaskCallOptions } from '../../tasks.js';
import { approximateTokenCounter } from '../../tokens/approximate-token-counter.js';
import { runExtractiveTask } from './extractive-tasks.js';

export interface ExtractiveChatModelCallOptions extends BaseChatModelCallOptions, TomeTaskCallOptions {}

export interface ExtractiveChatModelFields extends BaseChatModelParams {
  /** Word limit for a call without `tomeTask` (a plain chat call, summarized). Default 150. */
  defaultWordLimit?: number;
}

/** The word limit of a plain chat call when the constructor sets none. */
export const DEFAULT_EXTRACTIVE_WORD_LIMIT = 150;

/** What `response_metadata.engine` and `llmOutput.engine` say for this model's messages. */
export const EXTRACTIVE_ENGINE = 'extractive';

export class ExtractiveChatModel extends BaseChatModel<ExtractiveChatModelCallOptions> {
  static override lc_name(): string {
    return 'ExtractiveChatModel';
  }

  /** Word limit for calls that carry no `tomeTask`. */
  readonly defaultWordLimit: number;

  constructor(fields: ExtractiveChatModelFields = {}) {
    super(fields);
    const defaultWordLimit = fields.defaultWordLimit ?? DEFAULT_EXTRACTIVE_WORD_LIMIT;
    if (!Number.isFinite(defaultWordLimit) || defaultWordLimit < 1) {
      throw new InvalidOptionError('defaultWordLimit', defaultWordLimit, 'a positive number of words');
    }
    this.defaultWordLimit = defaultWordLimit;
  }

  override _llmType(): string {
    return 'tome-extractive';
  }

  override _identifyingParams(): Record<string, unknown> {
    return { model_name: EXTRACTIVE_ENGINE, default_word_limit: this.defaultWordLimit };
  }

  override invocationParams(): Record<string, unknown> {
    return { model_name: EXTRACTIVE_ENGINE };
  }

  override async _generate(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    _runManager?: CallbackManagerForLLMRun,
  ): Promise<ChatResult> {
    throwIfAborted(options.signal);
    const task = options.tomeTask ?? this.plainChatTask(messages);
    const text = runExtractiveTask(task);
    throwIfAborted(options.signal);

    const inputTokens = messages.reduce((total, message) => total + approximateTokenCounter.count(message.text), 0);
    const outputTokens = approximateTokenCounter.count(text);
    const message = new AIMessage({
      content: text,
      response_metadata: {
        engine: EXTRACTIVE_ENGINE,
        model_name: EXTRACTIVE_ENGINE,
        finish_reason: 'stop',
        task: task.kind,
      },
      usage_metadata: {
        input_tokens: inputTokens,
        output_tokens: outputTokens,
        total_tokens: inputTokens + outputTokens,
      },
    });
    return { generations: [{ text, message }], llmOutput: { engine: EXTRACTIVE_ENGINE } };
  }

  /** Without a task the only honest thing to do is summarize what the user sent: the last human message. */
  private plainChatTask(messages: readonly BaseMessage[]): ModelTask {
    const human = messages.findLast((message) => message.getType() === 'human');
    if (human === undefined) {
      throw new TomeError('INVALID_OPTION', 'the extractive model got no tomeTask and no human message to summarize', {
        fix: 'pass a human message, or the tomeTask call option',
      });
    }
    return { kind: 'summarize', source: human.text, wordLimit: this.defaultWordLimit };
  }
}
