import { parentPort, workerData } from 'node:worker_threads';
import { TomeError } from '../src/errors.js';
import { benchmarkInference, type InferenceBenchmarkOptions } from './benchmark.js';
import type { BenchmarkThreadReply } from './benchmark-thread.js';

/** The benchmark thread (benchmarkInferenceInThread): one run of benchmarkInference, its result or error posted back. */
const { directory, options } = workerData as { directory: string; options: InferenceBenchmarkOptions };
let reply: BenchmarkThreadReply;
try {
  reply = { result: await benchmarkInference(directory, options) };
} catch (error) {
  const plain = error instanceof Error ? error : new Error(String(error));
  reply = { error: { message: plain.message, ...(TomeError.is(error) ? { code: error.code, fix: error.fix } : {}) } };
}
parentPort!.postMessage(reply);
