/**
 * config.json → {@link LlamaConfig}: validated with zod, Hugging Face defaults applied per architecture, so the
 * engine never reads raw JSON and never meets a config it cannot run.
 */
import { z } from 'zod';
import { ModelLoadError } from '../../src/errors.js';
import { SUPPORTED_ARCHITECTURES, type LlamaConfig, type SupportedArchitecture } from './types.js';

const count = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

/** The fields we read; everything else in config.json is ignored (loose object). */
const configSchema = z.looseObject({
  architectures: z.array(z.string()).min(1),
  model_type: z.string().optional(),
  hidden_size: count,
  intermediate_size: count,
  num_hidden_layers: count,
  num_attention_heads: count,
  vocab_size: count,
  num_key_value_heads: count.nullish(),
  head_dim: count.nullish(),
  rms_norm_eps: z.number().positive().nullish(),
  rope_theta: z.number().positive().nullish(),
  rope_scaling: z.record(z.string(), z.unknown()).nullish(),
  partial_rotary_factor: z.number().positive().max(1).nullish(),
  max_position_embeddings: count.nullish(),
  original_max_position_embeddings: count.nullish(),
  tie_word_embeddings: z.boolean().nullish(),
  attention_bias: z.boolean().nullish(),
  mlp_bias: z.boolean().nullish(),
  hidden_act: z.string().nullish(),
  sliding_window: count.nullish(),
  use_sliding_window: z.boolean().nullish(),
  bos_token_id: tokenId.nullish(),
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
  torch_dtype: z.string().nullish(),
  // transformers ≥ 4.56 writes `dtype` instead of `torch_dtype`.
  dtype: z.string().nullish(),
});

/** transformers' class defaults, used when config.json leaves the field out. */
const ARCHITECTURE_DEFAULTS: Record<SupportedArchitecture, { modelType: string; maxPositionEmbeddings: number }> = {
  LlamaForCausalLM: { modelType: 'llama', maxPositionEmbeddings: 2048 },
  MistralForCausalLM: { modelType: 'mistral', maxPositionEmbeddings: 4096 * 32 },
  Qwen2ForCausalLM: { modelType: 'qwen2', maxPositionEmbeddings: 32768 },
};

const CONFIG_FIX = 'use the config.json that came with the checkpoint, or correct the named field';

/**
 * Validate and normalize a parsed config.json.
 * @param file the config.json path, named in every error.
 * @throws ModelLoadError MODEL_ARCHITECTURE_UNSUPPORTED for an architecture, activation or MLP bias the engine cannot
 * run; MODEL_CONFIG_INVALID naming the field for a missing, mistyped or inconsistent value.
 */
export function parseModelConfig(json: unknown, file: string): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelLoadError('MODEL_CONFIG_INVALID', file, undefined, 'is not a JSON object', CONFIG_FIX);
  }
  // The architecture is checked before the rest, so a foreign model is reported as such, not as missing fields.
  const architectures = (json as Record<string, unknown>).architectures;
  const first: unknown = Array.isArray(architectures) ? architectures[0] : undefined;
  if (typeof first !== 'string' || !(SUPPORTED_ARCHITECTURES as readonly string[]).includes(first)) {
    const found = first === undefined ? 'no architecture' : JSON.stringify(first);
    throw new ModelLoadError(
      'MODEL_ARCHITECTURE_UNSUPPORTED',
      file,
      'architectures',
      `${found} is not supported; supported architectures: ${SUPPORTED_ARCHITECTURES.join(', ')}`,
      `use a checkpoint of a supported architecture (${SUPPORTED_ARCHITECTURES.join(', ')})`,
    );
  }
  const architecture = first as SupportedArchitecture;

  const result = configSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.map(String).join('.') || '(root)';
    const absent = issue.path.length === 1 && (json as Record<string, unknown>)[String(issue.path[0])] === undefined;
    throw new ModelLoadError('MODEL_CONFIG_INVALID', file, field, absent ? 'required field is missing' : issue.message, CONFIG_FIX);
  }
  const raw = result.data;
  const invalid = (field: string, problem: string): ModelLoadError => new ModelLoadError('MODEL_CONFIG_INVALID', file, field, problem, CONFIG_FIX);
  const unsupported = (field: string, problem: string, fix: string): ModelLoadError =>
    new ModelLoadError('MODEL_ARCHITECTURE_UNSUPPORTED', file, field, problem, fix);

  if (raw.mlp_bias === true) {
    throw unsupported('mlp_bias', 'MLP projections with biases are not supported', 'use a checkpoint whose config.json has mlp_bias false');
  }
  const activation = raw.hidden_act ?? 'silu';
  // transformers treats "swish" as another name for SiLU.
  if (activation !== 'silu' && activation !== 'swish') {
    throw unsupported('hidden_act', `activation ${JSON.stringify(activation)} is not supported (only silu is)`, 'use a checkpoint with hidden_act "silu"');
  }

  const numHeads = raw.num_attention_heads;
  const numKvHeads = raw.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw invalid('num_key_value_heads', `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  let headDim = raw.head_dim ?? undefined;
  if (headDim === undefined) {
    if (raw.hidden_size % numHeads !== 0) {
      throw invalid('head_dim', `absent, and hidden_size ${raw.hidden_size} is not a multiple of num_attention_heads ${numHeads}`);
    }
    headDim = raw.hidden_size / numHeads;
  }
  const partialRotaryFactor = raw.partial_rotary_factor ?? 1;
  const rotated = headDim * partialRotaryFactor;
  if (!Number.isInteger(rotated) || rotated % 2 !== 0) {
    throw invalid('partial_rotary_factor', `${partialRotaryFactor} × head_dim ${headDim} is not an even number of rotated dimensions`);
  }
  const vocabSize = raw.vocab_size;
  const eos = raw.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? [...new Set(eos)] : [eos];

  // Qwen2 always has q/k/v biases and never an o_proj bias; Llama has both or neither (attention_bias); Mistral none.
  const qkvBias = architecture === 'Qwen2ForCausalLM' || (architecture === 'LlamaForCausalLM' && raw.attention_bias === true);
  const outputBias = architecture === 'LlamaForCausalLM' && raw.attention_bias === true;
  // Qwen2 ignores sliding_window unless use_sliding_window is true (its transformers default is false); Mistral's
  // transformers default is 4096 when the field is absent, and null means full attention.
  let slidingWindow: number | null = null;
  if (architecture === 'MistralForCausalLM') slidingWindow = raw.sliding_window === undefined ? 4096 : raw.sliding_window;
  else if (architecture === 'Qwen2ForCausalLM' && raw.use_sliding_window === true) slidingWindow = raw.sliding_window ?? null;

  const defaults = ARCHITECTURE_DEFAULTS[architecture];
  return {
    architecture,
    modelType: raw.model_type ?? defaults.modelType,
    hiddenSize: raw.hidden_size,
    intermediateSize: raw.intermediate_size,
    numLayers: raw.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    rmsNormEps: raw.rms_norm_eps ?? 1e-6,
    ropeTheta: raw.rope_theta ?? 10000,
    ropeScaling: raw.rope_scaling ?? null,
    partialRotaryFactor,
    maxPositionEmbeddings: raw.max_position_embeddings ?? defaults.maxPositionEmbeddings,
    originalMaxPositionEmbeddings: raw.original_max_position_embeddings ?? null,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    qkvBias,
    outputBias,
    slidingWindow,
    bosTokenId: raw.bos_token_id ?? null,
    eosTokenIds,
    torchDtype: raw.torch_dtype ?? raw.dtype ?? null,
  };
}
