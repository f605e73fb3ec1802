import { afterAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '../../inference/engine/llama-model.js';
import { transpose } from '../../inference/engine/prepare-weights.js';
import { quantizeBlockwise } from '../../inference/graph/matmul-nbits.js';
import { referenceForward } from '../../inference/reference/reference-forward.js';
import { randomLlamaConfig, randomWeightStore } from '../helpers/random-weights.js';

/**
 * Load-time weight quantization (MatMulNBits). Two claims, checked separately:
 * 1. exactness of the quantized path: with accuracy_level 0 the engine computes with exactly the dequantized
 *    weights, so it matches the reference forward pass run on those weights (1e-4);
 * 2. the accuracy cost, documented: int4 / int8 against fp32 on the same random model, by logit error and by how
 *    often the most likely next token agrees.
 */
const config = randomLlamaConfig({ hiddenSize: 64, numHeads: 4, headDim: 16, intermediateSize: 128, vocabSize: 96 });
const weights = randomWeightStore(config, 5);
const prompt = Array.from({ length: 40 }, (_, index) => (index * 37 + 11) % config.vocabSize);
const positions = prompt.map((_, index) => index);
const BLOCK = 32;

/** HF [out, in] weight → the weight MatMulNBits effectively multiplies by, back in HF layout. */
function dequantizedLinear(name: string, bits: 4 | 8): Float32Array {
  const [out, input] = weights.shape(name) as [number, number];
  const quantized = quantizeBlockwise(transpose(weights.float32(name), out, input), input, out, { bits, blockSize: BLOCK });
  return transpose(quantized.dequantized(), input, out);
}

const models: LlamaModel[] = [];
afterAll(async () => Promise.all(models.map((model) => model.dispose())));

async function logitsOf(quantization?: { bits: 4 | 8; accuracyLevel: 0 | 4 }): Promise<Float32Array> {
  const model = await LlamaModel.load(config, weights, { threads: 1, ...(quantization ? { quantization: { ...quantization, blockSize: BLOCK } } : {}) });
  models.push(model);
  return (await model.forward(prompt, { logitPositions: positions })).logits;
}

function compare(left: Float32Array, right: Float32Array) {
  const vocab = config.vocabSize;
  let maxAbs = 0;
  let agree = 0;
  for (let index = 0; index < left.length; index++) maxAbs = Math.max(maxAbs, Math.abs(left[index]! - right[index]!));
  for (let row = 0; row < left.length / vocab; row++) {
    const argmax = (logits: Float32Array) => {
      let best = 0;
      for (let id = 1; id < vocab; id++) if (logits[row * vocab + id]! > logits[row * vocab + best]!) best = id;
      return best;
    };
    if (argmax(left) === argmax(right)) agree++;
  }
  return { maxAbs, top1Agreement: agree / (left.length / vocab) };
}

describe('weight quantization (MatMulNBits)', () => {
  for (const bits of [4, 8] as const) {
    it(`int${bits}, accuracy_level 0 = the reference forward pass on the dequantized weights`, async () => {
      const dequantized = weights.clone();
      for (const name of weights.names) {
        if (/_proj\.weight$|^lm_head\.weight$/.test(name)) dequantized.set(name, { shape: [...weights.shape(name)], data: dequantizedLinear(name, bits) });
      }
      const expected = referenceForward(config, dequantized, prompt).logits;
      const { maxAbs } = compare(await logitsOf({ bits, accuracyLevel: 0 }), expected);
      expect(maxAbs).toBeLessThanOrEqual(1e-4);
    });
  }

  it('documents the accuracy cost against fp32: int8 is near-lossless, int4 keeps most top-1 choices', async () => {
    const fp32 = await logitsOf();
    const int8 = compare(await logitsOf({ bits: 8, accuracyLevel: 4 }), fp32);
    const int4 = compare(await logitsOf({ bits: 4, accuracyLevel: 4 }), fp32);
    // Random weights are a worst case (no outliers to protect, no redundancy); figures go to docs/DESIGN.md.
    console.info(`quantization vs fp32 on a random 2-layer model: int8 max|Δlogit| ${int8.maxAbs.toFixed(4)}, top-1 ${int8.top1Agreement}; int4 max|Δlogit| ${int4.maxAbs.toFixed(4)}, top-1 ${int4.top1Agreement}`);
    expect(int8.top1Agreement).toBeGreaterThanOrEqual(0.95);
    expect(int4.top1Agreement).toBeGreaterThanOrEqual(0.6); // measured 0.7 (a broken kernel gives ~1/96)
    expect(int8.maxAbs).toBeLessThan(int4.maxAbs);
  });
});
