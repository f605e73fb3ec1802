import { afterAll, describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../inference/checkpoint/types.js';
import { LlamaModel } from '../../inference/engine/llama-model.js';
import { referenceForward } from '../../inference/reference/reference-forward.js';
import { randomLlamaConfig, randomWeightStore } from '../helpers/random-weights.js';

/**
 * The ONNX Runtime engine against the plain TypeScript reference forward pass: logits must agree to 1e-4 for a
 * whole-prompt prefill, a chunked prefill, and token-by-token decoding from the KV memory, across the layout
 * variants Llama-family checkpoints come in.
 */
const TOLERANCE = 1e-4;

const VARIANTS: Record<string, Partial<LlamaConfig>> = {
  'GQA, untied': {},
  'multi-head (kv = heads), tied': { numKvHeads: 4, tieWordEmbeddings: true },
  'Qwen2 q/k/v biases': { architecture: 'Qwen2ForCausalLM', modelType: 'qwen2', qkvBias: true },
  'Llama attention_bias (q/k/v/o biases), 1 kv head': { qkvBias: true, outputBias: true, numKvHeads: 1 },
  'head_dim ≠ hidden/heads, 3 layers': { hiddenSize: 48, numHeads: 4, headDim: 16, numKvHeads: 2, numLayers: 3 },
};

function maxAbsDifference(left: Float32Array, right: Float32Array): number {
  expect(left.length).toBe(right.length);
  let worst = 0;
  for (let index = 0; index < left.length; index++) worst = Math.max(worst, Math.abs(left[index]! - right[index]!));
  return worst;
}

const tokens = (count: number, vocab: number, seed: number) => Array.from({ length: count }, (_, index) => (index * 7919 + seed * 104729) % vocab);

const models: LlamaModel[] = [];
afterAll(async () => {
  await Promise.all(models.map((model) => model.dispose()));
});

describe.each(Object.entries(VARIANTS))('ONNX engine = reference forward pass (%s)', (_name, overrides) => {
  const config = randomLlamaConfig(overrides);
  const weights = randomWeightStore(config, 11);
  const prompt = tokens(37, config.vocabSize, 3);
  const reference = referenceForward(config, weights, prompt);
  const allPositions = prompt.map((_, index) => index);

  async function load(prefillChunkSize: number): Promise<LlamaModel> {
    const model = await LlamaModel.load(config, weights, { prefillChunkSize, threads: 1 });
    models.push(model);
    return model;
  }

  it('one-chunk prefill: logits at every position', async () => {
    const model = await load(512);
    const { logits } = await model.forward(prompt, { logitPositions: allPositions });
    expect(maxAbsDifference(logits, reference.logits)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('chunked prefill (chunks of 8): same logits, memory holds every token', async () => {
    const model = await load(8);
    const { logits } = await model.forward(prompt, { logitPositions: allPositions });
    expect(maxAbsDifference(logits, reference.logits)).toBeLessThanOrEqual(TOLERANCE);
    expect(model.memory.length).toBe(prompt.length);
  });

  it('prefill of 20 tokens, then cached decode one token at a time', async () => {
    const model = await load(512);
    const split = 20;
    const first = await model.forward(prompt.slice(0, split), { logitPositions: [split - 1] });
    expect(maxAbsDifference(first.logits, reference.logits.subarray((split - 1) * config.vocabSize, split * config.vocabSize))).toBeLessThanOrEqual(TOLERANCE);
    for (let position = split; position < prompt.length; position++) {
      const step = await model.forward([prompt[position]!], { logitPositions: [position] });
      expect(maxAbsDifference(step.logits, reference.logits.subarray(position * config.vocabSize, (position + 1) * config.vocabSize)), `position ${position}`).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('final-normed hidden states match the reference (what embeddings pool)', async () => {
    const model = await load(16);
    const { normedHidden } = await model.forward(prompt, { normedHidden: true });
    expect(maxAbsDifference(normedHidden!, reference.hidden)).toBeLessThanOrEqual(TOLERANCE);
  });
});
