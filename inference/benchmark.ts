import { loadCheckpoint } from './checkpoint/load-checkpoint.js';
import type { LlamaConfig } from './checkpoint/types.js';
import { LlamaModel } from './engine/llama-model.js';
import { encodeModel, type GraphSpec } from './graph/onnx-graph.js';
import type { WeightQuantization } from './graph/quantize-graph.js';
import { argmax } from './generation/samplers.js';
import { GraphSession } from './session.js';

/**
 * Inference throughput against this machine's own roofs, measured side by side in one run:
 * - prefill roof = fp32 MatMul GFLOP/s of ONNX Runtime on the model's largest projection at the prefill chunk
 *   size, divided by the FLOPs per token of the non-embedding weights (2 × params);
 * - decode roof = the bandwidth ONNX Runtime reaches streaming a weight-sized matrix through a decode-shaped
 *   MatMul, divided by the bytes of weights one decoded token reads (every layer + the LM head).
 */
export interface InferenceBenchmarkOptions {
  threads?: number;
  prefillChunkSize?: number;
  /** Prompt tokens for the prefill measurement (default 2 chunks). */
  prefillTokens?: number;
  /** Tokens decoded after a short prompt (default 64). */
  decodeTokens?: number;
  /** Timed repetitions; the best is reported (noise on shared machines only ever slows a run down). */
  repeats?: number;
  /** Quantize weights at load (int4 / int8 MatMulNBits); the roofs stay the fp32 ones, for comparison. */
  quantization?: WeightQuantization;
}

export interface InferenceBenchmarkResult {
  model: string;
  /** 'fp32', 'int4' or 'int8'. */
  weights: string;
  threads: number;
  prefillChunkSize: number;
  nonEmbeddingParameters: number;
  weightBytesPerDecodedToken: number;
  matmulGflops: number;
  bandwidthGBps: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  prefillRoofTokPerS: number;
  decodeRoofTokPerS: number;
  prefillShareOfRoof: number;
  decodeShareOfRoof: number;
  loadSeconds: number;
}

/** Parameters in every layer and the final norm (what each prompt token multiplies through). */
export function nonEmbeddingParameters(config: LlamaConfig): number {
  const { hiddenSize: hidden, intermediateSize: intermediate, numHeads, numKvHeads, headDim } = config;
  const attention = hidden * (numHeads + 2 * numKvHeads) * headDim + numHeads * headDim * hidden;
  const biases = (config.qkvBias ? (numHeads + 2 * numKvHeads) * headDim : 0) + (config.outputBias ? hidden : 0);
  const perLayer = attention + biases + 3 * hidden * intermediate + 2 * hidden;
  return config.numLayers * perLayer + hidden;
}

