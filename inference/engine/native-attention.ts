import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { EngineError } from '../../src/errors.js';

/**
 * The fused causal attention kernel of inference/native (a Node-API addon built at install when a C++ compiler is
 * there). It computes what the attention graph's rotary + causal Attention nodes compute, without forming the
 * [heads, T, S] score matrix and without the scores after each query's own key (docs/DESIGN.md, "Native attention
 * kernel"). Absent or unsupported here: the engine keeps ONNX Runtime's Attention.
 */
export interface NativeAttentionShape {
  queryCount: number; // T
  keyCount: number; // S
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rotaryDim: number;
  threads: number;
}

interface AttentionAddon {
  supported(): boolean;
  attend(q: Float32Array, cos: Float32Array, sin: Float32Array, k: Float32Array, v: Float32Array, mask: Float32Array | null, out: Float32Array, shape: number[]): void;
}

/** Head sizes the kernel is compiled for. */
const KERNEL_HEAD_DIMS = new Set([16, 32, 64, 128]);

export class NativeAttention {
  private constructor(private readonly addon: AttentionAddon) {}

  /** The kernel, when the addon was built and this CPU runs it (AVX-512F); otherwise null, with the reason. */
  static load(): { kernel: NativeAttention } | { kernel: null; reason: string } {
    const path = addonPath();
    if (!path) return { kernel: null, reason: 'the native attention addon is not built (npm run build:native needs a C++ compiler)' };
    let addon: AttentionAddon;
    try {
      addon = createRequire(import.meta.url)(path) as AttentionAddon;
    } catch (error) {
      return { kernel: null, reason: `the native attention addon at ${path} does not load: ${(error as Error).message}` };
    }
    if (!addon.supported()) return { kernel: null, reason: 'this CPU lacks AVX-512F, which the native attention kernel needs' };
    return { kernel: new NativeAttention(addon) };
  }

  /** Whether the kernel is compiled for this head size. */
  static handlesHeadDim(headDim: number): boolean {
    return KERNEL_HEAD_DIMS.has(headDim);
  }

  /**
   * out [T, H·D] = causal attention of the queries (un-rotated [T, H·D]; rotated here by cos/sin [T, rotaryDim/2])
   * over keys (rotated) and values [S, KVH·D], plus the additive mask [T, S] when given. Query r never sees a key
   * after S − T + r (the AttentionSelection contract); `mask` null means nothing else is hidden.
   */
  attend(queries: Float32Array, cos: Float32Array, sin: Float32Array, keys: Float32Array, values: Float32Array, mask: Float32Array | null, out: Float32Array, shape: NativeAttentionShape): void {
    const { queryCount, keyCount, numHeads, numKvHeads, headDim, rotaryDim, threads } = shape;
    try {
      this.addon.attend(queries, cos, sin, keys, values, mask, out, [queryCount, keyCount, numHeads, numKvHeads, headDim, rotaryDim, threads]);
    } catch (cause) {
      throw new EngineError(`native attention refused a step of ${queryCount} queries over ${keyCount} keys: ${(cause as Error).message}`, "this is a bug in tome's engine; open the model with attentionKernel 'onnx' to go on, and report it with the model's config.json", cause);
    }
  }
}

/** The built addon: next to the sources (inference/engine → inference/native) or from dist/inference/engine. */
function addonPath(): string | null {
  const relative = 'native/build/Release/tome_attention.node';
  const candidates = [new URL(`../${relative}`, import.meta.url), new URL(`../../../inference/${relative}`, import.meta.url)];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(path)) return path;
  }
  return null;
}
