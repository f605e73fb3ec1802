/**
 * A plain TypeScript forward pass of a Hugging Face Llama / Mistral / Qwen2 decoder, written to be read top to
 * bottom (llama2.c style) and trusted: the ONNX Runtime engine is checked against it on tiny checkpoints.
 *
 * Everything is float32 like the Hugging Face model run in float32: activations live in Float32Arrays (so every
 * stored intermediate is rounded to float32), dot products accumulate in float64 JS numbers. It shares no code
 * with the engine on purpose (own RoPE tables, own softmax), and it is slow on purpose: no caches, no batching.
 *
 * Shapes in comments: T = tokens, D = hidden size, H = query heads, KV = key/value heads, Dh = head dim,
 * I = MLP intermediate size, V = vocabulary.
 */
import { InvalidOptionError, ModelLoadError } from '../../src/errors.js';
import type { LlamaConfig, WeightStore } from '../checkpoint/types.js';

export interface ReferenceForwardOptions {
  /** Position of each token (default 0..T-1); one per token. */
  positions?: readonly number[];
  /** RoPE frequencies and cos/sin scale to use instead of the config's (scaled types the reference does not derive). */
  rope?: { inverseFrequencies: Float32Array; attentionFactor: number };
}

export interface ReferenceForwardResult {
  /** [T, V] next-token logits, row t after seeing tokens 0..t. */
  logits: Float32Array;
  /** [T, D] final hidden states after the final RMSNorm (what lm_head sees). */
  hidden: Float32Array;
}

/**
 * Run the whole decoder on `tokenIds` (causal attention, no cache) and return the logits and final-normed hidden
 * states of every position.
 * @throws InvalidOptionError for token ids outside the vocabulary or positions of the wrong length.
 * @throws ModelLoadError MODEL_WEIGHTS_MISMATCH when a tensor is missing or its shape disagrees with the config.
 */
export function referenceForward(
  config: LlamaConfig,
  weights: WeightStore,
  tokenIds: readonly number[],
  options: ReferenceForwardOptions = {},
): ReferenceForwardResult {
  const { hiddenSize: D, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: Dh, vocabSize: V } = config;
  const T = tokenIds.length;
  checkInputs(config, tokenIds, options.positions);
  const positions = options.positions ?? tokenIds.map((_, index) => index);
  const load = (name: string, shape: readonly number[]): Float32Array => loadTensor(weights, name, shape);

  // RoPE tables for these positions: cos, sin [T, Dh/2]
  const rope = ropeTables(config, positions, options.rope);

  // token embeddings: x [T, D], the residual stream
  const embedding = load('model.embed_tokens.weight', [V, D]);
  const x = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    const id = tokenIds[t]!;
    x.set(embedding.subarray(id * D, (id + 1) * D), t * D);
  }

  for (let layer = 0; layer < config.numLayers; layer++) {
    const prefix = `model.layers.${layer}.`;

    // ---- self-attention block ----
    // normed [T, D]
    const normed = rmsNorm(x, T, D, load(`${prefix}input_layernorm.weight`, [D]), config.rmsNormEps);
    // q [T, H*Dh], k and v [T, KV*Dh]
    const bias = (name: string, size: number): Float32Array | null => (config.qkvBias ? load(`${prefix}self_attn.${name}.bias`, [size]) : null);
    const q = linear(normed, T, D, load(`${prefix}self_attn.q_proj.weight`, [H * Dh, D]), H * Dh, bias('q_proj', H * Dh));
    const k = linear(normed, T, D, load(`${prefix}self_attn.k_proj.weight`, [KV * Dh, D]), KV * Dh, bias('k_proj', KV * Dh));
    const v = linear(normed, T, D, load(`${prefix}self_attn.v_proj.weight`, [KV * Dh, D]), KV * Dh, bias('v_proj', KV * Dh));
    // rotate queries and keys by their positions (values are not rotated)
    applyRope(q, T, H, Dh, rope);
    applyRope(k, T, KV, Dh, rope);
    // attended [T, H*Dh]
    const attended = causalAttention(q, k, v, T, H, KV, Dh);
    // output projection [T, D], then the residual
    const outputBias = config.outputBias ? load(`${prefix}self_attn.o_proj.bias`, [D]) : null;
    const attentionOutput = linear(attended, T, H * Dh, load(`${prefix}self_attn.o_proj.weight`, [D, H * Dh]), D, outputBias);
    addInPlace(x, attentionOutput);

    // ---- SwiGLU MLP block: down(silu(gate(x)) * up(x)) ----
    const normed2 = rmsNorm(x, T, D, load(`${prefix}post_attention_layernorm.weight`, [D]), config.rmsNormEps);
    // gate and up [T, I]
    const gate = linear(normed2, T, D, load(`${prefix}mlp.gate_proj.weight`, [I, D]), I, null);
    const up = linear(normed2, T, D, load(`${prefix}mlp.up_proj.weight`, [I, D]), I, null);
    for (let index = 0; index < T * I; index++) {
      const g = gate[index]!;
      gate[index] = Math.fround(g / (1 + Math.exp(-g))) * up[index]!; // silu(g) rounded to float32, times up
    }
    // down [T, D], then the residual
    const down = linear(gate, T, I, load(`${prefix}mlp.down_proj.weight`, [D, I]), D, null);
    addInPlace(x, down);
  }

  // final norm: hidden [T, D]
  const hidden = rmsNorm(x, T, D, load('model.norm.weight', [D]), config.rmsNormEps);
  // logits [T, V] = hidden · lm_headᵀ (lm_head is the embedding matrix when tied)
  const lmHead = config.tieWordEmbeddings ? embedding : load('lm_head.weight', [V, D]);
  const logits = linear(hidden, T, D, lmHead, V, null);
  return { logits, hidden };
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks

