import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { InvalidOptionError } from '../errors.js';
import { approximateTokenCounter } from '../tokens/approximate-token-counter.js';
import type { TokenCounter } from '../tokens/token-counter.js';
import type { PromptScorer } from './prompt-scorer.js';

/**
 * A chat model together with what tome needs to budget prompts for it. Agents only ever talk to `chatModel`
 * (any LangChain `BaseChatModel`); pipelines size every prompt with `tokenCounter` against `contextWindow`.
 */
export interface ModelHandle {
  /** The spec it was resolved from, or a name the caller chose (shown in results). */
  readonly spec: string;
  readonly chatModel: BaseChatModel;
  /** Tokens the model accepts in one call, prompt and answer together. */
  readonly contextWindow: number;
  readonly tokenCounter: TokenCounter;
  /** True for tome's extractive engine: results say so, so nobody mistakes them for LLM output. */
  readonly extractive: boolean;
  /** Present when the model can score text (local engines): what XL3M's certainty measure runs on. */
  readonly scorer?: PromptScorer;
}

/** Context window assumed when neither the caller nor the model's profile gives one. */
export const DEFAULT_CONTEXT_WINDOW = 8192;

export interface ModelHandleOptions {
  /** Default: the model's LangChain profile (`maxInputTokens`), else 8,192. */
  contextWindow?: number;
  /** Default: the approximate counter. */
  tokenCounter?: TokenCounter;
  /** Default: the model's `_llmType()`. */
  name?: string;
  /** The model's scoring side, when it has one (local engines). */
  scorer?: PromptScorer;
}

/** Wrap any LangChain chat model so tome's pipelines can use it. */
export function modelHandleFrom(chatModel: BaseChatModel, options: ModelHandleOptions = {}): ModelHandle {
  const contextWindow = options.contextWindow ?? profileWindow(chatModel) ?? DEFAULT_CONTEXT_WINDOW;
  if (!Number.isInteger(contextWindow) || contextWindow < 256) {
    throw new InvalidOptionError('contextWindow', contextWindow, 'a whole number of tokens, at least 256');
  }
  return {
    spec: options.name ?? chatModel._llmType(),
    chatModel,
    contextWindow,
    tokenCounter: options.tokenCounter ?? approximateTokenCounter,
    extractive: chatModel._llmType() === 'tome-extractive',
    ...(options.scorer ? { scorer: options.scorer } : {}),
  };
}

function profileWindow(chatModel: BaseChatModel): number | undefined {
  try {
    const window = chatModel.profile?.maxInputTokens;
    return typeof window === 'number' && window > 0 ? window : undefined;
  } catch {
    return undefined;
  }
}
