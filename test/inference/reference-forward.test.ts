import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../inference/checkpoint/types.js';
import { referenceForward } from '../../inference/reference/reference-forward.js';
import { TomeError } from '../../src/errors.js';
import { randomLlamaConfig, randomWeightStore, type InMemoryWeightStore } from '../helpers/random-weights.js';

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let index = 0; index < a.length; index++) max = Math.max(max, Math.abs(a[index]! - b[index]!));
  return max;
}

const TOKENS = [3, 17, 42, 5, 63, 0, 8, 29];

describe('referenceForward', () => {
  it('returns finite [T, vocab] logits and [T, hidden] hidden states', () => {
    const config = randomLlamaConfig();
    const { logits, hidden } = referenceForward(config, randomWeightStore(config, 1), TOKENS);
    expect(logits.length).toBe(TOKENS.length * config.vocabSize);
    expect(hidden.length).toBe(TOKENS.length * config.hiddenSize);
    expect(logits.every(Number.isFinite)).toBe(true);
    // logits are informative, not a flat distribution
    const firstRow = logits.subarray(0, config.vocabSize);
    expect(Math.max(...firstRow) - Math.min(...firstRow)).toBeGreaterThan(1);
  });

  it('is causal: logits at position t do not depend on later tokens', () => {
    const config = randomLlamaConfig({ qkvBias: true, outputBias: true });
    const weights = randomWeightStore(config, 2);
    const a = referenceForward(config, weights, TOKENS).logits;
    const b = referenceForward(config, weights, [...TOKENS.slice(0, 4), 1, 2, 3, 4]).logits;
    const prefix = 4 * config.vocabSize;
    expect(maxAbsDifference(a.subarray(0, prefix), b.subarray(0, prefix))).toBe(0);
    expect(maxAbsDifference(a.subarray(prefix), b.subarray(prefix))).toBeGreaterThan(1e-3);
  });

  it('grouped-query attention equals full multi-head attention with K/V heads duplicated per group', () => {
    const grouped = randomLlamaConfig({ numHeads: 4, numKvHeads: 2, qkvBias: true });
    const groupedWeights = randomWeightStore(grouped, 3);
    const full: LlamaConfig = { ...grouped, numKvHeads: grouped.numHeads };
    const fullWeights = groupedWeights.clone();
    const Dh = grouped.headDim;
    const groupSize = grouped.numHeads / grouped.numKvHeads;
    for (let layer = 0; layer < grouped.numLayers; layer++) {
      for (const projection of ['k_proj', 'v_proj']) {
        for (const [suffix, rowSize] of [['weight', grouped.hiddenSize], ['bias', 1]] as const) {
          const name = `model.layers.${layer}.self_attn.${projection}.${suffix}`;
          const source = groupedWeights.tensor(name).data;
          const data = new Float32Array(grouped.numHeads * Dh * rowSize);
          for (let head = 0; head < grouped.numHeads; head++) {
            const kvHead = Math.floor(head / groupSize);
            data.set(source.subarray(kvHead * Dh * rowSize, (kvHead + 1) * Dh * rowSize), head * Dh * rowSize);
          }
          fullWeights.set(name, { shape: suffix === 'weight' ? [grouped.numHeads * Dh, rowSize] : [grouped.numHeads * Dh], data });
        }
      }
    }
    const a = referenceForward(grouped, groupedWeights, TOKENS).logits;
    const b = referenceForward(full, fullWeights, TOKENS).logits;
    expect(maxAbsDifference(a, b)).toBe(0);
  });

  it('RoPE attention depends only on relative positions: shifting all positions leaves logits unchanged', () => {
    const config = randomLlamaConfig({ qkvBias: true });
    const weights = randomWeightStore(config, 4);
    const base = referenceForward(config, weights, TOKENS).logits;
    for (const shift of [1, 7, 50]) {
      const shifted = referenceForward(config, weights, TOKENS, { positions: TOKENS.map((_, index) => index + shift) }).logits;
      expect(maxAbsDifference(base, shifted)).toBeLessThan(1e-5);
    }
    // and it does depend on them: reversing positions changes the logits
    const reversed = referenceForward(config, weights, TOKENS, { positions: TOKENS.map((_, index) => TOKENS.length - 1 - index) }).logits;
    expect(maxAbsDifference(base, reversed)).toBeGreaterThan(1e-3);
  });

  it('rope_scaling linear with factor 2 equals default RoPE at halved positions; llama3 with factor 1 equals default', () => {
    const config = randomLlamaConfig();
    const weights = randomWeightStore(config, 5);
    const linear = referenceForward({ ...config, ropeScaling: { rope_type: 'linear', factor: 2 } }, weights, TOKENS).logits;
    const halved = referenceForward(config, weights, TOKENS, { positions: TOKENS.map((_, index) => index / 2) }).logits;
    expect(maxAbsDifference(linear, halved)).toBe(0);

    const llama3 = { rope_type: 'llama3', factor: 1, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };
    const scaled = referenceForward({ ...config, ropeScaling: llama3 }, weights, TOKENS).logits;
    expect(maxAbsDifference(scaled, referenceForward(config, weights, TOKENS).logits)).toBeLessThan(1e-6);
    // a real factor changes the low frequencies
    const stretched = referenceForward({ ...config, ropeScaling: { ...llama3, factor: 8 } }, weights, TOKENS).logits;
    expect(maxAbsDifference(stretched, scaled)).toBeGreaterThan(1e-4);

    expect(() => referenceForward({ ...config, ropeScaling: { rope_type: 'yarn', factor: 2 } }, weights, TOKENS)).toThrow(/rope_type/);
  });

  it('tied embeddings equal an untied lm_head that holds the embedding matrix', () => {
    const untied = randomLlamaConfig({ tieWordEmbeddings: false });
    const weights = randomWeightStore(untied, 6);
    weights.set('lm_head.weight', { shape: [untied.vocabSize, untied.hiddenSize], data: weights.tensor('model.embed_tokens.weight').data.slice() });
    const tiedWeights = weights.clone();
    tiedWeights.delete('lm_head.weight');
    const a = referenceForward(untied, weights, TOKENS);
    const b = referenceForward({ ...untied, tieWordEmbeddings: true }, tiedWeights, TOKENS);
    expect(maxAbsDifference(a.logits, b.logits)).toBe(0);
    expect(maxAbsDifference(a.hidden, b.hidden)).toBe(0);
  });

  it('matches a hand computation for one token through one layer (attention is the identity on v)', () => {
    const config = randomLlamaConfig({ numLayers: 1, qkvBias: true, outputBias: true, ropeTheta: 1e6 });
    const weights = randomWeightStore(config, 7);
    const token = 11;
    const { logits, hidden } = referenceForward(config, weights, [token], { positions: [5] });
    const expected = handForwardOneToken(config, weights, token);
    expect(maxAbsDifference(hidden, Float32Array.from(expected.hidden))).toBeLessThan(1e-5);
    expect(maxAbsDifference(logits, Float32Array.from(expected.logits))).toBeLessThan(1e-4);
  });

  it('runs a Qwen2-style config (q/k/v biases, tied embeddings, head_dim not hidden/heads)', () => {
    const config = randomLlamaConfig({ architecture: 'Qwen2ForCausalLM', modelType: 'qwen2', qkvBias: true, tieWordEmbeddings: true, headDim: 16 });
    const weights = randomWeightStore(config, 8);
    expect(weights.has('lm_head.weight')).toBe(false);
    expect(weights.shape('model.layers.0.self_attn.q_proj.weight')).toEqual([64, 32]);
    expect(referenceForward(config, weights, TOKENS).logits.every(Number.isFinite)).toBe(true);
  });

  it('refuses missing or misshapen tensors and bad inputs with a TomeError', () => {
    const config = randomLlamaConfig();
    const weights = randomWeightStore(config, 9);
    const broken = weights.clone();
    broken.delete('model.layers.1.mlp.up_proj.weight');
    expectTomeError(() => referenceForward(config, broken, TOKENS), 'MODEL_WEIGHTS_MISMATCH', /up_proj/);
    const misshapen = weights.clone();
    misshapen.set('model.norm.weight', { shape: [config.hiddenSize + 1], data: new Float32Array(config.hiddenSize + 1) });
    expectTomeError(() => referenceForward(config, misshapen, TOKENS), 'MODEL_WEIGHTS_MISMATCH', /model\.norm\.weight.*shape/);
    expectTomeError(() => referenceForward(config, weights, [config.vocabSize]), 'INVALID_OPTION', /tokenIds/);
    expectTomeError(() => referenceForward(config, weights, []), 'INVALID_OPTION', /tokenIds/);
    expectTomeError(() => referenceForward(config, weights, [1, 2], { positions: [0] }), 'INVALID_OPTION', /positions/);
  });
});