/** out [T, D] = x / sqrt(mean(x²) + eps) * weight, row by row; the mean of squares in float64. */
function rmsNorm(x: Float32Array, T: number, D: number, weight: Float32Array, eps: number): Float32Array {
  const out = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    let sumOfSquares = 0;
    for (let i = 0; i < D; i++) sumOfSquares += x[t * D + i]! * x[t * D + i]!;
    const variance = Math.fround(sumOfSquares / D);
    const inverseRms = Math.fround(1 / Math.sqrt(Math.fround(variance + eps)));
    for (let i = 0; i < D; i++) out[t * D + i] = weight[i]! * Math.fround(x[t * D + i]! * inverseRms);
  }
  return out;
}

/** y [T, out] = x [T, in] · Wᵀ (+ bias), W stored [out, in] as nn.Linear does; float64 accumulation. */
function linear(x: Float32Array, T: number, inSize: number, weight: Float32Array, outSize: number, bias: Float32Array | null): Float32Array {
  const y = new Float32Array(T * outSize);
  for (let t = 0; t < T; t++) {
    const row = t * inSize;
    for (let o = 0; o < outSize; o++) {
      const weightRow = o * inSize;
      let sum = 0;
      for (let i = 0; i < inSize; i++) sum += x[row + i]! * weight[weightRow + i]!;
      // Hugging Face adds the bias to the float32 matmul result
      y[t * outSize + o] = bias === null ? sum : Math.fround(sum) + bias[o]!;
    }
  }
  return y;
}

function addInPlace(target: Float32Array, addend: Float32Array): void {
  for (let index = 0; index < target.length; index++) target[index] = target[index]! + addend[index]!;
}

interface RopeTables {
  /** [T, Dh/2] */
  cos: Float32Array;
  /** [T, Dh/2] */
  sin: Float32Array;
  half: number;
}

