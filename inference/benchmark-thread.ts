import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EngineError, TomeError, type TomeErrorCode } from '../src/errors.js';
import type { InferenceBenchmarkOptions, InferenceBenchmarkResult } from './benchmark.js';

/** What the benchmark thread sends back: the result, or its error (code and fix kept for typed errors). */
export type BenchmarkThreadReply = { result: InferenceBenchmarkResult } | { error: { message: string; code?: string; fix?: string } };

/** Built .js next to this file, or the shim that registers tsx when running from sources (as the engine's worker). */
function entry(): string {
  const built = fileURLToPath(new URL('./benchmark-worker.js', import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL('./benchmark-worker-source.mjs', import.meta.url));
}

/**
 * benchmarkInference in a worker thread, where the product runs its engine (openLocalEngine's default). The thread's
 * heap holds only the engine: every prefill chunk hands ONNX Runtime ~100 MB of fresh output buffers, each run's
 * external memory makes V8 collect, and a collection marks the whole heap of its thread. Measured in the CLI's own
 * thread (~46 MB of heap) the same engine read ~8% slower (docs/DESIGN.md, "The engine's own thread").
 */
export function benchmarkInferenceInThread(directory: string, options: InferenceBenchmarkOptions = {}): Promise<InferenceBenchmarkResult> {
  const worker = new Worker(entry(), { workerData: { directory, options } });
  return new Promise((resolve, reject) => {
    worker.once('message', (reply: BenchmarkThreadReply) => {
      if ('result' in reply) resolve(reply.result);
      else if (reply.error.code) reject(new TomeError(reply.error.code as TomeErrorCode, reply.error.message, { fix: reply.error.fix ?? '' }));
      else reject(new EngineError(`the inference benchmark failed: ${reply.error.message}`, 'rerun; if it repeats, report it with the model\'s config.json'));
      void worker.terminate();
    });
    worker.once('error', (error) => reject(new EngineError(`the inference benchmark thread crashed: ${error.message}`, 'rerun; if it repeats, report it with the model\'s config.json', error)));
  });
}