async function bestOf<T>(repeats: number, work: () => Promise<T>): Promise<number> {
  let best = Infinity;
  for (let repeat = 0; repeat < repeats; repeat++) {
    const started = performance.now();
    await work();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

function matmulGraph(rows: number, inner: number, columns: number): GraphSpec {
  const weight = new Float32Array(inner * columns);
  for (let index = 0; index < weight.length; index++) weight[index] = ((index * 2654435761) % 1000) / 1000 - 0.5;
  return {
    name: 'roof_matmul',
    inputs: [{ name: 'x', dims: [1, rows, inner] }],
    outputs: [{ name: 'y', dims: [1, rows, columns] }],
    nodes: [{ opType: 'MatMul', name: '/roof/MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
    initializers: [{ name: 'w', dims: [inner, columns], data: weight }],
  };
}

async function matmulMs(rows: number, inner: number, columns: number, threads: number, repeats: number): Promise<number> {
  const session = await GraphSession.create('roof matmul', encodeModel(matmulGraph(rows, inner, columns)), { threads, executionProvider: 'cpu', spinning: 'always' });
  const input = { x: { data: new Float32Array(rows * inner).fill(0.01), dims: [1, rows, inner] } };
  try {
    await session.run(input, ['y']);
    return await bestOf(repeats, () => session.run(input, ['y']));
  } finally {
    await session.dispose();
  }
}

/** Measure prefill and decode of the checkpoint in `directory` and the two roofs, in one run. */
export async function benchmarkInference(directory: string, options: InferenceBenchmarkOptions = {}): Promise<InferenceBenchmarkResult> {
  const threads = options.threads ?? 2;
  const chunk = options.prefillChunkSize ?? 512;
  const prefillTokens = options.prefillTokens ?? 2 * chunk;
  const decodeTokens = options.decodeTokens ?? 64;
  const repeats = options.repeats ?? 3;

  const loadStarted = performance.now();
  const checkpoint = await loadCheckpoint(directory);
  const { config } = checkpoint;
  const model = await LlamaModel.load(config, checkpoint.weights, { threads, prefillChunkSize: chunk, executionProvider: 'cpu', ...(options.quantization ? { quantization: options.quantization } : {}) });
  await checkpoint.weights.close();
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const vocabulary = checkpoint.tokenizer.vocabularySize;
  const prompt = Array.from({ length: prefillTokens }, (_, index) => (index * 7919) % vocabulary);

  try {
    // Prefill: the whole prompt in chunks, logits for the last position only (as generation does).
    const prefill = async () => {
      model.memory.truncate(0);
      await model.forward(prompt, { logitPositions: [prompt.length - 1] });
    };
    await prefill();
    const prefillMs = await bestOf(repeats, prefill);

    // Decode: greedy, one token per step after a 64-token prompt.
    const decode = async () => {
      model.memory.truncate(0);
      let { logits } = await model.forward(prompt.slice(0, 64), { logitPositions: [63] });
      const started = performance.now();
      for (let step = 0; step < decodeTokens; step++) {
        const next = argmax(logits.subarray(0, vocabulary));
        ({ logits } = await model.forward([next], { logitPositions: [model.memory.length] }));
      }
      return performance.now() - started;
    };
    await decode();
    let decodeMs = Infinity;
    for (let repeat = 0; repeat < repeats; repeat++) decodeMs = Math.min(decodeMs, await decode());

    // Roofs, measured now, on the same machine state.
    const hidden = config.hiddenSize;
    const largestOutput = Math.max(config.intermediateSize, (config.numHeads + 2 * config.numKvHeads) * config.headDim / 3, hidden);
    const prefillMatmulMs = await matmulMs(chunk, hidden, largestOutput, threads, Math.max(5, repeats));
    const matmulGflops = (2 * chunk * hidden * largestOutput) / (prefillMatmulMs / 1000) / 1e9;
    const parameters = nonEmbeddingParameters(config);
    const weightBytesPerDecodedToken = 4 * (parameters + config.vocabSize * hidden);
    // A decode-shaped MatMul over a matrix as large as the weights one token reads: bandwidth-bound.
    const columns = Math.round(weightBytesPerDecodedToken / 4 / hidden);
    const streamMs = await matmulMs(1, hidden, columns, threads, Math.max(5, repeats));
    const bandwidthGBps = weightBytesPerDecodedToken / (streamMs / 1000) / 1e9;

    const prefillTokPerS = prefillTokens / (prefillMs / 1000);
    const decodeTokPerS = decodeTokens / (decodeMs / 1000);
    const prefillRoofTokPerS = (matmulGflops * 1e9) / (2 * parameters);
    const decodeRoofTokPerS = (bandwidthGBps * 1e9) / weightBytesPerDecodedToken;
    return {
      model: directory,
      weights: options.quantization ? `int${options.quantization.bits}` : 'fp32',
      threads,
      prefillChunkSize: chunk,
      nonEmbeddingParameters: parameters,
      weightBytesPerDecodedToken,
      matmulGflops: round(matmulGflops),
      bandwidthGBps: round(bandwidthGBps),
      prefillTokPerS: round(prefillTokPerS),
      decodeTokPerS: round(decodeTokPerS),
      prefillRoofTokPerS: round(prefillRoofTokPerS),
      decodeRoofTokPerS: round(decodeRoofTokPerS),
      prefillShareOfRoof: round(prefillTokPerS / prefillRoofTokPerS, 3),
      decodeShareOfRoof: round(decodeTokPerS / decodeRoofTokPerS, 3),
      loadSeconds: round(loadSeconds),
    };
  } finally {
    await model.dispose();
  }
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
