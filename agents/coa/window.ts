import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { BaseMessage } from '@langchain/core/messages';
import { PromptOverflowError } from '../../src/errors.js';
import type { ModelHandle } from '../../src/models/model-handle.js';
import type { TomeTaskCallOptions } from '../../src/tasks.js';
import { countPromptTokens, type AgentRuntime, type ModelRequest } from '../model-call.js';

/**
 * The window check of `callModel`, for calls that do not go through it (streaming): count the rendered prompt
 * and refuse it when it and the reserved answer would not fit.
 * @returns the prompt's tokens.
 * @throws PromptOverflowError when the prompt does not fit.
 */
export function assertPromptFits(model: ModelHandle, request: Pick<ModelRequest, 'step' | 'messages' | 'reservedOutputTokens'>): number {
  const promptTokens = countPromptTokens(model, request.messages);
  if (promptTokens + request.reservedOutputTokens > model.contextWindow) {
    throw new PromptOverflowError(request.step, promptTokens, request.reservedOutputTokens, model.contextWindow);
  }
  return promptTokens;
}

/**
 * `callModel`, streamed: the same window check and call options (`tomeTask`, signal, tracing callbacks), then the
 * reply's text as it arrives. Leading and trailing whitespace of the whole reply is dropped (as `callModel`'s
 * trim does), so the chunks joined equal the returned text exactly. Models without native streaming yield the
 * whole reply as one chunk.
 */
export async function* streamModel(model: ModelHandle, request: ModelRequest, runtime: AgentRuntime = {}): AsyncGenerator<string, string> {
  const promptTokens = assertPromptFits(model, request);
  const chatModel = model.chatModel as BaseChatModel<TomeTaskCallOptions & BaseChatModel['ParsedCallOptions']>;
  runtime.recordModelCall?.(promptTokens);
  const stream = await chatModel.stream([...request.messages], { ...runtime.config, signal: runtime.signal, tomeTask: request.task });
  let text = '';
  let started = false;
  let pendingSpace = '';
  for await (const chunk of stream) {
    let piece = chunkText(chunk);
    if (!started) {
      piece = piece.replace(/^\s+/, '');
      if (piece === '') continue;
      started = true;
    }
    // Hold trailing whitespace back until more text follows, so the reply's end is trimmed too.
    const body = piece.replace(/\s+$/, '');
    const trailing = piece.slice(body.length);
    if (body === '') {
      pendingSpace += trailing;
      continue;
    }
    const out = pendingSpace + body;
    pendingSpace = trailing;
    text += out;
    yield out;
  }
  return text;
}

function chunkText(message: BaseMessage): string {
  if (typeof message.content === 'string') return message.content;
  return message.content.map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}
