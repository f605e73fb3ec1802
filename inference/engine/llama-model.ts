import { AbortedError, EngineError } from '../../src/errors.js';
import type { LlamaConfig, WeightStore } from '../checkpoint/types.js';
import { encodeModel, type GraphSpec } from '../graph/onnx-graph.js';
import { quantizeGraph, type WeightQuantization } from '../graph/quantize-graph.js';
import { CAUSAL_BLOCKING_MIN_QUERIES, makeAttentionBlockGraph, type AttentionPlacement, makeFinalNormGraph, makeLmHeadGraph, makePreAttentionGraph, makeTokenDistributionGraph, type ModelDimensions } from '../graph/llama-graphs.js';
import { rotateRows, RotaryTable } from '../rope.js';
import { RopeSchedule, trainedContextLength, type RopeParameters } from '../rope-scaling.js';
import { GraphSession, availableExecutionProvider, type FloatTensor, type SessionOptions } from '../session.js';
import { FullAttentionPolicy, type AttentionPolicy, type AttentionSelection, type AttentionStep } from './attention-policy.js';
import { resolveAttentionSettings, type AttentionSettings } from './attention/attention-settings.js';
import { createAttentionPolicy } from './attention/create-policy.js';
import { KvMemory } from './kv-memory.js';
import { NativeAttention } from './native-attention.js';
import { embeddingMatrix, lmHeadWeight, prepareLayerWeights } from './prepare-weights.js';

export interface LlamaModelOptions extends SessionOptions {
  /** Prompt tokens per forward step during prefill (default 512): memory stays flat in prompt length. */
  prefillChunkSize?: number;
  /** Which keys each query sees, as a ready policy (default: from `attention`, else full causal attention). */
  attentionPolicy?: AttentionPolicy;
  /** Attention mode and overrides of its defaults (which derive from the checkpoint's trained length). */
  attention?: AttentionRequest;
  /** Fixed RoPE parameters (default: from config, including rope_scaling and its length-dependent types). */
  rope?: RopeParameters;
  /** Quantize projection weights at load time (default: none, fp32). */
  quantization?: WeightQuantization;
  /**
   * Who computes attention: `native` (the fused kernel, engine/native-attention.ts), `onnx` (ONNX Runtime's Attention
   * inside each layer's graph), or `auto` (default): native on the CPU provider when the addon is built, the CPU
   * has AVX-512F and the head size is one it is compiled for, else onnx.
   */
  attentionKernel?: AttentionKernelName | 'auto';
}

export type AttentionKernelName = 'native' | 'onnx';

export interface AttentionRequest {
  mode: string;
  options?: Record<string, string | number>;
}

/** What a forward pass should hand back besides updating the KV memory. */
export interface ForwardOutputs {
  /** Sequence positions (absolute) whose next-token logits are wanted, ascending. */
  logitPositions?: readonly number[];
  /** Collect the final-normed hidden state of every position (embeddings). */
  normedHidden?: boolean;
  /** Checked between chunks and layers; a stop undoes the partial step and throws AbortedError. */
  shouldStop?: () => boolean;
}

export interface ForwardResult {
  logits: Float32Array; // [logitPositions.length, vocab]
  normedHidden: Float32Array | null; // [tokens, hidden]
}

/**
 * A Llama-family model on ONNX Runtime: per layer a pre-attention graph and an attention-block graph, with the KV
 * memory, positions and key selection in TypeScript between them (see docs/DESIGN.md, "Local engine").
 */
export class LlamaModel {
  readonly memory: KvMemory;
  rotary: RotaryTable;
  readonly ropeSchedule: RopeSchedule;
  readonly attentionPolicy: AttentionPolicy;
  /** The resolved settings when the policy came from `attention` (null for a caller's own policy or full). */
  readonly attentionSettings: AttentionSettings | null;
  readonly prefillChunkSize: number;
  readonly executionProvider: string;
  /** Who computes attention (see LlamaModelOptions.attentionKernel). */
  readonly attentionKernel: AttentionKernelName;
  private readonly threads: number;
  private attentionScratch = new Float32Array(0);
  private hiddenScratch = new Float32Array(0);
  private queryScratch = new Float32Array(0);
  /** The last mask found to keep the selection contract (policies share one mask across a step's layers). */
  private checkedMask: { mask: Float32Array | null; queryStart: number; keyCount: number; causalOnly: boolean } = { mask: null, queryStart: -1, keyCount: -1, causalOnly: false };

