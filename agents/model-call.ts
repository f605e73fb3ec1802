import type { BaseMessage } from '@langchain/core/messages';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { RunnableConfig } from '@langchain/core/runnables';
import { PromptOverflowError } from '../src/errors.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import type { ProgressEvent } from '../src/pipeline/progress.js';
import type { ModelTask, TomeTaskCallOptions } from '../src/tasks.js';

/** Tokens a chat format spends per message on role markers and separators (OpenAI's documented figure is 3–4). */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** One model call an agent wants to make. */
export interface ModelRequest {
  /** Where in the run this call is, e.g. `leaf-summaries/12`: error messages and tests use it. */
  readonly step: string;
  readonly messages: readonly BaseMessage[];
  readonly task: ModelTask;
  /** Tokens kept free in the window for the answer. */
  readonly reservedOutputTokens: number;
}

export interface ModelReply {
  readonly text: string;
  /** `length` when the provider stopped because the answer ran out of tokens (the reply is cut off). */
  readonly finishReason: string | undefined;
  readonly promptTokens: number;
}

/** What an agent needs from the run around it; pipelines pass their RunContext, scripts can pass `{}`. */
export interface AgentRuntime {
  readonly signal?: AbortSignal;
  /** Callbacks/tags to forward to the chat model (tracing). */
  readonly config?: RunnableConfig;
  recordModelCall?(promptTokens: number): void;
  /** Where agents report rejected outputs and compressions. */
  emit?(event: ProgressEvent): void;
}

/** Tokens of a rendered prompt, by the model's own counter. */
export function countPromptTokens(model: ModelHandle, messages: readonly BaseMessage[]): number {
  let total = 0;
  for (const message of messages) total += model.tokenCounter.count(messageText(message)) + MESSAGE_OVERHEAD_TOKENS;
  return total;
}

/**
 * Send one prompt, after checking that it and the reserved answer fit the context window: nothing leaves tome
 * that the model would have to truncate.
 * @throws PromptOverflowError when the prompt does not fit.
 */
export async function callModel(model: ModelHandle, request: ModelRequest, runtime: AgentRuntime = {}): Promise<ModelReply> {
  const promptTokens = countPromptTokens(model, request.messages);
  if (promptTokens + request.reservedOutputTokens > model.contextWindow) {
    throw new PromptOverflowError(request.step, promptTokens, request.reservedOutputTokens, model.contextWindow);
  }
  const chatModel = model.chatModel as BaseChatModel<TomeTaskCallOptions & BaseChatModel['ParsedCallOptions']>;
  runtime.recordModelCall?.(promptTokens);
  const reply = await chatModel.invoke([...request.messages], {
    ...runtime.config,
    signal: runtime.signal,
    tomeTask: request.task,
  });
  const metadata = reply.response_metadata as { finish_reason?: string; stop_reason?: string; done_reason?: string } | undefined;
  const finishReason = metadata?.finish_reason ?? metadata?.stop_reason ?? metadata?.done_reason;
  return { text: messageText(reply).trim(), finishReason: normalizeFinishReason(finishReason), promptTokens };
}

function messageText(message: BaseMessage): string {
  if (typeof message.content === 'string') return message.content;
  return message.content.map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}

/** Providers spell "ran out of tokens" differently (OpenAI `length`, Anthropic `max_tokens`). */
function normalizeFinishReason(reason: string | undefined): string | undefined {
  return reason === 'max_tokens' || reason === 'MAX_TOKENS' ? 'length' : reason;
}