function expectTomeError(run: () => unknown, code: string, message: RegExp): void {
  try {
    run();
  } catch (error) {
    expect(TomeError.is(error)).toBe(true);
    expect((error as TomeError).code).toBe(code);
    expect((error as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected a TomeError');
}

/** A direct float64 computation of a 1-layer model on one token: softmax over one key is 1, so attention = v. */
function handForwardOneToken(config: LlamaConfig, weights: InMemoryWeightStore, token: number): { hidden: number[]; logits: number[] } {
  const { hiddenSize: D, numHeads: H, numKvHeads: KV, headDim: Dh, vocabSize: V } = config;
  const get = (name: string): Float32Array => weights.tensor(name).data;
  const matVec = (matrix: Float32Array, rows: number, vector: number[], bias?: Float32Array): number[] =>
    Array.from({ length: rows }, (_, row) => vector.reduce((sum, value, column) => sum + value * matrix[row * vector.length + column]!, bias?.[row] ?? 0));
  const norm = (vector: number[], weight: Float32Array): number[] => {
    const rms = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0) / vector.length + config.rmsNormEps);
    return vector.map((value, index) => (value / rms) * weight[index]!);
  };
  const silu = (value: number): number => value / (1 + Math.exp(-value));

  const x = Array.from(get('model.embed_tokens.weight').subarray(token * D, (token + 1) * D));
  const layer = 'model.layers.0.';
  const normed = norm(x, get(`${layer}input_layernorm.weight`));
  const v = matVec(get(`${layer}self_attn.v_proj.weight`), KV * Dh, normed, get(`${layer}self_attn.v_proj.bias`));
  // each query head reads its group's v head unchanged
  const attended: number[] = [];
  for (let head = 0; head < H; head++) attended.push(...v.slice(Math.floor(head / (H / KV)) * Dh, (Math.floor(head / (H / KV)) + 1) * Dh));
  const attentionOutput = matVec(get(`${layer}self_attn.o_proj.weight`), D, attended, get(`${layer}self_attn.o_proj.bias`));
  const afterAttention = x.map((value, index) => value + attentionOutput[index]!);
  const normed2 = norm(afterAttention, get(`${layer}post_attention_layernorm.weight`));
  const gate = matVec(get(`${layer}mlp.gate_proj.weight`), config.intermediateSize, normed2);
  const up = matVec(get(`${layer}mlp.up_proj.weight`), config.intermediateSize, normed2);
  const down = matVec(get(`${layer}mlp.down_proj.weight`), D, gate.map((value, index) => silu(value) * up[index]!));
  const afterMlp = afterAttention.map((value, index) => value + down[index]!);
  const hidden = norm(afterMlp, get('model.norm.weight'));
  return { hidden, logits: matVec(get('lm_head.weight'), V, hidden) };
}