  private constructor(
    readonly config: LlamaConfig,
    readonly dimensions: ModelDimensions,
    private readonly embedding: Float32Array, // [vocab, hidden]
    /** Layer 0's pre-attention; every later layer's runs fused at the end of the previous attention block. */
    private readonly firstPreAttention: GraphSession,
    private readonly attentionBlocks: GraphSession[],
    private readonly finalNorm: GraphSession,
    private readonly lmHead: GraphSession,
    private readonly distributions: GraphSession,
    private readonly nativeAttention: NativeAttention | null,
    options: LlamaModelOptions,
  ) {
    this.attentionKernel = nativeAttention ? 'native' : 'onnx';
    this.threads = options.threads ?? 2;
    this.memory = new KvMemory(config.numLayers, config.numKvHeads * config.headDim);
    this.ropeSchedule = new RopeSchedule(config, options.rope);
    this.rotary = new RotaryTable(this.ropeSchedule.forLength(0));
    this.attentionSettings = options.attention ? resolveAttentionSettings(options.attention.mode, trainedContextLength(config), options.attention.options) : null;
    const dims = { numLayers: config.numLayers, numHeads: config.numHeads, numKvHeads: config.numKvHeads, headDim: config.headDim };
    this.attentionPolicy = options.attentionPolicy ?? (this.attentionSettings ? createAttentionPolicy(this.attentionSettings, dims) : new FullAttentionPolicy());
    this.memory.onTruncate((length) => this.attentionPolicy.truncate?.(length));
    this.memory.setTruncationGuard((length) => this.attentionPolicy.truncationLength?.(length) ?? length);
    this.prefillChunkSize = options.prefillChunkSize ?? 512;
    this.executionProvider = availableExecutionProvider(options.executionProvider);
  }

  /** Build every graph from the weights (layer by layer, so peak memory stays near one layer above the model). */
  static async load(config: LlamaConfig, weights: WeightStore, options: LlamaModelOptions = {}): Promise<LlamaModel> {
    const dimensions: ModelDimensions = {
      hiddenSize: config.hiddenSize,
      intermediateSize: config.intermediateSize,
      numHeads: config.numHeads,
      numKvHeads: config.numKvHeads,
      headDim: config.headDim,
      rotaryDim: Math.floor(config.headDim * config.partialRotaryFactor),
      vocabSize: config.vocabSize,
      rmsNormEps: config.rmsNormEps,
    };
    const build = (spec: GraphSpec) => encodeModel(options.quantization ? quantizeGraph(spec, options.quantization) : spec);
    const nativeAttention = chooseAttentionKernel(options.attentionKernel ?? 'auto', availableExecutionProvider(options.executionProvider), config.headDim);
    const placement: AttentionPlacement = nativeAttention ? 'input' : 'graph';
    const attentionBlocks: GraphSession[] = [];
    let layerWeights = prepareLayerWeights(config, weights, 0);
    const firstPreAttention = await GraphSession.create('layer 0 pre-attention', build(makePreAttentionGraph(0, dimensions, layerWeights)), options);
    for (let layer = 0; layer < config.numLayers; layer++) {
      const nextWeights = layer + 1 < config.numLayers ? prepareLayerWeights(config, weights, layer + 1) : undefined;
      attentionBlocks.push(await GraphSession.create(`layer ${layer} attention block`, build(makeAttentionBlockGraph(layer, dimensions, layerWeights, nextWeights, placement)), options));
      if (nextWeights) layerWeights = nextWeights;
    }
    const embedding = embeddingMatrix(weights);
    const finalNorm = await GraphSession.create('final norm', encodeModel(makeFinalNormGraph(dimensions, weights.float32('model.norm.weight'))), options);
    const lmHead = await GraphSession.create('lm head', build(makeLmHeadGraph(dimensions, lmHeadWeight(config, weights, embedding))), options);
    const distributions = await GraphSession.create('token distributions', encodeModel(makeTokenDistributionGraph(dimensions)), options);
    return new LlamaModel(config, dimensions, embedding, firstPreAttention, attentionBlocks, finalNorm, lmHead, distributions, nativeAttention, options);
  }

