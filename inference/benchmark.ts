import { loadCheckpoint } from './checkpoint/load-checkpoint.js';
import type { LlamaConfig } from './checkpoint/types.js';
import { LlamaModel, type AttentionKernelName } from './engine/llama-model.js';
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
 *
 * Each roof does the same work as the model measurement it is paired with (the prefill's weight FLOPs, the decode's
 * weight bytes), back to back with it, so both are rates over a window of similar length in the same spell of the
 * machine. The compute roof runs its projection ROOF_PROJECTIONS_PER_RUN times inside one session run, as the
 * model's MatMuls run inside one run per layer: a run of a single 512-row projection spends 15–20% of its time
 * waking the pool and crossing into JS on a busy 2-core VM (measured: 168–191 vs 206–221 GFLOP/s side by side),
 * which would make the roof a measure of that overhead.
 */
export interface InferenceBenchmarkOptions {
  threads?: number;
  prefillChunkSize?: number;
  /** Prompt tokens for the prefill measurement (default 2 chunks). */
  prefillTokens?: number;
  /** Tokens decoded after a short prompt (default 64). */
  decodeTokens?: number;
  /**
   * Timed rounds (default 7). A round measures prefill and its roof, then decode and its roof, each pair back to back
   * (model first in even rounds, roof first in odd ones, so a drift within the pair does not always favour one
   * side), and takes its own ratios; every figure reported is the median over rounds. On these virtual machines the
   * speed of the same memory changes within seconds (a weight-sized stream was seen going from ~48 to ~80 GB/s
   * mid-run, the model's decode from ~70 to ~90 tok/s), so a model measured in one spell and a roof in another
   * would not compare.
   */
  repeats?: number;
  /** Who computes attention (default auto: the native kernel where it runs, see LlamaModelOptions.attentionKernel). */
  attentionKernel?: AttentionKernelName | 'auto';
  /** Quantize weights at load (int4 / int8 MatMulNBits); the roofs stay the fp32 ones, for comparison. */
  quantization?: WeightQuantization;
}

export interface InferenceBenchmarkResult {
  model: string;
  /** 'fp32', 'int4' or 'int8'. */
  weights: string;
  threads: number;
  /** Who computed attention: 'native' (the fused kernel) or 'onnx' (ONNX Runtime's Attention in each layer's graph). */
  attentionKernel: AttentionKernelName;
  prefillChunkSize: number;
  nonEmbeddingParameters: number;
  weightBytesPerDecodedToken: number;
  /** The roofs over the paired windows (medians over rounds); the shares are against these. */
  matmulGflops: number;
  bandwidthGBps: number;
  /** The fastest single roof run seen in any round: what a short burst reaches, for comparison. */
  matmulPeakGflops: number;
  bandwidthPeakGBps: number;
  prefillTokPerS: number;
  /**
   * The engine's very first prefill of the prompt (the warm-up, untimed by the rounds): what the first pass over a
   * document costs before ONNX Runtime has seen its shapes.
   */
  firstPrefillTokPerS: number;
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
  matmulPeakGflops: number;
  bandwidthPeakGBps: number;
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

/** Projections per compute-roof run: enough that one run lasts tens of milliseconds (see the module comment). */
export const ROOF_PROJECTIONS_PER_RUN = 8;

/**
 * A chain of MatMuls x [1, rows, widths₀] → [1, rows, widths₁] → … → y, each with its own pseudo-random weights
 * [widths_i, widths_i+1] (like real weights: no repeating pattern a host could merge pages on or a cache could
 * exploit, and together larger than the caches, as a layer's weights are), scaled so activations stay near 1.
 * Chained, the intermediates stay inside ONNX Runtime and only the last one comes back to JS.
 */
function matmulChainGraph(rows: number, widths: readonly number[]): GraphSpec {
  let state = 0x9e3779b9;
  const randomWeight = (inner: number, columns: number) => {
    const weight = new Float32Array(inner * columns);
    const scale = Math.sqrt(12 / inner); // uniform(-½, ½) has variance 1/12
    for (let index = 0; index < weight.length; index++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      weight[index] = ((state >>> 0) / 2 ** 32 - 0.5) * scale;
    }
    return weight;
  };
  const steps = widths.length - 1;
  const value = (step: number) => (step === 0 ? 'x' : step === steps ? 'y' : `h${step}`);
  const stepIndices = Array.from({ length: steps }, (_, step) => step);
  return {
    name: 'roof_matmul',
    inputs: [{ name: 'x', dims: [1, rows, widths[0]!] }],
    outputs: [{ name: 'y', dims: [1, rows, widths[steps]!] }],
    nodes: stepIndices.map((step) => ({ opType: 'MatMul', name: `/roof/MatMul_${step}`, inputs: [value(step), `w${step}`], outputs: [value(step + 1)] })),
    initializers: stepIndices.map((step) => ({ name: `w${step}`, dims: [widths[step]!, widths[step + 1]!], data: randomWeight(widths[step]!, widths[step + 1]!) })),
  };
}

/** A roof window: the mean rate over its runs and the fastest single run, as work per second. */
interface RoofWindow {
  perSecond: number;
  peakPerSecond: number;
}

/**
 * A roof: a chain of MatMuls over `rows` rows (matmulChainGraph), several per session run. It spins like the model's
 * sessions (within a run only), so while the model is measured its threads sleep.
 */
class RoofMatmul {
  private constructor(
    private readonly session: GraphSession,
    private readonly input: { x: { data: Float32Array; dims: number[] } },
    /** Work one run does (FLOPs or bytes, as the caller counts it). */
    readonly workPerRun: number,
  ) {}

