import { Worker } from 'node:worker_threads';
import { EngineError, TomeError } from '../src/errors.js';
import type { InferenceBenchmarkOptions, InferenceBenchmarkResult } from './benchmark.js';
import { reviveError, type SerializedError } from './thread-errors.js';
import { threadEntry } from './thread-entry.js';

/** What the benchmark thread sends back: the result, or its error. */
export type BenchmarkThreadReply = { result: InferenceBenchmarkResult } | { error: SerializedError };

/**
 * benchmarkInference in a worker thread, where the product runs its engine (openLocalEngine's default). The thread's
 * heap holds only the engine: every prefill chunk hands ONNX Runtime ~100 MB of fresh output buffers, each run's
 * external memory makes V8 collect, and a collection marks the whole heap of its thread. Measured in the CLI's own
 * thread (~46 MB of heap) the same engine read ~8% slower (docs/DESIGN.md, "The engine's own thread").
 */
export function benchmarkInferenceInThread(directory: string, options: InferenceBenchmarkOptions = {}): Promise<InferenceBenchmarkResult> {
  const { filename, argv } = threadEntry(import.meta.url, 'benchmark-worker');
  const worker = new Worker(filename, { argv, workerData: { directory, options } });
  return new Promise((resolve, reject) => {
    worker.once('message', (reply: BenchmarkThreadReply) => {
      if ('result' in reply) {
        resolve(reply.result);
      } else {
        const error = reviveError(reply.error);
        reject(TomeError.is(error) ? error : new EngineError(`the inference benchmark failed: ${error.message}`, 'rerun; if it repeats, report it with the model\'s config.json'));
      }
      void worker.terminate();
    });
    worker.once('error', (error) => reject(new EngineError(`the inference benchmark thread crashed: ${error.message}`, 'rerun; if it repeats, report it with the model\'s config.json', error)));
  });
}