  /**
   * Append `tokenIds` to the sequence in the KV memory (in chunks of prefillChunkSize) and return the logits at
   * the requested positions. On abort or error the memory is rolled back to where it was.
   */
  async forward(tokenIds: readonly number[], outputs: ForwardOutputs = {}): Promise<ForwardResult> {
    const { hiddenSize, vocabSize } = this.dimensions;
    const start = this.memory.length;
    const wanted = outputs.logitPositions ?? [];
    const logits = new Float32Array(wanted.length * vocabSize);
    const normedHidden = outputs.normedHidden ? new Float32Array(tokenIds.length * hiddenSize) : null;
    let logitRowsDone = 0;
    try {
      this.useRopeFor(start + tokenIds.length);
      for (let chunkStart = 0, chunkEnd = 0; chunkStart < tokenIds.length; chunkStart = chunkEnd) {
        chunkEnd = this.nextChunkStart(start, chunkStart, tokenIds.length);
        const chunk = tokenIds.slice(chunkStart, chunkEnd);
        const chunkPosition = start + chunkStart;
        const hidden = await this.runLayers(chunk, outputs.shouldStop); // [T, H]
        // Rows of this chunk whose logits were asked for.
        const rows: number[] = [];
        while (logitRowsDone + rows.length < wanted.length && wanted[logitRowsDone + rows.length]! < chunkPosition + chunk.length) {
          rows.push(wanted[logitRowsDone + rows.length]! - chunkPosition);
        }
        if (rows.length > 0 || normedHidden) {
          const normed = await this.normRows(hidden, normedHidden ? null : rows, chunk.length);
          if (normedHidden) normedHidden.set(normed, chunkStart * hiddenSize);
          if (rows.length > 0) {
            const selected = normedHidden ? gatherRows(normed, rows, hiddenSize) : normed;
            const { logits: chunkLogits } = await this.lmHead.run({ normed: { data: selected, dims: [1, rows.length, hiddenSize] } }, ['logits']).then((result) => ({ logits: result['logits']!.data }));
            logits.set(chunkLogits, logitRowsDone * vocabSize);
            logitRowsDone += rows.length;
          }
        }
      }
    } catch (error) {
      this.memory.truncate(start);
      throw error;
    }
    return { logits, normedHidden };
  }

  /**
   * Where the step after the one starting at `chunkStart` (relative to this forward's first token at `start`)
   * begins: prefillChunkSize tokens on, or — for a policy that decides per cell — at the next cell boundary.
   */
  private nextChunkStart(start: number, chunkStart: number, length: number): number {
    const cell = this.attentionPolicy.stepSize;
    if (cell === undefined) return Math.min(length, chunkStart + this.prefillChunkSize);
    const position = start + chunkStart;
    return Math.min(length, (Math.floor(position / cell) + 1) * cell - start);
  }

  /**
   * RoPE for a sequence about to reach `length` tokens (as HF computes it for a forward of that length). When the
   * frequencies change (dynamic NTK past the trained length, LongRoPE crossing its original length), every cached
   * key is re-rotated from its un-rotated source, so the cache never mixes two rotations.
   */
  private useRopeFor(length: number): void {
    const parameters = this.ropeSchedule.forLength(length);
    if (parameters === this.rotary.rope) return;
    this.rotary = new RotaryTable(parameters);
    const { numKvHeads, headDim } = this.dimensions;
    if (this.memory.length === 0) return;
    for (const layer of this.memory.layers) {
      layer.rerotate((keys, rotatedKeys, firstToken, count) => {
        const { cos, sin } = this.rotary.rows(firstToken, count);
        rotateRows(keys, rotatedKeys, count, numKvHeads, headDim, cos, sin);
      });
    }
    this.attentionPolicy.positionsChanged?.();
  }

