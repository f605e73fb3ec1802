import { InvalidOptionError } from '../../src/errors.js';
import type { GraphInitializer, GraphNode } from './onnx-graph.js';

/**
 * Load-time block-wise weight quantization for ONNX Runtime's contrib op `com.microsoft.MatMulNBits`, a drop-in
 * for `MatMul(A, W)` with W a constant [K, N] float32 weight. Contract, checked against onnxruntime-node 1.30 CPU
 * by test/inference/matmul-nbits.test.ts:
 *
 *   Y[.., N] = A[.., K] · dequant(B)ᵀ,   dequant(B)[n, k] = (q[n, k] − zero_point[n, k / block_size]) · scale[n, k / block_size]
 *
 * - B: uint8 [N, n_blocks, blob_size], n_blocks = ceil(K / block_size), blob_size = block_size · bits / 8: the
 *   weight TRANSPOSED (one row per output column n), each row cut into blocks of block_size along K, the last block
 *   padded. Codes are packed low bits first: for 4 bits, k even → low nibble, k odd → high nibble.
 * - scales: float (A's type) [N, n_blocks].
 * - zero_points (optional, default 2^(bits−1)): uint8 [N, ceil(n_blocks · bits / 8)], packed like B per row (for 4
 *   bits, block b of row n sits in byte n·ceil(n_blocks/2) + b/2, low nibble for even b; rows do not share bytes).
 * - g_idx (deprecated, left empty) and bias float [N] (optional, input 5).
 * - attributes K, N, bits (4 and 8 both run on ORT 1.30 CPU), block_size (power of two ≥ 16), accuracy_level:
 *   0/1 compute in fp32 (matches a float MatMul of {@link QuantizedWeight.dequantized} to ~1e-6 relative); 4
 *   quantizes A to int8 per block on the fly (~4e-3 relative difference on random data, see the test).
 *
 * Speed (2 threads, best-of-N, SmolLM2-135M shapes, .scratch/nbits-bench.ts): only 4-bit with accuracy_level 4 pays
 * at decode on AVX2 (1.6× hot-cache, ~2× with weights streamed from DRAM as in a real model); accuracy_level 0 is
 * 0.4–0.7× fp32 there (≥1.4× on AVX-512). 8 bits with accuracy_level 0 takes a slow fallback (~10–20× slower than
 * fp32): use 8 bits with accuracy_level 4 only. At prefill (M=512) nothing beats fp32 sgemm reliably.
 */

/** Options for {@link quantizeBlockwise}. */
export interface BlockwiseOptions {
  /** Bits per weight code: 4 (int4, ~7× smaller than fp32 with scales) or 8. */
  bits: 4 | 8;
  /** Weights per block along K sharing one scale (and zero point); a power of two ≥ 16, typically 32 or 128. */
  blockSize: number;
  /**
   * Symmetric: codes −(2^(bits−1)−1)..2^(bits−1)−1 around the implicit zero point 2^(bits−1), no zero_points input.
   * Default false: asymmetric min/max per block (range widened to include 0) with packed uint8 zero points.
   */
  symmetric?: boolean;
}

/** A [K, N] weight quantized for MatMulNBits (the tensors it takes, plus what describes them). */
export interface QuantizedWeight {
  K: number;
  N: number;
  bits: 4 | 8;
  blockSize: number;
  /** B: [N, nBlocks, blockSize · bits / 8]. */
  packed: Uint8Array;
  /** [N, nBlocks], row n = output column n. */
  scales: Float32Array;
  /** [N, ceil(nBlocks · bits / 8)] packed like B, or null when symmetric. */
  zeroPoints: Uint8Array | null;
  /** The weight ORT multiplies by, back in our [K, N] MatMul layout (float32, computed on each call). */
  dequantized(): Float32Array;
}

const isPowerOfTwo = (value: number) => Number.isInteger(value) && value > 0 && (value & (value - 1)) === 0;

/**
 * Quantize a MatMul weight (float32 [K, N] = [in, out], as our graphs hold it) block-wise along K for each output
 * column, rounding to nearest. Asymmetric by default: every element then dequantizes within scale/2 of its value.
 */
