import { describe, expect, it } from 'vitest';
import { RunnableLambda } from '@langchain/core/runnables';
import { Pipeline, registerPipeline, getPipeline, listPipelines, map, fold, reduceTree, segment, toDocument, type DocumentInput } from 'tome';
import { hierarchicalSummary, HIERARCHICAL_SUMMARY, INCREMENTAL_SUMMARY } from 'tome';
import { resolveModel, TomeError, type ProgressEvent } from 'tome';
import { ScriptedChatModel } from './helpers/scripted-chat-model.js';
import { handleFor, syntheticBook } from './helpers/books.js';

/** A user-defined pipeline made only of public building blocks: segment → map → fold. */
function wordCountPipeline(model = handleFor(new ScriptedChatModel(() => 'unused.'), 4096)) {
  return new Pipeline<DocumentInput, { segments: number; words: number; longest: number }>(
    {
      name: 'word-count',
      options: { maxTokens: 120 },
      async run(input, context) {
        const segments = segment(context, toDocument(input).text, { maxTokens: 120 });
        const counts = await map(context, { name: 'count' }, segments, async (piece) => piece.text.split(/\s+/).filter(Boolean).length);
        const longest = await fold(context, { name: 'longest' }, counts, 0, async (best, count) => Math.max(best, count));
        return { segments: segments.length, words: counts.reduce((sum, count) => sum + count, 0), longest };
      },
    },
    { model },
  );
}

describe('pipelines are LangChain Runnables', () => {
  it('a custom pipeline built from the blocks runs with invoke and batch', async () => {
    const pipeline = wordCountPipeline();
    const book = syntheticBook(10, 50);
    const result = await pipeline.invoke(book);
    expect(result.words).toBe(500);
    expect(result.segments).toBeGreaterThan(1);
    const [first, second] = await pipeline.batch([book, syntheticBook(2, 50)]);
    expect(first).toEqual(result);
    expect(second!.words).toBe(100);
  });

  it('composes with other Runnables through pipe', async () => {
    const chain = wordCountPipeline().pipe(RunnableLambda.from((result: { words: number }) => `${result.words} words`));
    expect(await chain.invoke(syntheticBook(3, 10))).toBe('30 words');
  });

  it('progress events arrive through streamProgress and as LangChain custom events', async () => {
    const pipeline = wordCountPipeline();
    const direct: ProgressEvent[] = [];
    const stream = pipeline.streamProgress(syntheticBook(6, 50));
    let next = await stream.next();
    while (!next.done) {
      direct.push(next.value);
      next = await stream.next();
    }
    expect(next.value.words).toBe(300);
    expect(direct.map((event) => event.type)).toEqual([
      'stage-start',
      ...Array<string>(next.value.segments).fill('step-end'),
      'stage-end',
      'stage-start',
      ...Array<string>(next.value.segments).fill('step-end'),
      'stage-end',
      'pipeline-end',
    ]);

    const viaLangChain: unknown[] = [];
    for await (const event of pipeline.streamEvents(syntheticBook(6, 50), { version: 'v2' })) {
      if (event.event === 'on_custom_event' && event.name === 'tome-progress') viaLangChain.push(event.data);
    }
    const withoutTimes = (events: unknown[]) => events.map((event) => ({ ...(event as object), elapsedMs: undefined }));
    expect(withoutTimes(viaLangChain)).toEqual(withoutTimes(direct));
  });

  it('reduceTree merges level by level until one item remains', async () => {
    const model = handleFor(new ScriptedChatModel(() => 'unused.'), 4096);
    const pipeline = new Pipeline<number[], { root: number[]; mergeLevels: number }>(
      {
        name: 'pairs',
        run: (leaves, context) =>
          reduceTree(context, 'sum', leaves.map((leaf) => [leaf]), {
            group: (items) => Array.from({ length: Math.ceil(items.length / 2) }, (_, index) => items.slice(index * 2, index * 2 + 2)),
            // [sum of the group's sums, the previous same-level sum or -1]
            merge: async (group, position) => [group.reduce((sum, item) => sum + item[0]!, 0), position.previous?.[0] ?? -1],
          }),
      },
      { model },
    );
    const { root, mergeLevels } = await pipeline.invoke([1, 2, 3, 4, 5]);
    // Levels: [1,2][3,4][5] → [3,-1][7,3][5,7] → [10,-1][5,10] → [15,-1]
    expect(mergeLevels).toBe(3);
    expect(root).toEqual([15, -1]);
  });
});

describe('pipeline registry', () => {
  it('holds the two book-summary workflows', () => {
    const names = listPipelines().map((pipeline) => pipeline.name);
    expect(names).toEqual(expect.arrayContaining([HIERARCHICAL_SUMMARY, INCREMENTAL_SUMMARY]));
  });

  it('runs a registered pipeline by name with string options', async () => {
    registerPipeline('word-count-test', 'counts words', (settings) => new Pipeline({ ...wordCountPipeline().definition }, settings), { replace: true });
    const model = await resolveModel('extractive');
    const pipeline = getPipeline('word-count-test').create({ model }, {});
    expect(await pipeline.invoke(syntheticBook(2, 10))).toMatchObject({ words: 20 });
    const summary = await getPipeline(HIERARCHICAL_SUMMARY).create({ model }, { chunkTokens: '256', summaryTokens: '100' }).invoke(syntheticBook(6, 60));
    expect(summary).toMatchObject({ method: 'hierarchical', model: 'extractive' });
  });

  it('names what exists when a pipeline is unknown, and refuses duplicates', () => {
    expect(() => getPipeline('nope')).toThrow(/no pipeline named "nope"/);
    try {
      getPipeline('nope');
    } catch (error) {
      expect(TomeError.is(error) && error.code).toBe('PIPELINE_NOT_FOUND');
      expect((error as TomeError).fix).toContain(HIERARCHICAL_SUMMARY);
    }
    expect(() => registerPipeline(HIERARCHICAL_SUMMARY, 'again', () => hierarchicalSummary({ model: handleFor(new ScriptedChatModel(() => ''), 1024) }))).toThrow(/already registered/);
    expect(() => registerPipeline('Bad Name', 'x', () => wordCountPipeline())).toThrow(TomeError);
  });
});
