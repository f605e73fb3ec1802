import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../inference/checkpoint/model-config.js';
import { expectLoadError, TINY_CONFIG } from './checkpoint-helpers.js';

const FILE = '/models/x/config.json';
const minimal = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  vocab_size: 100,
};

describe('parseModelConfig', () => {
  it('normalizes a Llama config', () => {
    expect(parseModelConfig(TINY_CONFIG, FILE)).toEqual({
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      hiddenSize: 8,
      intermediateSize: 16,
      numLayers: 2,
      numHeads: 2,
      numKvHeads: 1,
      headDim: 4,
      vocabSize: 264,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      partialRotaryFactor: 1,
      maxPositionEmbeddings: 128,
      originalMaxPositionEmbeddings: null,
      tieWordEmbeddings: false,
      qkvBias: false,
      outputBias: false,
      slidingWindow: null,
      bosTokenId: 260,
      eosTokenIds: [261],
      torchDtype: 'bfloat16',
    });
  });

  it('applies transformers defaults', () => {
    const config = parseModelConfig(minimal, FILE);
    expect(config).toMatchObject({
      modelType: 'llama',
      numKvHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      tieWordEmbeddings: false,
      partialRotaryFactor: 1,
      maxPositionEmbeddings: 2048,
      eosTokenIds: [],
      bosTokenId: null,
      torchDtype: null,
    });
  });

  it('keeps an explicit head_dim, rope_scaling, eos lists and the new `dtype` field', () => {
    const rope = { rope_type: 'llama3', factor: 32, original_max_position_embeddings: 8192 };
    const config = parseModelConfig({ ...minimal, head_dim: 32, rope_scaling: rope, eos_token_id: [5, 6, 5], dtype: 'float16', tie_word_embeddings: true }, FILE);
    expect(config).toMatchObject({ headDim: 32, ropeScaling: rope, eosTokenIds: [5, 6], torchDtype: 'float16', tieWordEmbeddings: true });
  });

  it('Qwen2 has q/k/v biases but no o_proj bias, and a sliding window only when enabled', () => {
    const qwen = { ...minimal, architectures: ['Qwen2ForCausalLM'], sliding_window: 4096 };
    expect(parseModelConfig({ ...qwen, use_sliding_window: false }, FILE)).toMatchObject({ modelType: 'qwen2', qkvBias: true, outputBias: false, slidingWindow: null });
    expect(parseModelConfig(qwen, FILE).slidingWindow).toBeNull();
    expect(parseModelConfig({ ...qwen, use_sliding_window: true }, FILE).slidingWindow).toBe(4096);
  });

  it('Llama attention_bias means q/k/v and o_proj biases', () => {
    expect(parseModelConfig({ ...minimal, attention_bias: true }, FILE)).toMatchObject({ qkvBias: true, outputBias: true });
  });

  it("Mistral's sliding window (transformers default 4096, null = none)", () => {
    const mistral = { ...minimal, architectures: ['MistralForCausalLM'] };
    expect(parseModelConfig(mistral, FILE)).toMatchObject({ modelType: 'mistral', slidingWindow: 4096, qkvBias: false });
    expect(parseModelConfig({ ...mistral, sliding_window: null }, FILE).slidingWindow).toBeNull();
  });

  it('unsupported architecture lists the supported ones', async () => {
    await expectLoadError(() => parseModelConfig({ ...minimal, architectures: ['GPT2LMHeadModel'] }, FILE), 'MODEL_ARCHITECTURE_UNSUPPORTED', FILE, '[architectures]', 'GPT2LMHeadModel', 'LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM');
    await expectLoadError(() => parseModelConfig({ ...minimal, architectures: undefined }, FILE), 'MODEL_ARCHITECTURE_UNSUPPORTED', FILE, '[architectures]');
  });

  it.each(['hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'vocab_size'])('missing %s is named', async (field) => {
    const config: Record<string, unknown> = { ...minimal };
    delete config[field];
    await expectLoadError(() => parseModelConfig(config, FILE), 'MODEL_CONFIG_INVALID', FILE, `[${field}]`);
  });

  it('a mistyped field is named', async () => {
    await expectLoadError(() => parseModelConfig({ ...minimal, rope_theta: 'big' }, FILE), 'MODEL_CONFIG_INVALID', FILE, '[rope_theta]');
    await expectLoadError(() => parseModelConfig({ ...minimal, hidden_size: 64.5 }, FILE), 'MODEL_CONFIG_INVALID', FILE, '[hidden_size]');
    await expectLoadError(() => parseModelConfig({ ...minimal, eos_token_id: ['x'] }, FILE), 'MODEL_CONFIG_INVALID', FILE, '[eos_token_id');
  });

  it('mlp_bias is unsupported', async () => {
    await expectLoadError(() => parseModelConfig({ ...minimal, mlp_bias: true }, FILE), 'MODEL_ARCHITECTURE_UNSUPPORTED', FILE, '[mlp_bias]');
  });

  it('an activation other than silu is unsupported', async () => {
    await expectLoadError(() => parseModelConfig({ ...minimal, hidden_act: 'gelu' }, FILE), 'MODEL_ARCHITECTURE_UNSUPPORTED', FILE, '[hidden_act]', 'gelu');
  });

  it('heads not divisible by kv heads', async () => {
    await expectLoadError(() => parseModelConfig({ ...minimal, num_key_value_heads: 3 }, FILE), 'MODEL_CONFIG_INVALID', FILE, '[num_key_value_heads]', 'not a multiple');
  });

  it('hidden_size not divisible by heads without head_dim', async () => {
    await expectLoadError(() => parseModelConfig({ ...minimal, hidden_size: 66 }, FILE), 'MODEL_CONFIG_INVALID', FILE, '[head_dim]');
  });

  it('a partial rotary factor leaving an odd number of dimensions', async () => {
    await expectLoadError(() => parseModelConfig({ ...minimal, partial_rotary_factor: 0.3 }, FILE), 'MODEL_CONFIG_INVALID', FILE, '[partial_rotary_factor]');
  });

  it('a config that is not an object', async () => {
    await expectLoadError(() => parseModelConfig([1], FILE), 'MODEL_CONFIG_INVALID', FILE);
  });
});