export function quantizeBlockwise(weight: Float32Array, K: number, N: number, options: BlockwiseOptions): QuantizedWeight {
  const { bits, blockSize, symmetric = false } = options;
  if (bits !== 4 && bits !== 8) throw new InvalidOptionError('bits', bits, '4 or 8');
  if (!isPowerOfTwo(blockSize) || blockSize < 16) throw new InvalidOptionError('blockSize', blockSize, 'a power of two of at least 16');
  if (!Number.isInteger(K) || !Number.isInteger(N) || K < 1 || N < 1 || weight.length !== K * N) {
    throw new InvalidOptionError('weight', `${weight.length} values for K=${K}, N=${N}`, 'a float32 [K, N] array of K·N values');
  }
  const nBlocks = Math.ceil(K / blockSize);
  const blobSize = (blockSize * bits) / 8;
  const zpRowBytes = Math.ceil((nBlocks * bits) / 8);
  const maxCode = (1 << bits) - 1;
  const packed = new Uint8Array(N * nBlocks * blobSize);
  const scales = new Float32Array(N * nBlocks);
  const zeroPoints = symmetric ? null : new Uint8Array(N * zpRowBytes);
  const codes = new Uint8Array(N * nBlocks * blockSize); // unpacked, [N, nBlocks · blockSize]; padding codes = zero point
  const zeroPointOf = new Uint8Array(N * nBlocks);

  for (let n = 0; n < N; n++) {
    for (let b = 0; b < nBlocks; b++) {
      const start = b * blockSize;
      const end = Math.min(K, start + blockSize);
      let min = 0;
      let max = 0;
      for (let k = start; k < end; k++) {
        const value = weight[k * N + n]!;
        if (value < min) min = value;
        if (value > max) max = value;
      }
      let scale: number;
      let zeroPoint: number;
      if (symmetric) {
        zeroPoint = 1 << (bits - 1);
        scale = Math.fround(Math.max(-min, max) / (zeroPoint - 1));
      } else {
        scale = Math.fround((max - min) / maxCode);
        zeroPoint = scale === 0 ? 0 : Math.min(maxCode, Math.max(0, Math.round(-min / scale)));
      }
      const block = n * nBlocks + b;
      scales[block] = scale;
      zeroPointOf[block] = zeroPoint;
      const inverse = scale === 0 ? 0 : 1 / scale;
      for (let k = start; k < start + blockSize; k++) {
        const value = k < end ? weight[k * N + n]! : 0;
        codes[block * blockSize + (k - start)] = Math.min(maxCode, Math.max(0, Math.round(value * inverse) + zeroPoint));
      }
      if (zeroPoints) {
        if (bits === 8) zeroPoints[n * zpRowBytes + b] = zeroPoint;
        else zeroPoints[n * zpRowBytes + (b >> 1)]! |= zeroPoint << ((b & 1) * 4);
      }
    }
  }
  if (bits === 8) packed.set(codes);
  else for (let i = 0; i < packed.length; i++) packed[i] = codes[2 * i]! | (codes[2 * i + 1]! << 4);

  return {
    K,
    N,
    bits,
    blockSize,
    packed,
    scales,
    zeroPoints,
    dequantized() {
      const out = new Float32Array(K * N);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) {
          const block = n * nBlocks + Math.floor(k / blockSize);
          out[k * N + n] = (codes[n * nBlocks * blockSize + k]! - zeroPointOf[block]!) * scales[block]!;
        }
      }
      return out;
    },
  };
}

/** Where a MatMulNBits node reads and writes, and how it computes. */
export interface MatMulNBitsNodeOptions {
  /** Node name (e.g. `/model/layers.0/mlp/down_proj/MatMulNBits`). */
  name: string;
  /** A: float [.., K]. */
  input: string;
  /** Y: float [.., N]. */
  output: string;
  /** Initializer names become `${prefix}.qweight`, `.scales`, `.qzeros`. */
  initializerPrefix: string;
  /** Name of an existing float [N] bias initializer to fuse (MatMulNBits' input 5), if any. */
  bias?: string;
  /** 0 (default): fp32 compute, exact against the dequantized weight; 4: A quantized to int8 per block (faster). */
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
}

/** A MatMulNBits node and its initializers replacing `MatMul(input, W)` (+ bias) with W quantized as `weight`. */
export function makeMatMulNBitsNode(options: MatMulNBitsNodeOptions, weight: QuantizedWeight): { node: GraphNode; initializers: GraphInitializer[] } {
  const { K, N, bits, blockSize } = weight;
  const nBlocks = Math.ceil(K / blockSize);
  const prefix = options.initializerPrefix;
  const initializers: GraphInitializer[] = [
    { name: `${prefix}.qweight`, dims: [N, nBlocks, (blockSize * bits) / 8], data: weight.packed },
    { name: `${prefix}.scales`, dims: [N, nBlocks], data: weight.scales },
  ];
  if (weight.zeroPoints) initializers.push({ name: `${prefix}.qzeros`, dims: [N, Math.ceil((nBlocks * bits) / 8)], data: weight.zeroPoints });
  const inputs = [options.input, `${prefix}.qweight`, `${prefix}.scales`, weight.zeroPoints ? `${prefix}.qzeros` : ''];
  if (options.bias) inputs.push('', options.bias);
  while (inputs.at(-1) === '') inputs.pop();
  const node: GraphNode = {
    opType: 'MatMulNBits',
    domain: 'com.microsoft',
    name: options.name,
    inputs,
    outputs: [options.output],
    attributes: { K, N, bits, block_size: blockSize, accuracy_level: options.accuracyLevel ?? 0 },
  };
  return { node, initializers };
}
