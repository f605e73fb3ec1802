import ort from 'onnxruntime-node';
import { EngineError } from '../src/errors.js';

/**
 * The one module that touches ONNX Runtime. Everything else hands it model bytes and plain Float32Arrays, so the
 * engine never depends on ORT's tensor or session types (and a different runtime would replace this file only).
 */

/** Execution providers we know how to ask for, in preference order when `auto`. */
export type ExecutionProviderName = 'cpu' | 'cuda';

export interface SessionOptions {
  /** Threads for one operator (default 2: this project's machines have 2 cores). */
  threads?: number;
  /** 'auto' (default) uses CUDA when this onnxruntime-node build bundles it, else CPU. */
  executionProvider?: ExecutionProviderName | 'auto';
  /**
   * How ORT's pool threads wait for work. `within-run` (default): they spin between the operators of a run and
   * stop when it returns (ORT's session.force_spinning_stop). A model is dozens of sessions run one after another,
   * and threads left spinning in the sessions just used would starve the one running now on a small machine
   * (measured on smollm2-135m, 2 cores: decode 0.6 tok/s with `always`, ~31 tok/s with `never`, ~38 tok/s
   * `within-run`). `always` is ORT's own default, right for a process that runs one session alone.
   */
  spinning?: 'within-run' | 'always' | 'never';
}

/** A float32 tensor as the engine sees it: data (often a subarray view of a larger buffer) and its shape. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

/** Which provider `auto` resolves to here (CUDA only when bundled: onnxruntime-node downloads it at install). */
export function availableExecutionProvider(requested: SessionOptions['executionProvider'] = 'auto'): ExecutionProviderName {
  const cudaBundled = ort.listSupportedBackends().some((backend) => backend.name === 'cuda' && backend.bundled);
  if (requested === 'cuda' && !cudaBundled) {
    throw new EngineError('the CUDA execution provider is not available in this onnxruntime-node install', 'reinstall onnxruntime-node with network access so its postinstall can fetch the CUDA binaries (ONNXRUNTIME_NODE_INSTALL_CUDA=v12), or open the engine with executionProvider: \'cpu\'');
  }
  if (requested === 'auto') return cudaBundled ? 'cuda' : 'cpu';
  return requested;
}

function spinningConfig(spinning: NonNullable<SessionOptions['spinning']>): Record<string, unknown> {
  if (spinning === 'never') return { intra_op: { allow_spinning: '0' } };
  if (spinning === 'always') return { intra_op: { allow_spinning: '1' } };
  return { intra_op: { allow_spinning: '1' }, force_spinning_stop: '1' };
}

/** One compiled graph. `run` blocks the calling thread for its duration: the engine lives in a worker thread. */
export class GraphSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly name: string,
  ) {}

  static async create(name: string, modelBytes: Uint8Array, options: SessionOptions = {}): Promise<GraphSession> {
    const provider = availableExecutionProvider(options.executionProvider);
    try {
      const session = await ort.InferenceSession.create(modelBytes, {
        executionProviders: [provider],
        intraOpNumThreads: options.threads ?? 2,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // No CPU arena and no memory pattern: activations come from malloc. A long document gives each prefill chunk
        // new shapes, and the arena (growing by doubling, keeping every region) made a document's first pass ~1.7×
        // slower and its RSS ~2× larger; only repeating one prompt's exact shapes was faster with it (measurements in
        // docs/DESIGN.md, "No ONNX Runtime arena, no memory pattern").
        enableCpuMemArena: false,
        enableMemPattern: false,
        extra: { session: spinningConfig(options.spinning ?? 'within-run') },
      });
      return new GraphSession(session, name);
    } catch (cause) {
      throw new EngineError(`ONNX Runtime could not load graph ${name}: ${(cause as Error).message}`, 'this is a bug in tome\'s graph builder or an unsupported onnxruntime-node version (need 1.30): report it with the model\'s config.json', cause);
    }
  }

  /** Run with float32 inputs; returns the requested outputs as Float32Arrays (freshly allocated by ORT). */
  async run(inputs: Record<string, FloatTensor>, outputNames: readonly string[]): Promise<Record<string, FloatTensor>> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(inputs)) feeds[name] = new ort.Tensor('float32', tensor.data, tensor.dims);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(feeds, outputNames as string[]);
    } catch (cause) {
      throw new EngineError(`ONNX Runtime failed in ${this.name}: ${(cause as Error).message}`, 'check the input length against the context window; if it persists, report it with the model\'s config.json', cause);
    }
    const outputs: Record<string, FloatTensor> = {};
    for (const name of outputNames) {
      const tensor = results[name]!;
      outputs[name] = { data: tensor.data as Float32Array, dims: tensor.dims };
    }
    return outputs;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