  static async create(rows: number, widths: readonly number[], workPerRun: number, threads: number): Promise<RoofMatmul> {
    const session = await GraphSession.create('roof matmul', encodeModel(matmulChainGraph(rows, widths)), { threads, executionProvider: 'cpu' });
    const roof = new RoofMatmul(session, { x: { data: new Float32Array(rows * widths[0]!).fill(0.5), dims: [1, rows, widths[0]!] } }, workPerRun);
    await roof.window(roof.workPerRun);
    return roof;
  }

  /** Run until at least `work` is done (at least one run); the rate over all runs and the best run's. */
  async window(work: number): Promise<RoofWindow> {
    const runs = Math.max(1, Math.ceil(work / this.workPerRun));
    let [total, best] = [0, Infinity];
    for (let run = 0; run < runs; run++) {
      const ms = await timed(() => this.session.run(this.input, ['y']));
      total += ms;
      best = Math.min(best, ms);
    }
    return { perSecond: (runs * this.workPerRun) / (total / 1000), peakPerSecond: this.workPerRun / (best / 1000) };
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
  const model = await LlamaModel.load(config, checkpoint.weights, { threads, prefillChunkSize: chunk, executionProvider: 'cpu', attentionKernel: options.attentionKernel ?? 'auto', ...(options.quantization ? { quantization: options.quantization } : {}) });
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
  // Up and down projections in turn (gate/up and down are the largest, with equal FLOPs), so the chain can go on.
  const computeWidths = Array.from({ length: ROOF_PROJECTIONS_PER_RUN + 1 }, (_, step) => (step % 2 === 0 ? hidden : largestOutput));
  const computeRoof = await RoofMatmul.create(chunk, computeWidths, ROOF_PROJECTIONS_PER_RUN * 2 * chunk * hidden * largestOutput, threads);
  const streamColumns = Math.round(weightBytesPerDecodedToken / 4 / hidden);
  const streamRoof = await RoofMatmul.create(1, [hidden, streamColumns], 4 * hidden * streamColumns, threads);

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
    // The model's measurement and its roof's window over the same work, in the round's order.
    const paired = async <T>(modelFirst: boolean, measureModel: () => Promise<T>, measureRoof: () => Promise<RoofWindow>): Promise<[T, RoofWindow]> => {
      if (modelFirst) {
        const measured = await measureModel();
        return [measured, await measureRoof()];
      }
      const roof = await measureRoof();
      return [await measureModel(), roof];
    };
    const firstPrefillMs = await timed(prefill);
    await decode();
    const rounds: InferenceBenchmarkRound[] = [];
    for (let round = 0; round < repeats; round++) {
      const modelFirst = round % 2 === 0;
      const [prefillMs, compute] = await paired(modelFirst, () => timed(prefill), () => computeRoof.window(2 * parameters * prefillTokens));
      const [decodeMs, stream] = await paired(modelFirst, decode, () => streamRoof.window(weightBytesPerDecodedToken * decodeTokens));
      const prefillTokPerS = prefillTokens / (prefillMs / 1000);
      const decodeTokPerS = decodeTokens / (decodeMs / 1000);
      const [matmulGflops, bandwidthGBps] = [compute.perSecond / 1e9, stream.perSecond / 1e9];
      rounds.push({
        prefillTokPerS,
        decodeTokPerS,
        matmulGflops,
        bandwidthGBps,
        matmulPeakGflops: compute.peakPerSecond / 1e9,
        bandwidthPeakGBps: stream.peakPerSecond / 1e9,
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
      attentionKernel: model.attentionKernel,
      prefillChunkSize: chunk,
      nonEmbeddingParameters: parameters,
      weightBytesPerDecodedToken,
      matmulGflops: round(matmulGflops),
      bandwidthGBps: round(bandwidthGBps),
      matmulPeakGflops: round(Math.max(...rounds.map((entry) => entry.matmulPeakGflops))),
      bandwidthPeakGBps: round(Math.max(...rounds.map((entry) => entry.bandwidthPeakGBps))),
      prefillTokPerS: round(medianOf('prefillTokPerS')),
      firstPrefillTokPerS: round(prefillTokens / (firstPrefillMs / 1000)),
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
        matmulPeakGflops: round(entry.matmulPeakGflops),
        bandwidthPeakGBps: round(entry.bandwidthPeakGBps),
        prefillShareOfRoof: round(entry.prefillShareOfRoof, 3),
        decodeShareOfRoof: round(entry.decodeShareOfRoof, 3),
      })),
    };
  } finally {
    await Promise.all([model.dispose(), computeRoof.dispose(), streamRoof.dispose()]);
  }
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
