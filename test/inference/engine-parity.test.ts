import { afterAll, describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../inference/checkpoint/types.js';
import type { AttentionPolicy, AttentionSelection, AttentionStep } from '../../inference/engine/attention-policy.js';
import type { LayerKvMemory } from '../../inference/engine/kv-memory.js';
import { LlamaModel, type AttentionKernelName } from '../../inference/engine/llama-model.js';
import { NativeAttention } from '../../inference/engine/native-attention.js';
import { CAUSAL_BLOCKING_MIN_QUERIES } from '../../inference/graph/llama-graphs.js';
import { EngineError } from '../../src/errors.js';
import { referenceForward } from '../../inference/reference/reference-forward.js';
import { randomLlamaConfig, randomWeightStore } from '../helpers/random-weights.js';

/**
 * The ONNX Runtime engine against the plain TypeScript reference forward pass: logits must agree to 1e-4 for a
 * whole-prompt prefill, a chunked prefill, and token-by-token decoding from the KV memory, across the layout
 * variants Llama-family checkpoints come in, with either attention kernel. In the graph (onnx), steps longer than
 * CAUSAL_BLOCKING_MIN_QUERIES run attention in causal query blocks, shorter ones in one call; the native kernel takes
 * steps under 8 queries row by row and longer ones in blocks of rows: the prompt and chunk sizes cover all of them,
 * with and without earlier keys.
 */
const TOLERANCE = 1e-4;

/** Head size 16 unless a variant says otherwise (the native kernel is compiled for 16, 32, 64 and 128). */
const VARIANTS: Record<string, Partial<LlamaConfig>> = {
  'GQA, untied': { hiddenSize: 64 },
  'multi-head (kv = heads), tied': { hiddenSize: 64, numKvHeads: 4, tieWordEmbeddings: true },
  'Qwen2 q/k/v biases': { hiddenSize: 64, architecture: 'Qwen2ForCausalLM', modelType: 'qwen2', qkvBias: true },
  'Llama attention_bias (q/k/v/o biases), 1 kv head': { hiddenSize: 64, qkvBias: true, outputBias: true, numKvHeads: 1 },
  'head_dim ≠ hidden/heads, 3 layers': { hiddenSize: 48, numHeads: 4, headDim: 16, numKvHeads: 2, numLayers: 3 },
  'head_dim 64, 9 heads over 3 kv heads (SmolLM2-135M layout)': { hiddenSize: 576, numHeads: 9, numKvHeads: 3, headDim: 64 },
  'head_dim 128, 2 heads over 1 kv head': { hiddenSize: 128, numHeads: 2, numKvHeads: 1, headDim: 128 },
};

const native = NativeAttention.load();
const KERNELS: AttentionKernelName[] = ['onnx', 'native'];
const CASES = KERNELS.flatMap((kernel) => Object.entries(VARIANTS).map(([name, overrides]) => [kernel, name, overrides] as const));

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

describe.each(CASES)('engine with %s attention = reference forward pass (%s)', (kernel, _name, overrides) => {
  // The native kernel needs its addon built and AVX-512F; elsewhere the engine uses the graph's attention.
  if (kernel === 'native' && !native.kernel) {
    it.skip(`native kernel unavailable here: ${native.kernel === null ? native.reason : ''}`, () => {});
    return;
  }
  const config = randomLlamaConfig(overrides);
  const weights = randomWeightStore(config, 11);
  const prompt = tokens(230, config.vocabSize, 3);
  const reference = referenceForward(config, weights, prompt);
  const allPositions = prompt.map((_, index) => index);

  async function load(prefillChunkSize: number): Promise<LlamaModel> {
    const model = await LlamaModel.load(config, weights, { prefillChunkSize, threads: 1, attentionKernel: kernel });
    models.push(model);
    expect(model.attentionKernel).toBe(kernel);
    return model;
  }

  it('one-chunk prefill: logits at every position', async () => {
    const model = await load(512);
    const { logits } = await model.forward(prompt, { logitPositions: allPositions });
    expect(maxAbsDifference(logits, reference.logits)).toBeLessThanOrEqual(TOLERANCE);
  });

  it.each([5, 8, 90])('chunked prefill (chunks of %i): same logits, memory holds every token', async (chunk) => {
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
    const model = await LlamaModel.load(config, weights, { threads: 1, attentionPolicy: new BidirectionalPolicy(), attentionKernel: 'onnx' });
    models.push(model);
    const long = tokens(CAUSAL_BLOCKING_MIN_QUERIES + 1, config.vocabSize, 5);
    const failure = await model.forward(long).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).message).toMatch(/policy bidirectional lets query 0 see key row 1 of 65/);
    expect(model.memory.length).toBe(0);
    // Short steps make one Attention call over the whole mask: nothing is skipped, so any mask is honoured.
    await expect(model.forward(long.slice(0, CAUSAL_BLOCKING_MIN_QUERIES))).resolves.toBeDefined();
  });

  it.skipIf(!native.kernel)('the native kernel skips later keys at every step length: a 2-query step with such a mask is refused, a 1-query step is fine', async () => {
    const wider = randomLlamaConfig({ hiddenSize: 64 });
    const model = await LlamaModel.load(wider, randomWeightStore(wider, 11), { threads: 1, attentionPolicy: new BidirectionalPolicy(), attentionKernel: 'native' });
    models.push(model);
    const failure = await model.forward(tokens(2, wider.vocabSize, 5)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).message).toMatch(/policy bidirectional lets query 0 see key row 1 of 2/);
    await expect(model.forward(tokens(1, wider.vocabSize, 5))).resolves.toBeDefined();
  });

  /** Full causal attention that also hides the first token from every later query: a mask the kernel must read. */
  class HideFirstTokenPolicy implements AttentionPolicy {
    readonly name = 'hide-first';
    select(_layer: number, memory: LayerKvMemory, step: AttentionStep): AttentionSelection {
      const keyCount = step.queryStart + step.queryCount;
      const { rotatedKeys, values } = memory.prefix(keyCount);
      const mask = new Float32Array(step.queryCount * keyCount);
      for (let query = 0; query < step.queryCount; query++) {
        const own = keyCount - step.queryCount + query;
        for (let key = own + 1; key < keyCount; key++) mask[query * keyCount + key] = -Infinity;
        if (own > 0) mask[query * keyCount] = -Infinity;
      }
      return { keys: rotatedKeys, values, keyCount, mask };
    }
  }

  it.skipIf(!native.kernel)('a mask that hides more than later keys: the native kernel applies it (same logits as the graph, not as plain causal)', async () => {
    const wider = randomLlamaConfig({ hiddenSize: 64 });
    const wideWeights = randomWeightStore(wider, 11);
    const prompt = tokens(100, wider.vocabSize, 7);
    const run = async (kernel: AttentionKernelName, attentionPolicy?: AttentionPolicy) => {
      const model = await LlamaModel.load(wider, wideWeights, { threads: 2, prefillChunkSize: 40, attentionKernel: kernel, ...(attentionPolicy ? { attentionPolicy } : {}) });
      models.push(model);
      const first = await model.forward(prompt, { logitPositions: prompt.map((_, index) => index) });
      const next = await model.forward([3], { logitPositions: [prompt.length] });
      return [first.logits, next.logits] as const;
    };
    const [graph, kernel, causal] = [await run('onnx', new HideFirstTokenPolicy()), await run('native', new HideFirstTokenPolicy()), await run('native')];
    expect(maxAbsDifference(kernel[0], graph[0])).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDifference(kernel[1], graph[1])).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDifference(kernel[0], causal[0])).toBeGreaterThan(1e-3);
  });
});
