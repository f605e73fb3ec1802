import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { ModelSpecError } from '../errors.js';
import { ExtractiveChatModel } from './extractive/extractive-chat-model.js';
import { modelHandleFrom, type ModelHandle } from './model-handle.js';

/**
 * Model specs name where answers come from:
 * - `extractive` (default): tome's offline, deterministic sentence-selection engine; no LLM.
 * - `<provider>:<model>`, e.g. `openai:gpt-4o-mini`, `anthropic:claude-sonnet-4-5`, `ollama:llama3.1`: any provider
 *   `langchain`'s `initChatModel` knows; its package (`@langchain/openai`, …) is loaded only when asked for.
 * - prefixes registered with {@link registerModelProvider}, e.g. `onnx:<dir>` from tome/inference.
 */
export interface ResolveModelOptions {
  /** Override the context window (tokens). Default: the model's profile, else 8,192. */
  contextWindow?: number;
  /** Passed to providers that take it. Default 0: summaries and answers should be reproducible. */
  temperature?: number;
  /** Extra constructor fields for the provider's chat model class (API keys, base URL, …). */
  providerFields?: Record<string, unknown>;
}

/** Builds a model handle for specs `<prefix>:<rest>`; registered by packages that bring their own engine. */
export type ModelProvider = (rest: string, options: ResolveModelOptions) => Promise<ModelHandle>;

const customProviders = new Map<string, ModelProvider>();

/** Teach `resolveModel` a new spec prefix (e.g. `onnx`). Later registrations replace earlier ones. */
export function registerModelProvider(prefix: string, provider: ModelProvider): void {
  customProviders.set(prefix, provider);
}

export async function resolveModel(spec = 'extractive', options: ResolveModelOptions = {}): Promise<ModelHandle> {
  const trimmed = spec.trim();
  if (trimmed === 'extractive') {
    return modelHandleFrom(new ExtractiveChatModel(), { name: 'extractive', contextWindow: options.contextWindow });
  }
  const separator = trimmed.indexOf(':');
  if (separator <= 0 || separator === trimmed.length - 1) {
    throw new ModelSpecError('MODEL_SPEC_INVALID', spec, 'expected "extractive" or "<provider>:<model>"', `use e.g. --model extractive, --model openai:gpt-4o-mini or --model ollama:llama3.1 (providers: ${(await knownProviders()).join(', ')})`);
  }
  const prefix = trimmed.slice(0, separator);
  const rest = trimmed.slice(separator + 1);
  const custom = customProviders.get(prefix);
  if (custom) return custom(rest, options);
  const chatModel = await initProviderModel(spec, prefix, rest, options);
  return modelHandleFrom(chatModel, { name: trimmed, contextWindow: options.contextWindow ?? (await profiledWindow(chatModel)) });
}

async function initProviderModel(spec: string, provider: string, model: string, options: ResolveModelOptions): Promise<BaseChatModel> {
  const universal = await import('langchain/chat_models/universal');
  const config = (universal.MODEL_PROVIDER_CONFIG as Record<string, { package: string } | undefined>)[provider];
  if (!config) {
    throw new ModelSpecError('MODEL_SPEC_INVALID', spec, `unknown provider "${provider}"`, `use one of: ${(await knownProviders()).join(', ')}`);
  }
  try {
    await import(config.package);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new ModelSpecError('MODEL_PROVIDER_MISSING', spec, `the provider package ${config.package} is not installed`, `npm install ${config.package}`, cause);
    }
    throw cause;
  }
  return universal.initChatModel(model, { modelProvider: provider, temperature: options.temperature ?? 0, ...options.providerFields });
}

/** initChatModel builds the provider's class lazily; build it now so its profile (context window) is known. */
async function profiledWindow(chatModel: BaseChatModel): Promise<number | undefined> {
  const lazy = chatModel as BaseChatModel & { _model?: () => Promise<BaseChatModel> };
  try {
    const inner = lazy._model ? await lazy._model() : chatModel;
    const window = inner.profile?.maxInputTokens;
    return typeof window === 'number' && window > 0 ? window : undefined;
  } catch {
    return undefined;
  }
}

async function knownProviders(): Promise<string[]> {
  const universal = await import('langchain/chat_models/universal');
  return ['extractive', ...customProviders.keys(), ...Object.keys(universal.MODEL_PROVIDER_CONFIG)];
}
