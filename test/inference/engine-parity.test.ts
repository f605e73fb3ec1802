import { afterAll, describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../inference/checkpoint/types.js';
import type { AttentionPolicy, AttentionSelection, AttentionStep } from '../../inference/engine/attention-policy.js';
import type { LayerKvMemory } from '../../inference/engine/kv-memory.js';
import { LlamaModel } from '../../inference/engine/llama-model.js';
import { CAUSAL_BLOCKING_MIN_QUERIES } from '../../inference/graph/llama-graphs.js';
import { EngineError } from '../../src/errors.js';
import { referenceForward } from '../../inference/reference/reference-forward.js';
import { randomLlamaConfig, randomWeightStore } from '../helpers/random-weights.js';

/**
 * The ONNX Runtime engine against the plain TypeScript reference forward pass: logits must agree to 1e-4 for a
 * whole-prompt prefill, a chunked prefill, and token-by-token decoding from the KV memory, across the layout
 * variants Llama-family checkpoints come in. Steps longer than CAUSAL_BLOCKING_MIN_QUERIES run attention in causal
 * query blocks, shorter ones in one call: the prompt and chunk sizes cover both, with and without earlier keys.
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
  const prompt = tokens(230, config.vocabSize, 3);
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

  it.each([8, 90])('chunked prefill (chunks of %i): same logits, memory holds every token', async (chunk) => {
    const model = await load(chunk);
    const { logits } = await model.forward(prompt, { logitPositions: allPositions });
    expect(maxAbsDifference(logits, reference.logits)).toBeLessThanOrEqual(TOLERANCE);
    expect(model.memory.length).toBe(prompt.length);
  });

  it('prefill of 200 tokens, then cached decode one token at a time', async () => {
    const model = await load(512);
    const split = 200;
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

describe('the attention selection contract that causal query blocks rely on', () => {
  const config = randomLlamaConfig();
  const weights = randomWeightStore(config, 11);

  /** Shows every key of the step to every query: bidirectional, so a query sees keys after its own. */
  class BidirectionalPolicy implements AttentionPolicy {
    readonly name = 'bidirectional';
    select(_layer: number, memory: LayerKvMemory, step: AttentionStep): AttentionSelection {
      const keyCount = step.queryStart + step.queryCount;
      const { rotatedKeys, values } = memory.prefix(keyCount);
      return { keys: rotatedKeys, values, keyCount, mask: new Float32Array(step.queryCount * keyCount) };
    }
  }

  it(`a step longer than ${CAUSAL_BLOCKING_MIN_QUERIES} queries refuses a mask that shows a query a later key, naming the policy; the memory is rolled back`, async () => {
    const model = await LlamaModel.load(config, weights, { threads: 1, attentionPolicy: new BidirectionalPolicy() });
    models.push(model);
    const long = tokens(CAUSAL_BLOCKING_MIN_QUERIES + 1, config.vocabSize, 5);
    const failure = await model.forward(long).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).message).toMatch(/policy bidirectional lets query 0 see key row 1 of 65/);
    expect(model.memory.length).toBe(0);
    // Short steps make one Attention call over the whole mask: nothing is skipped, so any mask is honoured.
    await expect(model.forward(long.slice(0, CAUSAL_BLOCKING_MIN_QUERIES))).resolves.toBeDefined();
  });
});
