import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { BaseChatModel, type BaseChatModelCallOptions, type BaseChatModelParams, type LangSmithParams } from '@langchain/core/language_models/chat_models';
import type { ModelProfile } from '@langchain/core/language_models/profile';
import { AIMessage, AIMessageChunk, type BaseMessage, type MessageContent, type UsageMetadata } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import { AbortedError, InvalidOptionError, throwIfAborted } from '../../src/errors.js';
import type { FinishReason, GenerateRequest, GenerateResult, LocalEngine, SamplingOptions } from '../engine/engine-contract.js';
import { toChatMessages } from './chat-messages.js';
import { streamGeneratedText } from './generation-stream.js';

/** Provider name in LangSmith params and `_llmType()`. */
export const TOME_ONNX_PROVIDER = 'tome-onnx';

/** Sampling settings a ChatOnnx takes at construction and per call (a call's value wins). */
export interface ChatOnnxSampling {
  /** Maximum new tokens; the engine's default (256) when unset. */
  maxTokens?: number;
  /** 0 = greedy (the default). */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Generation stops before any of these strings; the reply never contains them. */
  stop?: string[];
}

/** Constructor fields of {@link ChatOnnx}. */
export interface ChatOnnxFields extends BaseChatModelParams, ChatOnnxSampling {
  /** The local model; ChatOnnx never disposes it (whoever created the engine owns it). */
  engine: LocalEngine;
  /** Reported as the model name in metadata and tracing. Default `engine.info.model`. */
  modelName?: string;
}

/** Per-call options of {@link ChatOnnx}: LangChain's (stop, signal, timeout, callbacks…) plus the sampling settings. */
export interface ChatOnnxCallOptions extends BaseChatModelCallOptions, Omit<ChatOnnxSampling, 'stop'> {}

/**
 * A LangChain chat model over tome's local inference engine: messages go through the checkpoint's own chat
 * template (`engine.formatChat`), generation runs in the engine, and `stream()` yields text as it is decoded.
 *
 * Aborting (through `signal` or `timeout`) rejects with tome's {@link AbortedError}, whether the engine noticed
 * the abort by rejecting or by finishing with `finishReason: 'aborted'`, and whether the call was already aborted
 * or aborted midway: a partial answer is never returned as if it were complete. (Through `stream()`, LangChain's
 * own race with the signal may reject first with `signal.reason`; both are abort errors.)
 *
 * No tool calling: the engine has none, so `bindTools` is absent and `withStructuredOutput` throws.
 */
export class ChatOnnx extends BaseChatModel<ChatOnnxCallOptions> {
  readonly engine: LocalEngine;
  readonly modelName: string;
  readonly maxTokens: number | undefined;
  readonly temperature: number;
  readonly topK: number | undefined;
  readonly topP: number | undefined;
  readonly seed: number | undefined;
  readonly stop: string[] | undefined;

  static override lc_name(): string {
    return 'ChatOnnx';
  }

  constructor(fields: ChatOnnxFields) {
    const { engine, modelName, maxTokens, temperature = 0, topK, topP, seed, stop, ...rest } = fields;
    super(rest);
    checkSampling({ maxTokens, temperature, topK, topP, seed, stop });
    this.engine = engine;
    this.modelName = modelName ?? engine.info.model;
    this.maxTokens = maxTokens;
    this.temperature = temperature;
    this.topK = topK;
    this.topP = topP;
    this.seed = seed;
    this.stop = stop;
  }

  _llmType(): string {
    return TOME_ONNX_PROVIDER;
  }

  override _identifyingParams(): Record<string, unknown> {
    return { model_name: this.modelName, ...this.invocationParams() };
  }

  /** The sampling settings a call with these options runs with (call options over constructor defaults). */
  override invocationParams(options?: this['ParsedCallOptions']): SamplingOptions {
    const sampling = {
      maxTokens: options?.maxTokens ?? this.maxTokens,
      temperature: options?.temperature ?? this.temperature,
      topK: options?.topK ?? this.topK,
      topP: options?.topP ?? this.topP,
      seed: options?.seed ?? this.seed,
      stop: options?.stop ?? this.stop,
    };
    checkSampling(sampling);
    // Only settings that are set, so the engine applies its own defaults to the rest.
    return Object.fromEntries(Object.entries(sampling).filter(([, value]) => value !== undefined)) as SamplingOptions;
  }

  override getLsParams(options: this['ParsedCallOptions']): LangSmithParams {
    const sampling = this.invocationParams(options);
    return {
      ls_provider: TOME_ONNX_PROVIDER,
      ls_model_name: this.modelName,
      ls_model_type: 'chat',
      ls_temperature: sampling.temperature,
      ls_max_tokens: sampling.maxTokens,
      ls_stop: sampling.stop ? [...sampling.stop] : undefined,
    };
  }

  /** The engine's context window as `maxInputTokens` (tome sizes its prompts by it), and no tools or media. */
  override get profile(): ModelProfile {
    return {
      maxInputTokens: this.engine.info.contextWindow,
      toolCalling: false,
      toolChoice: false,
      structuredOutput: false,
      imageInputs: false,
      imageUrlInputs: false,
      pdfInputs: false,
      audioInputs: false,
      videoInputs: false,
    };
  }