/**
 * cos/sin of angle[t, i] = position[t] × inv_freq[i], inv_freq[i] = 1 / theta^(2i/Dh), in float32 as Hugging Face
 * computes them. rope_scaling `linear` and `llama3` adjust inv_freq the way transformers' rope init functions do;
 * any other scaling is refused rather than silently ignored.
 */
function ropeTables(config: LlamaConfig, positions: readonly number[], given?: ReferenceForwardOptions['rope']): RopeTables {
  const Dh = config.headDim;
  const half = Dh / 2;
  const inverseFrequency = new Float32Array(half);
  for (let i = 0; i < half; i++) inverseFrequency[i] = 1 / Math.fround(Math.pow(config.ropeTheta, Math.fround((2 * i) / Dh)));
  if (given) inverseFrequency.set(given.inverseFrequencies);
  else scaleInverseFrequencies(config, inverseFrequency);
  const scale = given?.attentionFactor ?? 1;

  const T = positions.length;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(positions[t]! * inverseFrequency[i]!);
      cos[t * half + i] = Math.cos(angle) * scale;
      sin[t * half + i] = Math.sin(angle) * scale;
    }
  }
  return { cos, sin, half };
}

function scaleInverseFrequencies(config: LlamaConfig, inverseFrequency: Float32Array): void {
  const scaling = config.ropeScaling;
  const ropeType = scaling === null ? 'default' : String(scaling['rope_type'] ?? scaling['type'] ?? 'default');
  if (ropeType === 'default') return;
  const number = (key: string): number => {
    const value = scaling?.[key];
    if (typeof value !== 'number') throw new InvalidOptionError(`ropeScaling.${key}`, value, `a number for rope_type ${ropeType}`);
    return value;
  };
  if (ropeType === 'linear') {
    const factor = number('factor');
    for (let i = 0; i < inverseFrequency.length; i++) inverseFrequency[i] = inverseFrequency[i]! / factor;
    return;
  }
  if (ropeType === 'llama3') {
    // transformers' _compute_llama3_parameters: long wavelengths divided by factor, short kept, a smooth blend between
    const factor = number('factor');
    const lowFrequencyFactor = number('low_freq_factor');
    const highFrequencyFactor = number('high_freq_factor');
    const originalContext = number('original_max_position_embeddings');
    const lowFrequencyWavelength = originalContext / lowFrequencyFactor;
    const highFrequencyWavelength = originalContext / highFrequencyFactor;
    for (let i = 0; i < inverseFrequency.length; i++) {
      const frequency = inverseFrequency[i]!;
      const wavelength = (2 * Math.PI) / frequency;
      if (wavelength > lowFrequencyWavelength) inverseFrequency[i] = frequency / factor;
      else if (wavelength >= highFrequencyWavelength) {
        const smooth = (originalContext / wavelength - lowFrequencyFactor) / (highFrequencyFactor - lowFrequencyFactor);
        inverseFrequency[i] = ((1 - smooth) * frequency) / factor + smooth * frequency;
      }
    }
    return;
  }
  throw new InvalidOptionError('ropeScaling.rope_type', ropeType, 'default, linear or llama3 (the reference forward pass knows no other)');
}

/**
 * Rotate every head of x [T, heads*Dh] in place, Hugging Face's non-interleaved `rotate_half` form:
 * out = x * cos + rotate_half(x) * sin, rotate_half([x1, x2]) = [-x2, x1] with x1, x2 the two halves of the head.
 */
function applyRope(x: Float32Array, T: number, heads: number, Dh: number, rope: RopeTables): void {
  const { half } = rope;
  for (let t = 0; t < T; t++) {
    for (let head = 0; head < heads; head++) {
      const base = (t * heads + head) * Dh;
      for (let i = 0; i < half; i++) {
        const cos = rope.cos[t * half + i]!;
        const sin = rope.sin[t * half + i]!;
        const first = x[base + i]!;
        const second = x[base + half + i]!;
        x[base + i] = Math.fround(first * cos) - Math.fround(second * sin);
        x[base + half + i] = Math.fround(second * cos) + Math.fround(first * sin);
      }
    }
  }
}

