import type { ChatMessage } from '../checkpoint/types.js';

/**
 * The small async API of a local model, the same whether the engine runs in this thread or in a worker thread:
 * ChatOnnx, OnnxEmbeddings, the CLI, benchmarks and queue workers all talk to this and nothing else.
 */

export interface SamplingOptions {
  /** Maximum new tokens. Default 256. */
  maxTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  /** Keep only the k most likely tokens before sampling; 0 or undefined = off. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set whose probability reaches p; 1 or undefined = off. */
  topP?: number;
  /** Seed of the sampler's random generator; same seed + same prompt = same tokens. Default 0. */
  seed?: number;
  /** Generation stops before any of these strings; the returned text never contains them. */
  stop?: readonly string[];
}

export interface GenerateRequest extends SamplingOptions {
  /** Raw text prompt (tokenized without a chat template) … */
  prompt?: string;
  /** … or already-tokenized ids (exactly one of prompt / promptTokenIds). */
  promptTokenIds?: readonly number[];
  signal?: AbortSignal;
  /** Called with each new piece of text as soon as it is certain not to be part of a stop string. */
  onText?: (delta: string) => void;
}

export type FinishReason = 'stop' | 'length' | 'eos' | 'aborted';

export interface GenerateResult {
  text: string;
  /** Every generated id up to and including the one that completed a stop string (EOS excluded); `text` never contains the stop string. */
  tokenIds: number[];
  promptTokens: number;
  completionTokens: number;
  finishReason: FinishReason;
  prefillMs: number;
  decodeMs: number;
}

export interface ScoreResult {
  /** The continuation's token ids (tokenized on its own, no special tokens). */
  tokenIds: number[];
  /** log p(token_i | context, token_<i), natural log, one per continuation token. */
  logProbs: number[];
  /** Entropy (nats) of the next-token distribution at each continuation position, before the token is seen. */
  entropies: number[];
  contextTokens: number;
}

export interface EngineInfo {
  /** The checkpoint directory (or repo id) this engine serves. */
  model: string;
  architecture: string;
  contextWindow: number;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  /** ONNX Runtime execution provider actually in use (cpu, cuda). */
  executionProvider: string;
}

export interface LocalEngine {
  readonly info: EngineInfo;
  countTokens(text: string): Promise<number>;
  /** Render the checkpoint's chat template (with the generation prompt appended). */
  formatChat(messages: readonly ChatMessage[]): Promise<string>;
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /** Log-probabilities and entropies of `continuation` given `context`, from one prefill. */
  score(context: string, continuation: string, options?: { signal?: AbortSignal }): Promise<ScoreResult>;
  /** Mean-pooled final hidden states (after the final norm), one vector per text. */
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
  dispose(): Promise<void>;
}
