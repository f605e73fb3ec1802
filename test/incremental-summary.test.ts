import { describe, expect, it } from 'vitest';
import { incrementalSummary } from '../pipelines/index.js';
import { MIN_COMPRESSION_WORDS } from '../agents/summarizer/summary-updater.js';
import { wordLimitForTokens } from '../agents/summarizer/validity.js';
import { countWords } from '../src/models/extractive/selection.js';
import type { CompressTask, ModelTask, SummarizeTask, UpdateTask } from '../src/tasks.js';
import type { ProgressEvent } from '../src/pipeline/progress.js';
import { ScriptedChatModel, sentenceOfWords, type RecordedCall, type ScriptedReply } from './helpers/scripted-chat-model.js';
import { handleFor, syntheticBook } from './helpers/books.js';

const WINDOW = 1024;
const OPTIONS = { chunkTokens: 150, summaryTokens: 200 };
const LIMIT = wordLimitForTokens(200);

const obedient = (task: ModelTask, call: RecordedCall): ScriptedReply => sentenceOfWords(`c${call.index}`, Math.floor(task.wordLimit * 0.9));

async function run(paragraphs: number, script: (task: ModelTask, call: RecordedCall) => ScriptedReply = obedient) {
  const model = new ScriptedChatModel(script);
  const events: ProgressEvent[] = [];
  const stream = incrementalSummary({ model: handleFor(model, WINDOW), concurrency: 4 }, OPTIONS).streamProgress(syntheticBook(paragraphs));
  let next = await stream.next();
  while (!next.done) {
    events.push(next.value);
    next = await stream.next();
  }
  return { model, result: next.value, events };
}

describe('incremental updating: call graph', () => {
  it('summarizes the first chunk, then updates the running summary with every next chunk, in order', async () => {
    const { model, result } = await run(8);
    expect(model.calls.map((call) => call.task.kind)).toEqual(['summarize', ...Array<string>(7).fill('update')]);
    const updates = model.callsOf('update').map((call) => call.task as UpdateTask);
    updates.forEach((task, position) => {
      expect(task.chunkIndex).toBe(position + 1);
      expect(task.chunkCount).toBe(8);
      expect(task.wordLimit).toBe(LIMIT);
      // Carry-over: each update receives exactly what the previous call answered.
      const previousCall = model.calls[position]!;
      expect(task.summary).toBe(sentenceOfWords(`c${previousCall.index}`, Math.floor(previousCall.task.wordLimit * 0.9)));
    });
    // Chunks are read in book order: the sources, joined, are the book.
    const sources = [(model.calls[0]!.task as SummarizeTask).source, ...updates.map((task) => task.source)];
    expect(sources.join('')).toBe(syntheticBook(8));
    expect(result).toMatchObject({ method: 'incremental', chunks: 8, levels: 1, modelCalls: 8 });
    expect(result.summary).toBe(sentenceOfWords('c7', Math.floor(LIMIT * 0.9)));
  });

  it('sends no prompt that, with its reserved answer, exceeds the context window', async () => {
    // Summaries at the full word limit: the largest running summary the pipeline must carry.
    const { model } = await run(10, (task, call) => sentenceOfWords(`c${call.index}`, task.wordLimit));
    for (const call of model.calls) expect(call.promptTokens + Math.ceil(call.task.wordLimit / 0.65)).toBeLessThanOrEqual(WINDOW);
  });
});

describe('incremental updating: overflow and compression', () => {
  it('compresses the previous summary to ≈ limit·(parts done)/(parts) words and asks for the update again', async () => {
    let overflowed = false;
    const { model, events } = await run(8, (task, call) => {
      if (task.kind === 'update' && task.chunkIndex === 5 && !overflowed) {
        overflowed = true;
        return sentenceOfWords('overflow', LIMIT + 50);
      }
      if (task.kind === 'compress') return sentenceOfWords(`compressed${call.index}`, task.wordLimit);
      return obedient(task, call);
    });
    const kinds = model.calls.map((call) => call.task.kind);
    // Updates of chunks 1-4, the overflowing update of chunk 5, its compression, the retry, then chunks 6 and 7.
    expect(kinds).toEqual(['summarize', 'update', 'update', 'update', 'update', 'update', 'compress', 'update', 'update', 'update']);
    const compress = model.calls[6]!.task as CompressTask;
    const beforeOverflow = model.calls[5]!.task as UpdateTask;
    expect(compress.summary).toBe(beforeOverflow.summary);
    expect(compress.wordLimit).toBe(Math.max(MIN_COMPRESSION_WORDS, Math.round((LIMIT * 5) / 8)));
    const retried = model.calls[7]!.task as UpdateTask;
    expect(retried.chunkIndex).toBe(5);
    expect(retried.summary).toBe(sentenceOfWords('compressed6', compress.wordLimit));
    expect(retried.wordLimit).toBe(Math.floor(LIMIT * 0.9));
    expect(events.filter((event) => event.type === 'summary-compressed')).toEqual([
      { type: 'summary-compressed', stage: 'incremental-updates', index: 5, fromWords: countWords(beforeOverflow.summary), toWords: compress.wordLimit, targetWords: compress.wordLimit },
    ]);
  });

  it('treats a reply cut off by the token limit like an overflow', async () => {
    let cut = false;
    const { model } = await run(4, (task, call) => {
      if (task.kind === 'update' && task.chunkIndex === 2 && !cut) {
        cut = true;
        return { text: 'The crew sailed on and', finishReason: 'length' };
      }
      return task.kind === 'compress' ? sentenceOfWords('small', task.wordLimit) : obedient(task, call);
    });
    expect(model.calls.map((call) => call.task.kind)).toEqual(['summarize', 'update', 'update', 'compress', 'update', 'update']);
  });

  it('retries a compression until it lands within ±20% of its target', async () => {
    let compressions = 0;
    let overflowed = false;
    const { model } = await run(6, (task, call) => {
      if (task.kind === 'update' && task.chunkIndex === 4 && !overflowed) {
        overflowed = true;
        return sentenceOfWords('overflow', LIMIT + 10);
      }
      if (task.kind === 'compress') {
        compressions++;
        // First far too long (150%), then too short (50%), then just inside the tolerance (119%).
        return sentenceOfWords('cmp', Math.round(task.wordLimit * [1.5, 0.5, 1.19][compressions - 1]!));
      }
      return obedient(task, call);
    });
    expect(model.callsOf('compress')).toHaveLength(3);
    const target = (model.callsOf('compress')[0]!.task as CompressTask).wordLimit;
    const retried = model.callsOf('update').map((call) => call.task as UpdateTask).find((task) => task.chunkIndex === 4 && task.summary.startsWith('cmp'));
    expect(countWords(retried!.summary)).toBe(Math.round(target * 1.19));
  });
});