  /**
   * Tokens by the model's own tokenizer. Overridden because LangChain's default downloads tiktoken's ranks from
   * the network (it hangs offline) and counts a different tokenizer anyway.
   */
  override async getNumTokens(content: MessageContent): Promise<number> {
    const text = typeof content === 'string' ? content : content.map((part) => (typeof part === 'string' ? part : part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
    return this.engine.countTokens(text);
  }

  /**
   * Not supported. LangChain's default `withStructuredOutput` works only through `bindTools` (its one method is
   * function calling; `jsonMode` is refused), and this engine has no tool calling, so the default could only fail
   * with a less helpful message. Ask for JSON in the prompt and parse the reply instead.
   */
  override withStructuredOutput(): never {
    throw new InvalidOptionError(
      'model',
      this.modelName,
      'a chat model with tool calling for withStructuredOutput (LangChain builds it on bindTools, and the local ONNX engine has no tool calling): use a provider model, or ask this one for JSON in the prompt and parse the reply',
    );
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    const signal = options.signal;
    throwIfAborted(signal);
    const request = await this.requestFor(messages, options);
    const result = await abortable(this.engine.generate(signal ? { ...request, signal } : request), signal);
    if (result.finishReason === 'aborted') throw new AbortedError(signal?.reason);
    const message = new AIMessage({ content: result.text, usage_metadata: usageOf(result), response_metadata: this.responseMetadata(result) });
    return {
      generations: [{ text: result.text, message }],
      llmOutput: { tokenUsage: { promptTokens: result.promptTokens, completionTokens: result.completionTokens, totalTokens: result.promptTokens + result.completionTokens } },
    };
  }

  /** Real token streaming: one chunk per piece of text the engine emits, then a final chunk with usage and metadata. */
  override async *_streamResponseChunks(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): AsyncGenerator<ChatGenerationChunk> {
    throwIfAborted(options.signal);
    const request = await this.requestFor(messages, options);
    const pieces = streamGeneratedText(this.engine, request, options.signal);
    let result: GenerateResult;
    try {
      let step = await pieces.next();
      while (!step.done) {
        const chunk = new ChatGenerationChunk({ text: step.value, message: new AIMessageChunk({ content: step.value }) });
        // Before yielding: a consumer that stops after this chunk has still been told about it.
        await runManager?.handleLLMNewToken(step.value, undefined, undefined, undefined, undefined, { chunk });
        yield chunk;
        step = await pieces.next();
      }
      result = step.value;
    } finally {
      // A manual next() loop (for its return value) does not close the inner generator when our reader leaves
      // early, as for-await would: close it, so the engine stops decoding.
      await pieces.return(undefined as never);
    }
    const final = new ChatGenerationChunk({ text: '', message: new AIMessageChunk({ content: '', usage_metadata: usageOf(result), response_metadata: this.responseMetadata(result) }) });
    await runManager?.handleLLMNewToken('', undefined, undefined, undefined, undefined, { chunk: final });
    yield final;
  }

  private async requestFor(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<Omit<GenerateRequest, 'signal' | 'onText'>> {
    const sampling = this.invocationParams(options);
    const prompt = await this.engine.formatChat(toChatMessages(messages));
    return { prompt, ...sampling };
  }

  private responseMetadata(result: GenerateResult): Record<string, unknown> {
    return { finish_reason: finishReasonOf(result.finishReason), model_name: this.modelName, prefill_ms: result.prefillMs, decode_ms: result.decodeMs };
  }
}

/** LangChain's finish reasons: the end-of-sequence token and a stop string both mean the model stopped on its own. */
function finishReasonOf(reason: FinishReason): 'stop' | 'length' | 'aborted' {
  return reason === 'eos' || reason === 'stop' ? 'stop' : reason;
}

function usageOf(result: GenerateResult): UsageMetadata {
  return { input_tokens: result.promptTokens, output_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens };
}

/**
 * Settle as soon as the signal aborts, without waiting for the engine: it stops on its own from the same signal,
 * but may be in the middle of a prefill it cannot interrupt. An engine failure after an abort is an abort.
 */
async function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new AbortedError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([
      promise.catch((error: unknown) => {
        throw signal.aborted ? new AbortedError(signal.reason) : error;
      }),
      aborted,
    ]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** Rejects settings the engine would misread, naming the option (a call option or a constructor field). */
function checkSampling(sampling: ChatOnnxSampling): void {
  const { maxTokens, temperature, topK, topP, seed, stop } = sampling;
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens > 0)) throw new InvalidOptionError('maxTokens', maxTokens, 'a positive integer');
  if (temperature !== undefined && !(Number.isFinite(temperature) && temperature >= 0)) throw new InvalidOptionError('temperature', temperature, 'a number ≥ 0 (0 = greedy)');
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) throw new InvalidOptionError('topK', topK, 'a whole number ≥ 0 (0 = off)');
  if (topP !== undefined && !(Number.isFinite(topP) && topP > 0 && topP <= 1)) throw new InvalidOptionError('topP', topP, 'a number in (0, 1] (1 = off)');
  if (seed !== undefined && !Number.isInteger(seed)) throw new InvalidOptionError('seed', seed, 'an integer');
  if (stop !== undefined && !(Array.isArray(stop) && stop.every((entry) => typeof entry === 'string' && entry !== ''))) throw new InvalidOptionError('stop', stop, 'an array of non-empty strings');
}
