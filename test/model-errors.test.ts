import { describe, expect, it } from 'vitest';
import { askPipeline, bookSummary, InProcessExecutor, TomeError, documentFromText, type AskMethod, type ModelTask } from 'tome';
import { ScriptedChatModel, sentenceOfWords, type RecordedCall } from './helpers/scripted-chat-model.js';
import { handleFor, syntheticBook } from './helpers/books.js';

/** Fast retries, so the tests do not wait through real back-off. */
const executor = () => new InProcessExecutor({ retry: { minDelayMs: 1, maxDelayMs: 2 } });
const overloaded = () => Object.assign(new Error('503 Service Unavailable: overloaded'), { status: 503 });
const answer = (task: ModelTask, call: RecordedCall) =>
  task.kind === 'needs-memory' || task.kind === 'summary-suffices' ? 'yes' : task.kind === 'judge' ? '1' : sentenceOfWords(`c${call.index}`, Math.max(1, Math.floor(task.wordLimit * 0.5)));

const BOOK = documentFromText(syntheticBook(30, 120));
const QUESTION = 'What happened to the ship?';

describe('a model error in the middle of a chain', () => {
  it.each<AskMethod>(['coa', 'scm', 'rag', 'truncate'])('%s: a transient failure is retried and the run completes', async (method) => {
    let failures = 0;
    const model = new ScriptedChatModel((task, call) => {
      // A call in the middle of the run fails twice (an overloaded provider), then succeeds; rag and truncate
      // make a single call, so theirs is the one.
      const firstFailing = method === 'rag' || method === 'truncate' ? 0 : 2;
      if (call.index >= firstFailing && failures < 2 && (method !== 'coa' || task.kind === 'worker-step')) {
        failures++;
        return overloaded();
      }
      return answer(task, call);
    });
    const result = await askPipeline(method, { model: handleFor(model, 2048), executor: executor() }, { maxCuTokens: 300 }).invoke({ document: BOOK, question: QUESTION });
    expect(failures).toBe(2);
    expect(result.answer.length).toBeGreaterThan(0);
  });

  it('coa: after the last retry the error names the worker step and its segment', async () => {
    const model = new ScriptedChatModel((task, call) => (task.kind === 'worker-step' && task.chunkIndex === 3 ? overloaded() : answer(task, call)));
    const run = askPipeline('coa', { model: handleFor(model, 2048), executor: executor() }, { maxCuTokens: 300 }).invoke({ document: BOOK, question: QUESTION });
    await expect(run).rejects.toSatisfy((error: unknown) => TomeError.is(error) && error.code === 'STEP_FAILED' && /workers\/path-1\[3\] failed after 4 attempt/.test(error.message));
    // Workers 0-2 ran once each, worker 3 four times (one try + three retries), nothing after it.
    expect(model.callsOf('worker-step').map((call) => (call.task as { chunkIndex?: number }).chunkIndex)).toEqual([0, 1, 2, 3, 3, 3, 3]);
  });

  it('hierarchical: a failing leaf names its segment, and a bad request is not retried', async () => {
    const model = new ScriptedChatModel((task, call) => {
      if (task.kind === 'summarize' && task.source.startsWith(BOOK.text.split('\n\n')[4]!.slice(0, 40))) return Object.assign(new Error('400 Bad Request'), { status: 400 });
      return answer(task, call);
    });
    const run = bookSummary('hierarchical', { model: handleFor(model, 2048), executor: executor(), concurrency: 1 }, { chunkTokens: 150, summaryTokens: 200 }).invoke(BOOK);
    await expect(run).rejects.toSatisfy((error: unknown) => TomeError.is(error) && /leaf-summaries\[4\] failed after 1 attempt/.test(error.message));
  });
});