  /**
   * One forward step through every layer for `chunk` (T tokens at positions start..start+T-1):
   *   hidden [T,H] = embedding rows
   *   qkv [T, Qd+2KVd] = preAttention₀(hidden)
   *   for each layer: memory ← k, v (and k rotated at its position); K*, V*, mask = policy(memory)
   *                   hidden, next qkv = attentionBlock(hidden, q, K*, V*, mask)
   */
  private async runLayers(chunk: readonly number[], shouldStop: (() => boolean) | undefined): Promise<Float32Array> {
    const { hiddenSize, headDim, numHeads, numKvHeads } = this.dimensions;
    const queryCount = chunk.length;
    const step = { queryStart: this.memory.length, queryCount };
    const queryWidth = numHeads * headDim;
    const keyWidth = numKvHeads * headDim;
    const stride = queryWidth + 2 * keyWidth;
    let hidden = this.embed(chunk); // [T, H]
    const { cos: queryCos, sin: querySin } = this.rotary.rows(step.queryStart, queryCount); // [T, rotary/2]
    const half = this.rotary.half;
    const rotateKeys = (source: Float32Array, target: Float32Array) => rotateRows(source, target, queryCount, numKvHeads, headDim, queryCos, querySin);
    let qkv = (await this.firstPreAttention.run({ hidden: { data: hidden, dims: [1, queryCount, hiddenSize] } }, ['qkv']))['qkv']!.data; // [T, Qd+2KVd]
    for (let layer = 0; layer < this.config.numLayers; layer++) {
      if (shouldStop?.()) throw new AbortedError();
      const layerMemory = this.memory.layers[layer]!;
      layerMemory.appendFused(qkv, queryCount, stride, queryWidth, rotateKeys);
      const queries = this.queries(qkv, queryCount, stride, queryWidth); // [T, Qd], un-rotated
      const chosen = this.attentionPolicy.select(layer, layerMemory, step, this.rotary, queries);
      const { causalOnly } = this.checkSelection(chosen, step);
      const isLast = layer === this.config.numLayers - 1;
      const hiddenInput = { data: hidden, dims: [1, queryCount, hiddenSize] };
      let attentionInputs: Record<string, FloatTensor>;
      if (this.nativeAttention) {
        const attention = this.attentionOutput(queryCount * queryWidth);
        const shape = { queryCount, keyCount: chosen.keyCount, numHeads, numKvHeads, headDim, rotaryDim: 2 * half, threads: this.threads };
        this.nativeAttention.attend(queries, queryCos, querySin, chosen.keys, chosen.values, causalOnly ? null : chosen.mask, attention, shape);
        attentionInputs = { attention: { data: attention, dims: [1, queryCount, queryWidth] } };
      } else {
        attentionInputs = {
          q: { data: queries, dims: [1, queryCount, queryWidth] },
          k: { data: chosen.keys, dims: [1, chosen.keyCount, keyWidth] },
          v: { data: chosen.values, dims: [1, chosen.keyCount, keyWidth] },
          cos_q: { data: queryCos, dims: [1, queryCount, half] },
          sin_q: { data: querySin, dims: [1, queryCount, half] },
          mask: { data: chosen.mask, dims: [queryCount, chosen.keyCount] },
        };
      }
      const result = await this.attentionBlocks[layer]!.run({ hidden: hiddenInput, ...attentionInputs }, isLast ? ['hidden_out'] : ['hidden_out', 'next_qkv']);
      hidden = result['hidden_out']!.data; // [T, H]
      if (!isLast) qkv = result['next_qkv']!.data;
    }
    this.memory.commit(chunk);
    return hidden;
  }

  /**
   * Both attention paths skip keys after a query's own (the graph per query block, causalAttention; the native kernel
   * per query), which is exact only when the mask hides them: refuse a policy whose mask shows a query a key after its
   * own. Also tells whether the mask hides nothing else (`causalOnly`), so the native kernel need not read it.
   * Policies share one mask across a step's layers: checked once per mask and step.
   */
  private checkSelection(chosen: AttentionSelection, step: AttentionStep): { causalOnly: boolean } {
    const { queryCount, queryStart } = step;
    if (!this.nativeAttention && queryCount <= CAUSAL_BLOCKING_MIN_QUERIES) return { causalOnly: false };
    const checked = this.checkedMask;
    if (checked.mask === chosen.mask && checked.queryStart === queryStart && checked.keyCount === chosen.keyCount) return checked;
    const keyCount = chosen.keyCount;
    const ownStart = keyCount - queryCount;
    let causalOnly = true;
    for (let query = 0; query < queryCount; query++) {
      const row = query * keyCount;
      for (let key = 0; causalOnly && key <= ownStart + query; key++) causalOnly = chosen.mask[row + key] === 0;
      for (let key = ownStart + query + 1; key < keyCount; key++) {
        if (chosen.mask[row + key] !== -Infinity) {
          throw new EngineError(
            `attention policy ${this.attentionPolicy.name} lets query ${queryStart + query} see key row ${key} of ${keyCount}, after its own (row ${ownStart + query})`,
            "a policy's selection must end with the step's own keys in order and hide every key after a query's own (see AttentionSelection); fix the policy's key layout or mask",
          );
        }
      }
    }
    this.checkedMask = { mask: chosen.mask, queryStart, keyCount, causalOnly };
    return this.checkedMask;
  }

