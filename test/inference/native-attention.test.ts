import { afterAll, describe, expect, it } from 'vitest';
import { NativeAttention } from '../../inference/engine/native-attention.js';
import { encodeModel, type GraphSpec } from '../../inference/graph/onnx-graph.js';
import { GraphSession } from '../../inference/session.js';

/**
 * The fused kernel against ONNX Runtime's RotaryEmbedding + Attention on the same inputs: every path of the kernel
 * (rows one at a time under 8 queries, blocks of rows above; one thread and two; head sizes 16–128; partial rotary;
 * a mask read or left out) must agree to 1e-5.
 */
const native = NativeAttention.load();
const sessions: GraphSession[] = [];
afterAll(async () => {
  await Promise.all(sessions.map((session) => session.dispose()));
});

interface Case {
  queries: number;
  keys: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rotaryDim?: number;
  threads: number;
  /** Hide these (query, key) cells inside the causal region too. */
  holes?: boolean;
}

/** Deterministic values in [-1, 1). */
function values(count: number, seed: number): Float32Array {
  let state = seed * 2654435761;
  return Float32Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 30 - 1;
  });
}

async function graphAttention(shape: Case, inputs: { q: Float32Array; k: Float32Array; v: Float32Array; cos: Float32Array; sin: Float32Array; mask: Float32Array }): Promise<Float32Array> {
  const { queries: T, keys: S, heads, kvHeads, headDim } = shape;
  const rotaryDim = shape.rotaryDim ?? headDim;
  const spec: GraphSpec = {
    name: 'reference_attention',
    inputs: [
      { name: 'q', dims: [1, T, heads * headDim] },
      { name: 'k', dims: [1, S, kvHeads * headDim] },
      { name: 'v', dims: [1, S, kvHeads * headDim] },
      { name: 'cos', dims: [1, T, rotaryDim / 2] },
      { name: 'sin', dims: [1, T, rotaryDim / 2] },
      { name: 'mask', dims: [T, S] },
    ],
    outputs: [{ name: 'out', dims: [1, T, heads * headDim] }],
    nodes: [
      { opType: 'RotaryEmbedding', name: 'rotary', inputs: ['q', 'cos', 'sin'], outputs: ['q_rotated'], attributes: { num_heads: heads, interleaved: 0, ...(rotaryDim === headDim ? {} : { rotary_embedding_dim: rotaryDim }) } },
      { opType: 'Attention', name: 'attention', inputs: ['q_rotated', 'k', 'v', 'mask'], outputs: ['out'], attributes: { q_num_heads: heads, kv_num_heads: kvHeads } },
    ],
    initializers: [],
  };
  const session = await GraphSession.create('reference attention', encodeModel(spec), { threads: 1, executionProvider: 'cpu' });
  sessions.push(session);
  const result = await session.run(
    {
      q: { data: inputs.q, dims: [1, T, heads * headDim] },
      k: { data: inputs.k, dims: [1, S, kvHeads * headDim] },
      v: { data: inputs.v, dims: [1, S, kvHeads * headDim] },
      cos: { data: inputs.cos, dims: [1, T, rotaryDim / 2] },
      sin: { data: inputs.sin, dims: [1, T, rotaryDim / 2] },
      mask: { data: inputs.mask, dims: [T, S] },
    },
    ['out'],
  );
  return result['out']!.data;
}

const CASES: Record<string, Case> = {
  'decode step: 1 query over 300 keys, 9 heads over 3 kv heads, d 64': { queries: 1, keys: 300, heads: 9, kvHeads: 3, headDim: 64, threads: 1 },
  'decode step over 5,000 keys on two threads': { queries: 1, keys: 5000, heads: 9, kvHeads: 3, headDim: 64, threads: 2 },
  '5 queries with 20 earlier keys, d 32, a mask with holes': { queries: 5, keys: 25, heads: 4, kvHeads: 2, headDim: 32, threads: 1, holes: true },
  'prefill 512 over 1,024 keys, two threads': { queries: 512, keys: 1024, heads: 9, kvHeads: 3, headDim: 64, threads: 2 },
  '70 queries, no earlier keys, d 16, multi-head': { queries: 70, keys: 70, heads: 4, kvHeads: 4, headDim: 16, threads: 2 },
  '37 queries over 300 keys, d 128, one kv head, a mask with holes': { queries: 37, keys: 300, heads: 2, kvHeads: 1, headDim: 128, threads: 2, holes: true },
  'partial rotary (half of d 64)': { queries: 33, keys: 100, heads: 4, kvHeads: 2, headDim: 64, rotaryDim: 32, threads: 1 },
};

describe.skipIf(!native.kernel)('native attention kernel = ONNX Runtime rotary + Attention', () => {
  it.each(Object.entries(CASES))('%s', async (_name, shape) => {
    const kernel = native.kernel!;
    const { queries: T, keys: S, heads, kvHeads, headDim, threads } = shape;
    const rotaryDim = shape.rotaryDim ?? headDim;
    const q = values(T * heads * headDim, 1);
    const k = values(S * kvHeads * headDim, 2);
    const v = values(S * kvHeads * headDim, 3);
    const angles = values(T * (rotaryDim / 2), 4);
    const cos = angles.map((angle) => Math.cos(3 * angle));
    const sin = angles.map((angle) => Math.sin(3 * angle));
    const mask = new Float32Array(T * S);
    for (let query = 0; query < T; query++) {
      const own = S - T + query;
      for (let key = own + 1; key < S; key++) mask[query * S + key] = -Infinity;
      // Holes: every third earlier key of odd queries (never a query's own key).
      if (shape.holes && query % 2 === 1) for (let key = 0; key < own; key += 3) mask[query * S + key] = -Infinity;
    }
    const expected = await graphAttention(shape, { q, k, v, cos, sin, mask });
    const kernelShape = { queryCount: T, keyCount: S, numHeads: heads, numKvHeads: kvHeads, headDim, rotaryDim, threads };
    const withMask = new Float32Array(T * heads * headDim);
    kernel.attend(q, cos, sin, k, v, mask, withMask, kernelShape);
    let worst = 0;
    for (let index = 0; index < expected.length; index++) worst = Math.max(worst, Math.abs(withMask[index]! - expected[index]!));
    expect(worst).toBeLessThanOrEqual(1e-5);
    // Without the mask the kernel applies causality alone: equal where the mask hides nothing else.
    const causalOnly = new Float32Array(T * heads * headDim);
    kernel.attend(q, cos, sin, k, v, null, causalOnly, kernelShape);
    const differs = causalOnly.some((value, index) => Math.abs(value - expected[index]!) > 1e-5);
    expect(differs).toBe(Boolean(shape.holes));
  });

  it('refuses inputs shorter than their shape and head sizes it is not compiled for, with a typed error', () => {
    const kernel = native.kernel!;
    const shape = { queryCount: 2, keyCount: 4, numHeads: 2, numKvHeads: 1, headDim: 16, rotaryDim: 16, threads: 1 };
    const table = new Float32Array(16);
    expect(() => kernel.attend(new Float32Array(63), table, table, new Float32Array(64), new Float32Array(64), null, new Float32Array(64), shape)).toThrow(expect.objectContaining({ code: 'ENGINE_FAILED', message: expect.stringMatching(/shorter than its shape/) }));
    expect(() => kernel.attend(new Float32Array(96), table, table, new Float32Array(96), new Float32Array(96), null, new Float32Array(96), { ...shape, headDim: 24, rotaryDim: 24 })).toThrow(expect.objectContaining({ code: 'ENGINE_FAILED', message: expect.stringMatching(/unsupported attention shape/) }));
  });
});