/**
 * Causal scaled dot-product attention with grouped-query heads: query head h reads key/value head
 * floor(h / (H / KV)). q [T, H*Dh], k and v [T, KV*Dh] → out [T, H*Dh].
 */
function causalAttention(q: Float32Array, k: Float32Array, v: Float32Array, T: number, H: number, KV: number, Dh: number): Float32Array {
  const out = new Float32Array(T * H * Dh);
  const groupSize = H / KV;
  const scale = 1 / Math.sqrt(Dh);
  const scores = new Float64Array(T); // scores of one query against keys 0..t
  for (let head = 0; head < H; head++) {
    const kvHead = Math.floor(head / groupSize);
    for (let t = 0; t < T; t++) {
      const queryBase = (t * H + head) * Dh;
      // scores[s] = q_t · k_s / sqrt(Dh) for s ≤ t (later keys are masked out: never looked at)
      let maxScore = -Infinity;
      for (let s = 0; s <= t; s++) {
        const keyBase = (s * KV + kvHead) * Dh;
        let dot = 0;
        for (let i = 0; i < Dh; i++) dot += q[queryBase + i]! * k[keyBase + i]!;
        scores[s] = dot * scale;
        if (scores[s]! > maxScore) maxScore = scores[s]!;
      }
      // softmax over s ≤ t, shifted by the max for stability
      let total = 0;
      for (let s = 0; s <= t; s++) {
        scores[s] = Math.exp(scores[s]! - maxScore);
        total += scores[s]!;
      }
      // out_t = Σ_s softmax_s · v_s
      for (let i = 0; i < Dh; i++) {
        let sum = 0;
        for (let s = 0; s <= t; s++) sum += (scores[s]! / total) * v[(s * KV + kvHead) * Dh + i]!;
        out[queryBase + i] = sum;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Checks

function checkInputs(config: LlamaConfig, tokenIds: readonly number[], positions: readonly number[] | undefined): void {
  if (tokenIds.length === 0) throw new InvalidOptionError('tokenIds', [], 'at least one token id');
  for (const id of tokenIds) {
    if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
      throw new InvalidOptionError('tokenIds', id, `integer token ids in [0, ${config.vocabSize})`);
    }
  }
  if (positions !== undefined && (positions.length !== tokenIds.length || positions.some((position) => !Number.isFinite(position)))) {
    throw new InvalidOptionError('positions', positions, `${tokenIds.length} finite positions, one per token`);
  }
  if (config.numKvHeads < 1 || config.numHeads % config.numKvHeads !== 0) {
    throw new InvalidOptionError('numKvHeads', config.numKvHeads, `a divisor of numHeads (${config.numHeads})`);
  }
  if (config.headDim % 2 !== 0) throw new InvalidOptionError('headDim', config.headDim, 'an even number (RoPE rotates pairs)');
  if (config.partialRotaryFactor !== 1) {
    throw new InvalidOptionError('partialRotaryFactor', config.partialRotaryFactor, '1 (Llama-family models rotate whole heads)');
  }
}

function loadTensor(weights: WeightStore, name: string, expectedShape: readonly number[]): Float32Array {
  const fix = 'check that the checkpoint matches its config.json';
  if (!weights.has(name)) throw new ModelLoadError('MODEL_WEIGHTS_MISMATCH', 'weights', name, 'tensor is missing', fix);
  const shape = weights.shape(name);
  if (shape.length !== expectedShape.length || shape.some((size, axis) => size !== expectedShape[axis])) {
    throw new ModelLoadError(
      'MODEL_WEIGHTS_MISMATCH',
      'weights',
      name,
      `shape [${shape.join(', ')}] but the config implies [${expectedShape.join(', ')}]`,
      fix,
    );
  }
  return weights.float32(name);
}