  /** The native kernel's output [T, Qd] (a reused scratch buffer: ORT reads it during the layer's run only). */
  private attentionOutput(length: number): Float32Array {
    if (this.attentionScratch.length < length) this.attentionScratch = new Float32Array(length);
    return this.attentionScratch.subarray(0, length);
  }

  /** q [T, Qd] out of qkv [T, Qd+2KVd]: a view for one token, a gather into scratch for more. */
  private queries(qkv: Float32Array, rows: number, stride: number, queryWidth: number): Float32Array {
    if (rows === 1) return qkv.subarray(0, queryWidth);
    if (this.queryScratch.length < rows * queryWidth) this.queryScratch = new Float32Array(rows * queryWidth);
    for (let row = 0; row < rows; row++) this.queryScratch.set(qkv.subarray(row * stride, row * stride + queryWidth), row * queryWidth);
    return this.queryScratch.subarray(0, rows * queryWidth);
  }

  /** hidden [T,H] ← embedding rows of the chunk's tokens (a reused scratch buffer). */
  private embed(chunk: readonly number[]): Float32Array {
    const { hiddenSize, vocabSize } = this.dimensions;
    if (this.hiddenScratch.length < chunk.length * hiddenSize) this.hiddenScratch = new Float32Array(chunk.length * hiddenSize);
    const hidden = this.hiddenScratch.subarray(0, chunk.length * hiddenSize);
    chunk.forEach((tokenId, row) => {
      if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= vocabSize) throw new RangeError(`token id ${tokenId} is outside the vocabulary (0..${vocabSize - 1})`);
      hidden.set(this.embedding.subarray(tokenId * hiddenSize, (tokenId + 1) * hiddenSize), row * hiddenSize);
    });
    return hidden;
  }

  /** Final norm of the given rows (all rows when `rows` is null). */
  private async normRows(hidden: Float32Array, rows: readonly number[] | null, rowCount: number): Promise<Float32Array> {
    const { hiddenSize } = this.dimensions;
    const input = rows === null ? hidden : gatherRows(hidden, rows, hiddenSize);
    const count = rows === null ? rowCount : rows.length;
    const result = await this.finalNorm.run({ hidden: { data: input, dims: [1, count, hiddenSize] } }, ['normed']);
    return result['normed']!.data;
  }

  /** log-softmax [rows, vocab] and entropy (nats) [rows] of logits rows [rows, vocab]. */
  async tokenDistributions(logits: Float32Array, rows: number): Promise<{ logProbs: Float32Array; entropies: Float32Array }> {
    const result = await this.distributions.run({ logits: { data: logits, dims: [1, rows, this.dimensions.vocabSize] } }, ['log_probs', 'entropy']);
    return { logProbs: result['log_probs']!.data, entropies: result['entropy']!.data };
  }

  /** The embedding row of a token (read-only view). */
  embeddingRow(tokenId: number): Float32Array {
    const { hiddenSize } = this.dimensions;
    return this.embedding.subarray(tokenId * hiddenSize, (tokenId + 1) * hiddenSize);
  }

  async dispose(): Promise<void> {
    this.memory.close();
    this.attentionPolicy.close?.();
    await Promise.all([this.firstPreAttention, ...this.attentionBlocks, this.finalNorm, this.lmHead, this.distributions].map((session) => session.dispose()));
  }
}

/** The native kernel when asked for or when `auto` finds it usable here; null for ONNX Runtime's Attention. */
function chooseAttentionKernel(requested: AttentionKernelName | 'auto', executionProvider: string, headDim: number): NativeAttention | null {
  if (requested === 'onnx') return null;
  const unusable = executionProvider !== 'cpu'
    ? `the native attention kernel runs on the CPU, and this engine uses ${executionProvider}`
    : !NativeAttention.handlesHeadDim(headDim)
      ? `the native attention kernel is compiled for head sizes 16, 32, 64 and 128, and this model's is ${headDim}`
      : null;
  const loaded = unusable ? { kernel: null, reason: unusable } : NativeAttention.load();
  if (loaded.kernel) return loaded.kernel;
  if (requested === 'native') throw new EngineError(loaded.reason, "use attentionKernel 'auto' or 'onnx' (ONNX Runtime's Attention), or build the addon: npm run build:native");
  return null;
}

function gatherRows(matrix: Float32Array, rows: readonly number[], width: number): Float32Array {
  const gathered = new Float32Array(rows.length * width);
  rows.forEach((row, index) => gathered.set(matrix.subarray(row * width, (row + 1) * width), index * width));
  return gathered;
}
