import { loadCheckpoint } from './checkpoint/load-checkpoint.js';
import type { LlamaConfig } from './checkpoint/types.js';
import { LlamaModel } from './engine/llama-model.js';
import { encodeModel, type GraphSpec } from './graph/onnx-graph.js';
import type { WeightQuantization } from './graph/quantize-graph.js';
import { argmax } from './generation/samplers.js';
import { median } from './median.js';
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
  /**
   * Timed rounds (default 7). A round measures prefill, decode and then both roofs, one right after the other, and
   * takes its own ratios; every figure reported is the median over rounds. On these virtual machines the speed of
   * the same memory changes within seconds (a weight-sized stream was seen going from ~48 to ~80 GB/s mid-run, the
   * model's decode from ~70 to ~90 tok/s), so a model measured in one spell and a roof in another would not compare.
   */
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
  /** Each round's own figures (the reported ones are their medians). */
  rounds: InferenceBenchmarkRound[];
}

export interface InferenceBenchmarkRound {
  prefillTokPerS: number;
  decodeTokPerS: number;
  matmulGflops: number;
  bandwidthGBps: number;
  prefillShareOfRoof: number;
  decodeShareOfRoof: number;
}

/** Parameters in every layer and the final norm (what each prompt token multiplies through). */
export function nonEmbeddingParameters(config: LlamaConfig): number {
  const { hiddenSize: hidden, intermediateSize: intermediate, numHeads, numKvHeads, headDim } = config;
  const attention = hidden * (numHeads + 2 * numKvHeads) * headDim + numHeads * headDim * hidden;
  const biases = (config.qkvBias ? (numHeads + 2 * numKvHeads) * headDim : 0) + (config.outputBias ? hidden : 0);
  const perLayer = attention + biases + 3 * hidden * intermediate + 2 * hidden;
  return config.numLayers * perLayer + hidden;
}

/** Time `work` once. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function matmulGraph(rows: number, inner: number, columns: number): GraphSpec {
  // Pseudo-random like real weights, with no repeating pattern a host could merge pages on or a cache could exploit.
  const weight = new Float32Array(inner * columns);
  let state = 0x9e3779b9;
  for (let index = 0; index < weight.length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    weight[index] = (state >>> 0) / 2 ** 32 - 0.5;
  }
  return {
    name: 'roof_matmul',
    inputs: [{ name: 'x', dims: [1, rows, inner] }],
    outputs: [{ name: 'y', dims: [1, rows, columns] }],
    nodes: [{ opType: 'MatMul', name: '/roof/MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
    initializers: [{ name: 'w', dims: [inner, columns], data: weight }],
  };
}

/**
 * One roof MatMul [rows, inner] × [inner, columns], timed as the best of a few back-to-back runs. It spins like the model's
 * sessions (within a run only), so while the model is measured its threads sleep.
 */
class RoofMatmul {
  private constructor(
    private readonly session: GraphSession,
    private readonly input: { x: { data: Float32Array; dims: number[] } },
  ) {}

  static async create(rows: number, inner: number, columns: number, threads: number): Promise<RoofMatmul> {
    const session = await GraphSession.create('roof matmul', encodeModel(matmulGraph(rows, inner, columns)), { threads, executionProvider: 'cpu' });
    const roof = new RoofMatmul(session, { x: { data: new Float32Array(rows * inner).fill(0.01), dims: [1, rows, inner] } });
    await roof.bestMs(1);
    return roof;
  }

