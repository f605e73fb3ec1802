import { describe, expect, it } from 'vitest';
import { hierarchicalSummary, planLevelBudgets, mergeSpace } from '../pipelines/index.js';
import { SummaryMerger } from '../agents/summarizer/summary-merger.js';
import { wordLimitForTokens } from '../agents/summarizer/validity.js';
import type { MergeTask, ModelTask, SummarizeTask } from '../src/tasks.js';
import type { ProgressEvent } from '../src/pipeline/progress.js';
import { ScriptedChatModel, sentenceOfWords, type RecordedCall } from './helpers/scripted-chat-model.js';
import { handleFor, syntheticBook } from './helpers/books.js';

const WINDOW = 1024;
const OPTIONS = { chunkTokens: 150, summaryTokens: 200 };

/** Each answer: a valid summary at 90% of the asked word limit, tagged with the call number. */
const obedient = (task: ModelTask, call: RecordedCall) => sentenceOfWords(`c${call.index}`, Math.floor(task.wordLimit * 0.9));

async function run(paragraphs: number, script = obedient, concurrency = 3) {
  const model = new ScriptedChatModel(script);
  const handle = handleFor(model, WINDOW);
  const events: ProgressEvent[] = [];
  const stream = hierarchicalSummary({ model: handle, concurrency }, OPTIONS).streamProgress(syntheticBook(paragraphs));
  let next = await stream.next();
  while (!next.done) {
    events.push(next.value);
    next = await stream.next();
  }
  return { model, handle, result: next.value, events };
}

function mergeCalls(model: ScriptedChatModel): (RecordedCall & { task: MergeTask })[] {
  return model.callsOf('merge') as (RecordedCall & { task: MergeTask })[];
}

describe('hierarchical merging: call graph', () => {
  it('summarizes each chunk once, then merges level by level into one summary', async () => {
    const { model, handle, result } = await run(12);
    const leafCalls = model.callsOf('summarize') as (RecordedCall & { task: SummarizeTask })[];
    expect(result.chunks).toBe(12);
    expect(leafCalls).toHaveLength(12);
    // Each leaf call summarizes exactly one paragraph of the book, and all twelve are covered.
    expect(new Set(leafCalls.map((call) => call.task.source.trim())).size).toBe(12);

    const merger = new SummaryMerger(handle);
    const budgets = planLevelBudgets({ chunkCount: 12, contextWindow: WINDOW, fixedPromptTokens: await merger.fixedPromptTokens(), topTokens: 200, levelRatio: 0.65 });
    expect(budgets.at(-1)).toBe(200);
    budgets.slice(0, -1).forEach((budget, level) => expect(budget).toBe(Math.round(200 * 0.65 ** (budgets.length - 1 - level))));
    for (const call of leafCalls) expect(call.task.wordLimit).toBe(wordLimitForTokens(budgets[0]!));

    const merges = mergeCalls(model);
    const final = merges.at(-1)!;
    expect(final.task.wordLimit).toBe(wordLimitForTokens(200));
    expect(result.summary).toBe(sentenceOfWords(`c${final.index}`, Math.floor(wordLimitForTokens(200) * 0.9)));
    expect(result.modelCalls).toBe(model.calls.length);
    expect(result.levels).toBeGreaterThanOrEqual(3);
  });

  it('makes exactly the calls per level that the budgets imply (worked example)', async () => {
    // 12 chunks, window 1024, top budget 200 → level budgets [85, 130, 200] (200·0.65², 200·0.65, 200).
    // Leaves answer 49 words ≈ 105 tokens per "Summary j" block; a level-1 merge (answer budget 130) has
    // 1024 − 122 (prompt) − 130 − 32 (margin) = 740 free tokens, 80% of it (592) for summaries → 5 per merge:
    // groups of 5, 5, 2. Their three 75-word outputs (≈157 tokens each, 471) fit one final merge (536 with budget 200).
    const { model, result } = await run(12, obedient, 1);
    expect(model.callsOf('summarize').map((call) => call.task.wordLimit)).toEqual(Array<number>(12).fill(wordLimitForTokens(85)));
    const merges = mergeCalls(model);
    expect(merges.map((merge) => [merge.task.summaries.length, merge.task.wordLimit])).toEqual([
      [5, wordLimitForTokens(130)],
      [5, wordLimitForTokens(130)],
      [2, wordLimitForTokens(130)],
      [3, wordLimitForTokens(200)],
    ]);
    expect(result.levels).toBe(3);
    expect(result.modelCalls).toBe(16);
  });

  it('feeds every summary of a level, in order, into exactly one merge of the next level', async () => {
    const { model } = await run(12, obedient, 1);
    const leafOutputs = model.callsOf('summarize').map((call) => sentenceOfWords(`c${call.index}`, Math.floor(call.task.wordLimit * 0.9)));
    const merges = mergeCalls(model);
    // Walk the levels: the inputs of level n's merges, concatenated, are the outputs of level n-1 in reading order.
    let previousLevel = leafOutputs;
    let cursor = 0;
    let levels = 0;
    while (cursor < merges.length) {
      const inputs: string[] = [];
      const outputs: string[] = [];
      while (inputs.length < previousLevel.length) {
        const merge = merges[cursor++]!;
        inputs.push(...merge.task.summaries);
        outputs.push(sentenceOfWords(`c${merge.index}`, Math.floor(merge.task.wordLimit * 0.9)));
      }
      expect(inputs).toEqual(previousLevel);
      expect(outputs.length).toBeLessThan(previousLevel.length);
      previousLevel = outputs;
      levels++;
    }
    expect(previousLevel).toHaveLength(1);
    expect(levels).toBeGreaterThanOrEqual(2);
  });

  it('gives each merge the previous merge of the same level as context, never the first one', async () => {
    const { model } = await run(12, obedient, 1);
    const merges = mergeCalls(model);
    const level1 = merges.filter((merge) => merge.task.wordLimit !== wordLimitForTokens(200));
    expect(level1.length).toBeGreaterThan(1);
    expect(level1[0]!.task.context).toBeUndefined();
    for (let index = 1; index < level1.length; index++) {
      const previousOutput = sentenceOfWords(`c${level1[index - 1]!.index}`, Math.floor(level1[index - 1]!.task.wordLimit * 0.9));
      const context = level1[index]!.task.context!;
      // The whole previous output, or (when it alone exceeds the cap) its trailing words after an ellipsis.
      expect(context === previousOutput || (context.startsWith('…') && previousOutput.endsWith(context.slice(1)))).toBe(true);
      expect(context.length).toBeGreaterThan(20);
    }
    // The final merge is alone on its level: no context.
    expect(merges.at(-1)!.task.context).toBeUndefined();
  });

  it('caps the carried context at 20% of the free space, keeping its last sentences', async () => {
    // Long, many-sentence merge outputs: the context must be cut to whole trailing sentences.
    const script = (task: ModelTask, call: RecordedCall) =>
      task.kind === 'merge'
        ? Array.from({ length: 12 }, (_, sentence) => `Merge ${call.index} sentence ${sentence} ${'ship '.repeat(Math.max(1, Math.floor(task.wordLimit / 12) - 4)).trim()}.`).join(' ')
        : obedient(task, call);
    const { model, handle } = await run(12, script, 1);
    const merger = new SummaryMerger(handle);
    const fixed = await merger.fixedPromptTokens();
    for (const merge of mergeCalls(model)) {
      if (merge.task.context === undefined) continue;
      const cap = mergeSpace(WINDOW, fixed, merge.task.wordLimit === wordLimitForTokens(200) ? 200 : Math.round(merge.task.wordLimit / 0.65)).context;
      expect(merger.contextTokens(merge.task.context)).toBeLessThanOrEqual(cap + 2);
      expect(merge.task.context).toMatch(/sentence 11 [^.]*\.$/);
    }
  });

  it('sends no prompt that, with its reserved answer, exceeds the context window', async () => {
    const { model } = await run(30);
    for (const call of model.calls) {
      const reserved = Math.ceil(call.task.wordLimit / 0.65);
      expect(call.promptTokens + reserved).toBeLessThanOrEqual(WINDOW);
    }
  });

  it('runs leaf summaries in parallel up to the concurrency limit', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const model = new ScriptedChatModel(async (task, call) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return obedient(task, call);
    });
    await hierarchicalSummary({ model: handleFor(model, WINDOW), concurrency: 4 }, OPTIONS).invoke(syntheticBook(12));
    expect(maxInFlight).toBe(4);
  });

  it('a one-chunk document is summarized once with the top budget', async () => {
    const { model, result } = await run(1);
    expect(model.calls).toHaveLength(1);
    expect(model.calls[0]!.task.wordLimit).toBe(wordLimitForTokens(200));
    expect(result.levels).toBe(1);
  });

  it('reports progress: a stage per level, a step-end per step, and a pipeline-end', async () => {
    const { events, model } = await run(12);
    const stages = events.filter((event) => event.type === 'stage-start').map((event) => (event as { stage: string }).stage);
    expect(stages[0]).toBe('leaf-summaries');
    expect(stages.slice(1).every((stage, index) => stage === `merge/level-${index + 1}`)).toBe(true);
    expect(events.filter((event) => event.type === 'step-end')).toHaveLength(model.calls.length);
    expect(events.at(-1)).toMatchObject({ type: 'pipeline-end', modelCalls: model.calls.length });
  });
});

