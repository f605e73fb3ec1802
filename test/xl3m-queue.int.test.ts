/**
 * XL3M on Redis: with a queue, every segment's scoring pass is a job on the local model's queue, served by tome
 * workers (here one in-process worker over the tiny fixture), and the run selects exactly what the in-process run
 * selects. Real Redis at 127.0.0.1:6379 (TOME_TEST_REDIS_URL), its own prefix, everything deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveOnnxModel } from '../inference/langchain/onnx-provider.js';
import type { ChatOnnx } from '../inference/langchain/chat-onnx.js';
import { xl3mAnswer } from '../pipelines/xl3m.js';
import { documentFromText } from '../src/documents.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { modelCallQueue } from '../src/queue/queue-names.js';
import { TomeQueue } from '../src/queue/tome-queue.js';
import { TomeWorker } from '../src/queue/tome-worker.js';
import { modelFor } from '../src/cli/queue-commands.js';
import { mobyDickChapter } from './helpers/books.js';
import { writeTinyCheckpoint } from './helpers/tiny-checkpoint.js';
import { deleteKeysWithPrefix } from './helpers/redis-cleanup.js';

const REDIS_URL = process.env.TOME_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tome-test-xl3m-${randomUUID()}`;
const QUESTION = 'Where does Ishmael go when he feels grim about the mouth?';

let checkpoint: { directory: string; remove(): Promise<void> };
let local: ModelHandle;
let queue: TomeQueue;
let worker: TomeWorker;

beforeAll(async () => {
  checkpoint = await writeTinyCheckpoint();
  local = await resolveOnnxModel(checkpoint.directory);
  queue = await TomeQueue.connect({ url: REDIS_URL, prefix });
  worker = await TomeWorker.start({ connection: { url: REDIS_URL, prefix }, model: local, concurrency: 2, documents: false });
}, 60_000);

afterAll(async () => {
  await worker?.close();
  queue?.queueFor(modelCallQueue(local.spec));
  await queue?.obliterate();
  await queue?.close();
  await deleteKeysWithPrefix(REDIS_URL, prefix);
  await (local?.chatModel as ChatOnnx | undefined)?.engine.dispose();
  await checkpoint?.remove();
});

describe('XL3M with --queue', () => {
  it('scores every segment as a job on the workers and selects exactly what the in-process run selects', async () => {
    const document = documentFromText(mobyDickChapter(1), 'chapter-1.txt');
    const options = { segmentTokens: 128, k: 3, answerWords: 8 };
    // What `--queue` gives the pipeline (the CLI's modelFor): with the checkpoint on this machine, budgets come from
    // its own tokenizer and window, as on the workers, so the segments are the same.
    const { model: remote, close } = await modelFor(local.spec, { queue: REDIS_URL, prefix });
    expect(remote.scorer).toBeDefined();
    expect(remote.contextWindow).toBe(local.contextWindow);
    const sample = mobyDickChapter(1).slice(0, 2000);
    expect(remote.tokenCounter.count(sample)).toBe(local.tokenCounter.count(sample));
    const inProcess = await xl3mAnswer({ model: local }, options).invoke({ document, question: QUESTION });
    const distributed = await xl3mAnswer({ model: remote, concurrency: 4 }, options).invoke({ document, question: QUESTION });
    await close();
    expect(distributed.scored).toBe(inProcess.scored);
    expect(distributed.selected).toEqual(inProcess.selected);
    const scoreJobs = await queue.queueFor(modelCallQueue(local.spec)).getJobs(['completed']);
    expect(scoreJobs.filter((job) => job.name === 'score').length).toBe(inProcess.scored);
  }, 120_000);

  it('a chat API behind the queue has no scorer: xl3m refuses before queuing anything', async () => {
    const remote = await queue.remoteModel('openai:gpt-4o-mini');
    expect(remote.scorer).toBeUndefined();
    expect(() => xl3mAnswer({ model: remote })).toThrow(/next-token distributions/);
  });
});