  async bestMs(runs: number): Promise<number> {
    let best = Infinity;
    for (let run = 0; run < runs; run++) best = Math.min(best, await timed(() => this.session.run(this.input, ['y'])));
    return best;
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

/** Measure prefill and decode of the checkpoint in `directory` and the two roofs, in one run. */
export async function benchmarkInference(directory: string, options: InferenceBenchmarkOptions = {}): Promise<InferenceBenchmarkResult> {
  const threads = options.threads ?? 2;
  const chunk = options.prefillChunkSize ?? 512;
  const prefillTokens = options.prefillTokens ?? 2 * chunk;
  const decodeTokens = options.decodeTokens ?? 64;
  const repeats = options.repeats ?? 7;

  const loadStarted = performance.now();
  const checkpoint = await loadCheckpoint(directory);
  const { config } = checkpoint;
  const model = await LlamaModel.load(config, checkpoint.weights, { threads, prefillChunkSize: chunk, executionProvider: 'cpu', ...(options.quantization ? { quantization: options.quantization } : {}) });
  await checkpoint.weights.close();
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const vocabulary = checkpoint.tokenizer.vocabularySize;
  const prompt = Array.from({ length: prefillTokens }, (_, index) => (index * 7919) % vocabulary);

  const hidden = config.hiddenSize;
  const parameters = nonEmbeddingParameters(config);
  const weightBytesPerDecodedToken = 4 * (parameters + config.vocabSize * hidden);
  // Prefill roof: the model's largest projection at the chunk size. Decode roof: a decode-shaped MatMul over a
  // matrix as large as the weights one token reads (bandwidth-bound).
  const largestOutput = Math.max(config.intermediateSize, (config.numHeads + 2 * config.numKvHeads) * config.headDim / 3, hidden);
  const prefillRoofTokPerS = (gflops: number) => (gflops * 1e9) / (2 * parameters);
  const decodeRoofTokPerS = (gigabytesPerSecond: number) => (gigabytesPerSecond * 1e9) / weightBytesPerDecodedToken;
  const computeRoof = await RoofMatmul.create(chunk, hidden, largestOutput, threads);
  const streamRoof = await RoofMatmul.create(1, hidden, Math.round(weightBytesPerDecodedToken / 4 / hidden), threads);

  try {
    // Prefill: the whole prompt in chunks, logits for the last position only (as generation does).
    const prefill = async () => {
      model.memory.truncate(0);
      await model.forward(prompt, { logitPositions: [prompt.length - 1] });
    };
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
    await prefill();
    await decode();
    const rounds: InferenceBenchmarkRound[] = [];
    for (let round = 0; round < repeats; round++) {
      const prefillTokPerS = prefillTokens / ((await timed(prefill)) / 1000);
      const decodeTokPerS = decodeTokens / ((await decode()) / 1000);
      const matmulGflops = (2 * chunk * hidden * largestOutput) / ((await computeRoof.bestMs(3)) / 1000) / 1e9;
      const bandwidthGBps = weightBytesPerDecodedToken / ((await streamRoof.bestMs(3)) / 1000) / 1e9;
      rounds.push({
        prefillTokPerS,
        decodeTokPerS,
        matmulGflops,
        bandwidthGBps,
        prefillShareOfRoof: prefillTokPerS / prefillRoofTokPerS(matmulGflops),
        decodeShareOfRoof: decodeTokPerS / decodeRoofTokPerS(bandwidthGBps),
      });
    }
    const medianOf = (figure: keyof InferenceBenchmarkRound) => median(rounds.map((entry) => entry[figure]));
    const [matmulGflops, bandwidthGBps] = [medianOf('matmulGflops'), medianOf('bandwidthGBps')];
    return {
      model: directory,
      weights: options.quantization ? `int${options.quantization.bits}` : 'fp32',
      threads,
      prefillChunkSize: chunk,
      nonEmbeddingParameters: parameters,
      weightBytesPerDecodedToken,
      matmulGflops: round(matmulGflops),
      bandwidthGBps: round(bandwidthGBps),
      prefillTokPerS: round(medianOf('prefillTokPerS')),
      decodeTokPerS: round(medianOf('decodeTokPerS')),
      prefillRoofTokPerS: round(prefillRoofTokPerS(matmulGflops)),
      decodeRoofTokPerS: round(decodeRoofTokPerS(bandwidthGBps)),
      prefillShareOfRoof: round(medianOf('prefillShareOfRoof'), 3),
      decodeShareOfRoof: round(medianOf('decodeShareOfRoof'), 3),
      loadSeconds: round(loadSeconds),
      rounds: rounds.map((entry) => ({
        prefillTokPerS: round(entry.prefillTokPerS),
        decodeTokPerS: round(entry.decodeTokPerS),
        matmulGflops: round(entry.matmulGflops),
        bandwidthGBps: round(entry.bandwidthGBps),
        prefillShareOfRoof: round(entry.prefillShareOfRoof, 3),
        decodeShareOfRoof: round(entry.decodeShareOfRoof, 3),
      })),
    };
  } finally {
    await Promise.all([model.dispose(), computeRoof.dispose(), streamRoof.dispose()]);
  }
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
