/**
 * The contracts of a loaded checkpoint: what config.json means once normalized across Llama-family
 * architectures, how weights are read, and the tokenizer with its chat template. Loaders implement these;
 * the engine, the reference forward pass and the fixture writer only ever see these types.
 */

/** Architectures whose config and weight names follow the Llama layout closely enough to share one engine. */
export const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;
export type SupportedArchitecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/**
 * config.json normalized: field names spelled out, architecture-specific defaults applied (Qwen2's q/k/v biases,
 * Llama's `attention_bias`, `head_dim` defaulting to hidden/heads), so nothing downstream reads raw JSON.
 */
export interface LlamaConfig {
  architecture: SupportedArchitecture;
  /** config.json `model_type` (llama, mistral, qwen2). */
  modelType: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Fewer than numHeads means grouped-query attention; numHeads must be a multiple of it. */
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** config.json `rope_scaling` verbatim (null when absent); interpreted by inference/rope-scaling.ts. */
  ropeScaling: Record<string, unknown> | null;
  /** Fraction of each head's dimensions that is rotated (1 for every supported model today). */
  partialRotaryFactor: number;
  maxPositionEmbeddings: number;
  /** Phi-3 style top-level `original_max_position_embeddings` (the pre-extension length), when present. */
  originalMaxPositionEmbeddings?: number | null;
  /** lm_head shares model.embed_tokens.weight (no lm_head.weight tensor needed). */
  tieWordEmbeddings: boolean;
  /** q_proj, k_proj, v_proj carry a bias (Qwen2 always; Llama when attention_bias). */
  qkvBias: boolean;
  /** o_proj carries a bias (Llama with attention_bias). */
  outputBias: boolean;
  /** Mistral's sliding window (informational: the engine's attention policy decides what is seen). */
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** config.json `torch_dtype`, informational. */
  torchDtype: string | null;
}

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

/** Read access to a checkpoint's tensors by Hugging Face name (`model.layers.0.self_attn.q_proj.weight`). */
export interface WeightStore {
  readonly names: readonly string[];
  has(name: string): boolean;
  /** Shape as stored ([out, in] for Linear weights). @throws ModelLoadError MODEL_WEIGHTS_MISMATCH when absent. */
  shape(name: string): readonly number[];
  dtype(name: string): SafetensorsDtype;
  /** A fresh Float32Array (F16/BF16 converted); the caller owns it. */
  float32(name: string): Float32Array;
  /** Release file handles. */
  close(): Promise<void>;
}

/** One tensor to write (writer side of the same format). */
export interface TensorToWrite {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** Values as float32; the writer converts to dtype. */
  data: Float32Array;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

/** The checkpoint's tokenizer (tokenizer.json + tokenizer_config.json) with its chat template. */
export interface ChatTokenizer {
  /** Token ids; `addSpecialTokens` (default false) adds BOS etc. as the tokenizer's post-processor says. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Text; `skipSpecialTokens` defaults to true. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** Render `chat_template` with @huggingface/jinja. @throws ModelLoadError MODEL_TOKENIZER_INVALID when there is none. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
  readonly hasChatTemplate: boolean;
  /** Ids that end generation: config eos ids ∪ tokenizer_config eos_token (∪ generation_config.json eos ids). */
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | null;
  /** Number of ids the tokenizer can produce (≤ config.vocabSize). */
  readonly vocabularySize: number;
}

/** Everything loaded from a checkpoint directory. */
export interface LoadedCheckpoint {
  directory: string;
  config: LlamaConfig;
  weights: WeightStore;
  tokenizer: ChatTokenizer;
}
