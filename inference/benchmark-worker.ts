import { parentPort, workerData } from 'node:worker_threads';
import { benchmarkInference, type InferenceBenchmarkOptions } from './benchmark.js';
import type { BenchmarkThreadReply } from './benchmark-thread.js';
import { serializeError } from './thread-errors.js';

/** The benchmark thread (benchmarkInferenceInThread): one run of benchmarkInference, its result or error posted back. */
const { directory, options } = workerData as { directory: string; options: InferenceBenchmarkOptions };
let reply: BenchmarkThreadReply;
try {
  reply = { result: await benchmarkInference(directory, options) };
} catch (error) {
  reply = { error: serializeError(error) };
}
parentPort!.postMessage(reply);
