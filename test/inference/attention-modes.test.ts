import { afterAll, describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../inference/checkpoint/types.js';
import { resolveAttentionSettings, parseAttentionOptions } from '../../inference/engine/attention/attention-settings.js';
import { WindowedAttentionPolicy } from '../../inference/engine/attention/windowed-policy.js';
import { LlamaModel, type AttentionRequest } from '../../inference/engine/llama-model.js';
import { referenceForward } from '../../inference/reference/reference-forward.js';
import { applyRopeOverride, computeRope } from '../../inference/rope-scaling.js';
import { RotaryTable, rotateRows } from '../../inference/rope.js';
import { InvalidOptionError, ModelLoadError } from '../../src/errors.js';
import { randomLlamaConfig, randomWeightStore } from '../helpers/random-weights.js';

/**
 * The invariants of attention past the window (issue: "Past the window"): with everything retrievable and true
 * positions, blocks and kNN are full attention; streaming with a window covering the prompt is full attention;
 * any chunking (one shot, chunks, token by token) gives the same logits in every mode; RoPE scaling matches a
 * reference forward pass with HF's frequencies, also after dynamic NTK changes them mid-sequence.
 */
const TOLERANCE = 1e-4;
// Head size 16: the native attention kernel runs these where it is available (8 is not a size it is compiled for).
const config = randomLlamaConfig({ maxPositionEmbeddings: 64, hiddenSize: 64 });
const weights = randomWeightStore(config, 5);
const prompt = Array.from({ length: 150 }, (_, index) => (index * 7919 + 13) % config.vocabSize);
const everyPosition = prompt.map((_, index) => index);

const models: LlamaModel[] = [];
afterAll(async () => {
  await Promise.all(models.map((model) => model.dispose()));
});

async function load(options: { attention?: AttentionRequest; prefillChunkSize?: number; config?: LlamaConfig } = {}): Promise<LlamaModel> {
  const model = await LlamaModel.load(options.config ?? config, weights, { threads: 1, prefillChunkSize: options.prefillChunkSize ?? 512, ...(options.attention ? { attention: options.attention } : {}) });
  models.push(model);
  return model;
}

function maxAbsDifference(left: Float32Array, right: Float32Array): number {
  expect(left.length).toBe(right.length);
  let worst = 0;
  for (let index = 0; index < left.length; index++) worst = Math.max(worst, Math.abs(left[index]! - right[index]!));
  return worst;
}

/** Logits at every position, fed as one call, in uneven chunks, or one token at a time. */
async function logits(model: LlamaModel, feeding: 'one-shot' | 'chunks' | 'tokens'): Promise<Float32Array> {
  if (feeding === 'one-shot') return (await model.forward(prompt, { logitPositions: everyPosition })).logits;
  const sizes = feeding === 'tokens' ? prompt.map(() => 1) : [5, 37, 1, 20, 64, 23];
  const parts: Float32Array[] = [];
  let at = 0;
  for (const size of sizes) {
    const piece = prompt.slice(at, at + size);
    parts.push((await model.forward(piece, { logitPositions: piece.map((_, index) => at + index) })).logits);
    at += size;
  }
  const joined = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

const small = { sinks: 4, window: 16, blockSize: 8, stepSize: 8, maxDistance: 64 };

describe('attention modes against full attention', () => {
  let full: Float32Array;
  it('full attention equals the reference forward pass (the baseline)', async () => {
    full = await logits(await load(), 'one-shot');
    expect(maxAbsDifference(full, referenceForward(config, weights, prompt).logits)).toBeLessThanOrEqual(TOLERANCE);
  });

  for (const search of ['exact', 'hnsw'] as const) {
    it(`blocks with topK covering every block and original positions = full (${search})`, async () => {
      const model = await load({ attention: { mode: 'blocks', options: { ...small, topK: 100, positions: 'original', search } } });
      expect(maxAbsDifference(await logits(model, 'one-shot'), full)).toBeLessThanOrEqual(TOLERANCE);
      expect((model.attentionPolicy as WindowedAttentionPolicy).memoryTokens[0]).toBeGreaterThan(0); // memory was really used
    });

    it(`knn with topK covering every token and original positions = full (${search})`, async () => {
      const model = await load({ attention: { mode: 'knn', options: { ...small, topK: 1000, positions: 'original', search } } });
      expect(maxAbsDifference(await logits(model, 'chunks'), full)).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  it('streaming with a window covering the whole prompt = full', async () => {
    const model = await load({ attention: { mode: 'streaming', options: { sinks: 4, window: 200, stepSize: 8, maxDistance: 512 } } });
    expect(maxAbsDifference(await logits(model, 'tokens'), full)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('with a small budget each mode really differs from full past the window, and agrees with it before', async () => {
    for (const mode of ['streaming', 'blocks', 'knn']) {
      const model = await load({ attention: { mode, options: { ...small, topK: mode === 'knn' ? 8 : 1 } } });
      const result = await logits(model, 'one-shot');
      const vocab = config.vocabSize;
      const early = 16 * vocab; // positions before anything leaves the window
      expect(maxAbsDifference(result.subarray(0, early), full.subarray(0, early)), mode).toBeLessThanOrEqual(TOLERANCE);
      expect(maxAbsDifference(result.subarray(120 * vocab), full.subarray(120 * vocab)), mode).toBeGreaterThan(1e-3);
    }
  });

  for (const mode of ['streaming', 'blocks', 'knn']) {
    it(`${mode}: one-shot prefill = chunked prefill = token-by-token decoding`, async () => {
      const attention = { mode, options: { ...small, topK: mode === 'knn' ? 12 : 2 } };
      const oneShot = await logits(await load({ attention }), 'one-shot');
      expect(maxAbsDifference(await logits(await load({ attention, prefillChunkSize: 3 }), 'chunks'), oneShot)).toBeLessThanOrEqual(TOLERANCE);
      expect(maxAbsDifference(await logits(await load({ attention }), 'tokens'), oneShot)).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  it('rolling back (prefix reuse) rebuilds the retrieval state: same logits as a fresh run', async () => {
    const attention = { mode: 'blocks', options: { ...small, topK: 2 } };
    const fresh = await logits(await load({ attention }), 'one-shot');
    const model = await load({ attention });
    await model.forward(prompt.slice(0, 120).map((token) => (token + 1) % config.vocabSize));
    model.memory.truncate(0);
    const again = (await model.forward(prompt, { logitPositions: everyPosition })).logits;
    expect(maxAbsDifference(again, fresh)).toBeLessThanOrEqual(TOLERANCE);
    // A partial cut keeps what is still valid and rebuilds the rest.
    model.memory.truncate(100);
    const { logits: resumed } = await model.forward(prompt.slice(100), { logitPositions: everyPosition.slice(100) });
    expect(maxAbsDifference(resumed, fresh.subarray(100 * config.vocabSize))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('offloading: blocks and knn spilled to disk, and streaming that drops old tokens, give the same logits as keeping them in RAM', async () => {
    for (const [mode, offload, topK] of [['blocks', 'disk', 2], ['knn', 'disk', 12], ['streaming', 'drop', 1]] as const) {
      const kept = await logits(await load({ attention: { mode, options: { ...small, topK, offload: 'keep' } } }), 'one-shot');
      const model = await load({ attention: { mode, options: { ...small, topK, offload } } });
      expect(maxAbsDifference(await logits(model, 'tokens'), kept), mode).toBeLessThanOrEqual(TOLERANCE);
      const layer = model.memory.layers[0]!;
      expect(layer.offloaded, mode).toBe(true);
      // Only the sinks and the recent tokens stay in RAM.
      expect(layer.residentFrom, mode).toBeGreaterThanOrEqual(64);
      expect(() => layer.prefix(prompt.length)).toThrow(RangeError);
    }
  });

  it('cutting into offloaded memory starts over cleanly (the caller reads the length kept)', async () => {
    const attention = { mode: 'blocks', options: { ...small, topK: 2, offload: 'disk' } };
    const fresh = await logits(await load({ attention }), 'one-shot');
    const model = await load({ attention });
    await model.forward(prompt);
    model.memory.truncate(60);
    expect(model.memory.length).toBe(0);
    const { logits: again } = await model.forward(prompt, { logitPositions: everyPosition });
    expect(maxAbsDifference(again, fresh)).toBeLessThanOrEqual(TOLERANCE);
    // A cut inside the resident window that needs no rebuild keeps its tokens.
    model.memory.truncate(148);
    expect(model.memory.length).toBe(148);
    const { logits: tail } = await model.forward(prompt.slice(148), { logitPositions: [148, 149] });
    expect(maxAbsDifference(tail, fresh.subarray(148 * config.vocabSize))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('knn: the background index thread gives exactly the inline index\'s logits, also after a cut that keeps tokens handed over early', async () => {
    const options = { ...small, topK: 12 };
    const inlineModel = await load({ attention: { mode: 'knn', options: { ...options, indexing: 'inline' } } });
    const backgroundModel = await load({ attention: { mode: 'knn', options } });
    expect(backgroundModel.attentionSettings?.indexing).toBe('background');
    const inline = await logits(inlineModel, 'tokens');
    // Same insertions in the same order build the same graph: not merely close, identical.
    expect(maxAbsDifference(await logits(backgroundModel, 'tokens'), inline)).toBe(0);
    // Tokens are handed to the index a cell before they leave the window. A cut that keeps them (no rebuild)
    // restarts the cell, whose retrieval must not return them while they are still in its window.
    const fresh = await logits(await load({ attention: { mode: 'knn', options } }), 'one-shot');
    backgroundModel.memory.truncate(145);
    expect(backgroundModel.memory.length).toBe(145);
    const { logits: resumed } = await backgroundModel.forward(prompt.slice(145), { logitPositions: everyPosition.slice(145) });
    expect(maxAbsDifference(resumed, fresh.subarray(145 * config.vocabSize))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('HNSW retrieval finds the exact top-k (recall ≥ 0.95)', async () => {
    const model = await load({ attention: { mode: 'knn', options: { ...small, topK: 8 } } });
    await model.forward(prompt);
    const policy = model.attentionPolicy as WindowedAttentionPolicy;
    expect(policy.retrievalRecall([40, 80, 120, 149])).toBeGreaterThanOrEqual(0.95);
  });
});

describe('attention settings', () => {
  it('derive from the trained length (the documented table)', () => {
    const pick = (mode: string, length: number) => {
      const { sinks, window, blockSize, stepSize, topK } = resolveAttentionSettings(mode, length);
      return { sinks, window, blockSize, stepSize, topK };
    };
    expect(pick('blocks', 256)).toEqual({ sinks: 4, window: 64, blockSize: 16, stepSize: 32, topK: 8 });
    expect(pick('blocks', 2048)).toEqual({ sinks: 32, window: 512, blockSize: 64, stepSize: 256, topK: 18 });
    expect(pick('blocks', 8192)).toEqual({ sinks: 128, window: 2048, blockSize: 128, stepSize: 512, topK: 32 });
    expect(pick('streaming', 2048)).toMatchObject({ sinks: 32, window: 1760, stepSize: 256 });
    expect(pick('knn', 2048)).toMatchObject({ topK: 512 });
  });

  it('refuses unknown modes and options, and layouts that exceed the distance cap', () => {
    expect(() => resolveAttentionSettings('sideways', 256)).toThrow(InvalidOptionError);
    expect(() => resolveAttentionSettings('blocks', 256, { topk: 3 })).toThrow(/one of sinks/);
    expect(() => resolveAttentionSettings('blocks', 256, { window: 250 })).toThrow(/maxDistance 256/);
    expect(() => resolveAttentionSettings('blocks', 256, { sinks: -1 })).toThrow(InvalidOptionError);
    expect(() => resolveAttentionSettings('blocks', 256, { window: 8, blockSize: 16 })).toThrow(/at least blockSize/);
    expect(parseAttentionOptions('sinks=4, window=32')).toEqual({ sinks: '4', window: '32' });
    expect(() => parseAttentionOptions('sinks')).toThrow(InvalidOptionError);
  });

  it('index kNN in a background thread by default, inline where there is nothing to build', () => {
    expect(resolveAttentionSettings('knn', 2048).indexing).toBe('background');
    expect(resolveAttentionSettings('knn', 2048, { search: 'exact' }).indexing).toBe('inline');
    expect(resolveAttentionSettings('blocks', 2048).indexing).toBe('inline');
    expect(resolveAttentionSettings('blocks', 2048, { search: 'hnsw', indexing: 'background' }).indexing).toBe('background');
    expect(() => resolveAttentionSettings('knn', 2048, { search: 'exact', indexing: 'background' })).toThrow(/inline with search=exact/);
    expect(() => resolveAttentionSettings('knn', 2048, { indexing: 'later' })).toThrow(/background or inline/);
  });
});

describe('RoPE scaling in the engine', () => {
  const long = prompt.slice(0, 100); // past the 64 trained positions
  const positions = long.map((_, index) => index);

  for (const override of ['linear:2', 'ntk:2', 'yarn:4', 'llama3:4', 'dynamic:2']) {
    it(`${override}: one-shot prefill equals the reference with HF's frequencies for that length`, async () => {
      const scaled = applyRopeOverride(config, override);
      const model = await load({ config: scaled });
      const { logits: engine } = await model.forward(long, { logitPositions: positions });
      const reference = referenceForward(config, weights, long, { rope: computeRope(scaled, { seqLen: long.length }) });
      expect(maxAbsDifference(engine, reference.logits)).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  /** Every cached key equals its un-rotated source rotated at its position under the frequencies now in use. */
  function expectCacheRotatedWith(model: LlamaModel, rope: ReturnType<typeof computeRope>): void {
    const length = model.memory.length;
    const { cos, sin } = new RotaryTable(rope).rows(0, length);
    for (const layer of model.memory.layers) {
      const { keys, rotatedKeys } = layer.prefix(length);
      const expected = new Float32Array(keys.length);
      rotateRows(keys, expected, length, config.numKvHeads, config.headDim, cos, sin);
      expect(maxAbsDifference(rotatedKeys, expected)).toBeLessThanOrEqual(1e-6);
    }
  }

  it('dynamic NTK: every decode step past the trained length re-rotates the whole cache under the new frequencies', async () => {
    const scaled = applyRopeOverride(config, 'dynamic:2');
    const model = await load({ config: scaled, prefillChunkSize: 16 });
    await model.forward(long.slice(0, 90));
    expectCacheRotatedWith(model, computeRope(scaled, { seqLen: 90 }));
    for (let at = 90; at < 100; at++) {
      await model.forward([long[at]!], { logitPositions: [at] });
      expectCacheRotatedWith(model, computeRope(scaled, { seqLen: at + 1 }));
    }
    // And nothing leaks between lengths: a fresh one-shot pass at 100 tokens still equals the reference.
    const fresh = await load({ config: scaled });
    const { logits: oneShot } = await fresh.forward(long, { logitPositions: positions });
    expect(maxAbsDifference(oneShot, referenceForward(config, weights, long, { rope: computeRope(scaled, { seqLen: 100 }) }).logits)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('longrope: short factors up to the original length, long ones past it, the cache re-rotated at the switch', async () => {
    const half = config.headDim / 2;
    const scaled: LlamaConfig = { ...config, ropeScaling: { rope_type: 'longrope', factor: 4, original_max_position_embeddings: 64, short_factor: Array.from({ length: half }, () => 1.5), long_factor: Array.from({ length: half }, (_, index) => 1 + index) } };
    const model = await load({ config: scaled });
    const { logits: before } = await model.forward(long.slice(0, 60), { logitPositions: [59] });
    expect(maxAbsDifference(before, referenceForward(config, weights, long.slice(0, 60), { rope: computeRope(scaled, { seqLen: 60 }) }).logits.subarray(59 * config.vocabSize))).toBeLessThanOrEqual(TOLERANCE);
    expectCacheRotatedWith(model, computeRope(scaled, { seqLen: 60 }));
    await model.forward(long.slice(60));
    expectCacheRotatedWith(model, computeRope(scaled, { seqLen: 100 }));
    const fresh = await load({ config: scaled });
    const { logits: oneShot } = await fresh.forward(long, { logitPositions: positions });
    expect(maxAbsDifference(oneShot, referenceForward(config, weights, long, { rope: computeRope(scaled, { seqLen: 100 }) }).logits)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('combines with attention modes: YaRN + blocks covering everything at true positions = YaRN + full attention', async () => {
    const scaled = applyRopeOverride(config, 'yarn:4');
    const full = (await (await load({ config: scaled })).forward(prompt, { logitPositions: everyPosition })).logits;
    const blocks = await load({ config: scaled, attention: { mode: 'blocks', options: { ...small, topK: 100, positions: 'original' } } });
    expect(maxAbsDifference((await blocks.forward(prompt, { logitPositions: everyPosition })).logits, full)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('a config with an unknown rope type fails to load with a typed error', async () => {
    await expect(load({ config: { ...config, ropeScaling: { rope_type: 'warp', factor: 2 } } })).rejects.toThrow(ModelLoadError);
  });
});
