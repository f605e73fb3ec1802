import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bookSummary, type SummaryMethod } from '../pipelines/index.js';
import { TomeError } from '../src/errors.js';
import type { ModelTask } from '../src/tasks.js';
import { ScriptedChatModel, sentenceOfWords, type RecordedCall } from './helpers/scripted-chat-model.js';
import { handleFor, syntheticBook } from './helpers/books.js';

const OPTIONS = { chunkTokens: 150, summaryTokens: 200 };
const BOOK = syntheticBook(14);

/** Deterministic answers that depend only on the task, so an interrupted and a clean run can be compared. */
function answer(task: ModelTask): string {
  const source = task.kind === 'summarize' ? task.source : task.kind === 'merge' ? task.summaries.join('|') : task.kind === 'update' ? task.source + task.summary : '';
  let hash = 0;
  for (const character of source) hash = (hash * 31 + character.charCodeAt(0)) >>> 0;
  return sentenceOfWords(`h${hash.toString(36)}`, Math.floor(task.wordLimit * 0.9));
}

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'tome-resume-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

async function cleanRun(method: SummaryMethod) {
  const model = new ScriptedChatModel((task) => answer(task));
  const result = await bookSummary(method, { model: handleFor(model, 1024), concurrency: 1 }, OPTIONS).invoke(BOOK);
  return { calls: model.calls.length, summary: result.summary };
}

describe.each<SummaryMethod>(['hierarchical', 'incremental'])('resume (%s)', (method) => {
  it('a run aborted half-way and started again with the same checkpoint redoes no finished step', async () => {
    const clean = await cleanRun(method);
    const checkpointPath = join(directory, 'run.checkpoint');
    const stopAfter = Math.floor(clean.calls / 2);

    const controller = new AbortController();
    const first = new ScriptedChatModel((task, call: RecordedCall) => {
      if (call.index === stopAfter) controller.abort(new Error('killed'));
      return answer(task);
    });
    const interrupted = bookSummary(method, { model: handleFor(first, 1024), concurrency: 1, checkpointPath }, OPTIONS).invoke(BOOK, { signal: controller.signal });
    await expect(interrupted).rejects.toSatisfy((error) => TomeError.is(error) && error.code === 'ABORTED');
    // Calls 0..stopAfter answered (the abort fires while the last of them is answering), so their steps finished.
    const finished = stopAfter + 1;

    const second = new ScriptedChatModel((task) => answer(task));
    const resumed = await bookSummary(method, { model: handleFor(second, 1024), concurrency: 1, checkpointPath }, OPTIONS).invoke(BOOK);
    expect(second.calls.length).toBe(clean.calls - finished);
    expect(resumed.modelCalls).toBe(clean.calls - finished);
    expect(resumed.summary).toBe(clean.summary);

    // A third run finds everything done.
    const third = new ScriptedChatModel((task) => answer(task));
    const replay = await bookSummary(method, { model: handleFor(third, 1024), concurrency: 1, checkpointPath }, OPTIONS).invoke(BOOK);
    expect(third.calls).toHaveLength(0);
    expect(replay.summary).toBe(clean.summary);
  });

  it('refuses a checkpoint written with other arguments', async () => {
    const checkpointPath = join(directory, 'run.checkpoint');
    const model = new ScriptedChatModel((task) => answer(task));
    await bookSummary(method, { model: handleFor(model, 1024), checkpointPath }, OPTIONS).invoke(BOOK);
    const other = bookSummary(method, { model: handleFor(model, 1024), checkpointPath }, { ...OPTIONS, summaryTokens: 180 }).invoke(BOOK);
    await expect(other).rejects.toSatisfy((error) => TomeError.is(error) && error.code === 'CHECKPOINT_MISMATCH');
  });
});