describe('hierarchical merging: validity checks', () => {
  it('retries an invalid summary with a word limit 10% smaller each time', async () => {
    const replies = ['', `${sentenceOfWords('long', 200)}`, 'no full stop at the end'];
    const script = (task: ModelTask, call: RecordedCall) => {
      const leafSource = task.kind === 'summarize' ? task.source : '';
      if (task.kind === 'summarize' && leafSource.startsWith('ship sea whale') && replies.length > 0) return replies.shift()!;
      return obedient(task, call);
    };
    const { model, events } = await run(12, script, 1);
    const firstLeafCalls = model.callsOf('summarize').filter((call) => (call.task as SummarizeTask).source.startsWith('ship sea whale'));
    const limit = firstLeafCalls[0]!.task.wordLimit;
    expect(firstLeafCalls.map((call) => call.task.wordLimit)).toEqual([limit, Math.floor(limit * 0.9), Math.floor(limit * 0.81), Math.floor(limit * 0.729)]);
    const rejected = events.filter((event) => event.type === 'output-rejected');
    expect(rejected.map((event) => (event as { reason: string }).reason)).toEqual(['empty', 'too-long', 'unfinished']);
  });

  it('after six failed attempts keeps the last answer trimmed to whole sentences within the limit', async () => {
    const tooLong = `${sentenceOfWords('First', 20)} ${sentenceOfWords('Second', 200)}`;
    const script = (task: ModelTask, call: RecordedCall) =>
      task.kind === 'summarize' && (task as SummarizeTask).source.startsWith('ship sea whale') ? tooLong : obedient(task, call);
    const { model } = await run(12, script, 1);
    const firstLeafCalls = model.callsOf('summarize').filter((call) => (call.task as SummarizeTask).source.startsWith('ship sea whale'));
    expect(firstLeafCalls).toHaveLength(6);
    const firstMerge = mergeCalls(model)[0]!;
    expect(firstMerge.task.summaries[0]).toBe(sentenceOfWords('First', 20));
  });
});
