import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { aggregateCertainty, promptCertaintyScorer, selectKeySegments, spliceKeySegments, subContext, type CertaintyScorer, type ScoredSegment } from '../agents/index.js';
import { askPipeline, xl3mAnswer, type Xl3mOptions, type Xl3mResult } from '../pipelines/index.js';
import { scoreSegmentStream } from '../pipelines/xl3m-scoring.js';
import { textTail } from '../pipelines/xl3m-source.js';
import { readInputTail } from '../src/streaming/index.js';
import { documentFromText } from '../src/documents.js';
import { InProcessExecutor } from '../src/executor/in-process-executor.js';
import { NoCheckpoint } from '../src/checkpoint.js';
import type { ContinuationScores, PromptScorer } from '../src/models/prompt-scorer.js';
import { modelHandleFrom, type ModelHandle } from '../src/models/model-handle.js';
import { getPipeline } from '../src/pipeline/registry.js';
import { RunContext } from '../src/pipeline/run-context.js';
import type { ProgressEvent } from '../src/pipeline/progress.js';
import { segmentText } from '../src/segmentation.js';
import type { StreamedSegment } from '../src/streaming/contracts.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import { ScriptedChatModel } from './helpers/scripted-chat-model.js';

/**
 * XL3M's orchestration with a scripted certainty scorer (known uncertainty per segment) and a scripted chat model:
 * the aggregation maths, the selection under k / budget / threshold, the splice in document order, and that neither
 * concurrency nor a retried or resumed task changes the selection.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'tome-xl3m-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Paragraph i starts with its tag `P<i>`; about 40 approximate tokens each, so 64-token segments hold one each. */
function paragraph(index: number): string {
  const words = Array.from({ length: 36 }, (_, word) => ['harbour', 'lantern', 'keeper', 'ledger', 'tide', 'rope'][(index + word) % 6]);
  return `P${index} ${words.join(' ')}.`;
}
const PARAGRAPHS = 12;
const TEXT = Array.from({ length: PARAGRAPHS }, (_, index) => paragraph(index)).join('\n\n');
const QUESTION = 'Which ledger did the keeper sign?';
/** Known uncertainties, by paragraph tag: 7, 2 and 10 are the most certain, in that order; 4 and 9 tie. */
const VALUES = [3.1, 2.9, 0.4, 3.3, 1.5, 2.2, 2.8, 0.1, 2.6, 1.5, 0.9, 3.0];

function tagOf(segment: string): number {
  const match = /P(\d+) /.exec(segment);
  if (!match) throw new Error(`no tag in ${segment.slice(0, 30)}`);
  return Number(match[1]);
}

/** A certainty scorer that knows each paragraph's value; records what it was asked. */
function scriptedScorer(behaviour: { delayMs?: (tag: number) => number; fail?: (tag: number, attempt: number) => Error | undefined } = {}) {
  const calls: { segment: string; question: string }[] = [];
  const attempts = new Map<number, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const scorer: CertaintyScorer = {
    measure: 'scripted',
    async uncertainty(segment, question) {
      calls.push({ segment, question });
      const tag = tagOf(segment);
      const attempt = (attempts.get(tag) ?? 0) + 1;
      attempts.set(tag, attempt);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const delay = behaviour.delayMs?.(tag) ?? 0;
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        const failure = behaviour.fail?.(tag, attempt);
        if (failure) throw failure;
        return VALUES[tag]!;
      } finally {
        inFlight--;
      }
    },
  };
  return { scorer, calls, maxInFlight: () => maxInFlight };
}

function scriptedModel(contextWindow = 2048): { model: ModelHandle; chat: ScriptedChatModel } {
  const chat = new ScriptedChatModel(() => 'The keeper signed the harbour ledger.');
  return { chat, model: modelHandleFrom(chat, { contextWindow, name: 'scripted' }) };
}

async function run(options: Xl3mOptions, settings: { concurrency?: number; checkpointPath?: string; text?: string; question?: string } = {}) {
  const { model, chat } = scriptedModel();
  const executor = new InProcessExecutor({ retry: { minDelayMs: 1, maxDelayMs: 2 } });
  const pipeline = xl3mAnswer({ model, executor, concurrency: settings.concurrency ?? 4, checkpointPath: settings.checkpointPath }, { segmentTokens: 64, overlapTokens: 0, ...options });
  const events: ProgressEvent[] = [];
  const stream = pipeline.streamProgress({ document: documentFromText(settings.text ?? TEXT, 'ledger'), question: 'question' in settings ? settings.question : QUESTION });
  let next = await stream.next();
  for (; !next.done; next = await stream.next()) events.push(next.value);
  const answerCalls = chat.callsOf('answer');
  return { result: next.value, answerCalls, events };
}

/** Where a paragraph's text starts in TEXT. */
const startOf = (tag: number) => TEXT.indexOf(`P${tag} `);

describe('aggregateCertainty (hand-computed distributions)', () => {
  // Three question positions: p = (0.5, 0.5) then token 0; p = (0.9, 0.1) then token 1; p = uniform over 4 then token 2.
  const scores = {
    entropies: [Math.LN2, -(0.9 * Math.log(0.9) + 0.1 * Math.log(0.1)), Math.log(4)],
    logProbs: [Math.log(0.5), Math.log(0.1), Math.log(0.25)],
  };

  it('mean-entropy is the mean entropy of the next-token distributions: (ln 2 + 0.325083 + ln 4) / 3', () => {
    expect(scores.entropies[1]).toBeCloseTo(0.325083, 6);
    expect(aggregateCertainty(scores, 'mean-entropy')).toBeCloseTo((0.693147 + 0.325083 + 1.386294) / 3, 6);
  });

  it('mean-nll is the mean negative log-probability of the actual tokens: (ln 2 + ln 10 + ln 4) / 3', () => {
    expect(aggregateCertainty(scores, 'mean-nll')).toBeCloseTo((0.693147 + 2.302585 + 1.386294) / 3, 6);
  });

  it('a certain model scores 0 on both; an empty question or unknown measure is a typed error', () => {
    expect(aggregateCertainty({ entropies: [0, 0], logProbs: [0, 0] }, 'mean-entropy')).toBe(0);
    expect(aggregateCertainty({ entropies: [0, 0], logProbs: [0, 0] }, 'mean-nll')).toBe(0);
    expect(() => aggregateCertainty({ entropies: [], logProbs: [] }, 'mean-entropy')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => aggregateCertainty(scores, 'sum' as never)).toThrow(/measure/);
  });

  it('promptCertaintyScorer scores [segment, question] with score() and aggregates with the chosen measure', async () => {
    const seen: [string, string][] = [];
    const engine: PromptScorer = {
      async score(context, continuation): Promise<ContinuationScores> {
        seen.push([context, continuation]);
        return { tokenIds: [1, 2, 3], contextTokens: 7, ...scores };
      },
    };
    expect(await promptCertaintyScorer(engine).uncertainty('A segment.', 'Why?')).toBeCloseTo(aggregateCertainty(scores, 'mean-entropy'), 12);
    expect(await promptCertaintyScorer(engine, 'mean-nll').uncertainty('A segment.\n\n', 'Why?')).toBeCloseTo(aggregateCertainty(scores, 'mean-nll'), 12);
    // A segment that does not end in whitespace gets a line break, so the question starts a new word.
    expect(seen).toEqual([
      ['A segment.\n', 'Why?'],
      ['A segment.\n\n', 'Why?'],
    ]);
    expect(subContext('')).toBe('');
    expect(() => promptCertaintyScorer(engine, 'max' as never)).toThrow(/measure/);
  });
});

describe('selectKeySegments and spliceKeySegments', () => {
  const segment = (index: number, value: number, tokens = 10): ScoredSegment => ({ index, value, tokens, charStart: index * 100, charEnd: index * 100 + 110, byteStart: index * 100, byteEnd: index * 100 + 110 });
  const scored = [segment(0, 2), segment(1, 0.5), segment(2, 0.5), segment(3, 1, 40), segment(4, 0.2), segment(5, 3)];

  it('keeps the lowest values first, ties by position, returned in document order', () => {
    expect(selectKeySegments(scored, { budgetTokens: 1000, k: 3, separatorTokens: 0 }).map((s) => s.index)).toEqual([1, 2, 4]);
    expect(selectKeySegments(scored, { budgetTokens: 1000, k: 2, separatorTokens: 0 }).map((s) => s.index)).toEqual([1, 4]);
  });

  it('skips a segment that would overflow the budget and takes the next that fits', () => {
    // 4 (10+2), 1 (12), 2 (12) = 36; 3 costs 42 → skipped; 0 fits (48); 5 would make 60 > 50.
    expect(selectKeySegments(scored, { budgetTokens: 50, separatorTokens: 2 }).map((s) => s.index)).toEqual([0, 1, 2, 4]);
    expect(selectKeySegments(scored, { budgetTokens: 5, separatorTokens: 2 })).toEqual([]);
  });

  it('a threshold keeps only segments at or below it', () => {
    expect(selectKeySegments(scored, { budgetTokens: 1000, threshold: 0.5 }).map((s) => s.index)).toEqual([1, 2, 4]);
  });

  it('the same scores in any order select the same segments', () => {
    const shuffled = [scored[3]!, scored[5]!, scored[1]!, scored[0]!, scored[4]!, scored[2]!];
    expect(selectKeySegments(shuffled, { budgetTokens: 50, separatorTokens: 2 })).toEqual(selectKeySegments(scored, { budgetTokens: 50, separatorTokens: 2 }));
  });

  it('splices neighbours into one passage (their overlap read once) and starts a new passage after a gap', () => {
    const passages = spliceKeySegments([segment(1, 0), segment(2, 0), segment(4, 0)]);
    expect(passages).toEqual([
      { first: 1, last: 2, charStart: 100, charEnd: 310, byteStart: 100, byteEnd: 310 },
      { first: 4, last: 4, charStart: 400, charEnd: 510, byteStart: 400, byteEnd: 510 },
    ]);
  });

  it('rejects a nonsensical k or threshold', () => {
    expect(() => selectKeySegments(scored, { budgetTokens: 10, k: 0 })).toThrow(/k/);
    expect(() => selectKeySegments(scored, { budgetTokens: 10, threshold: Number.NaN })).toThrow(/threshold/);
  });
});

describe('textTail: the question is the input’s last tokens', () => {
  const text = 'Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.\nWhere did Ishmael go?\n';

  it('takes the shortest tail that starts at a word and holds at least questionTokens tokens', () => {
    const tail = textTail(text, 6, approximateTokenCounter);
    expect(tail.tokens).toBeGreaterThanOrEqual(6);
    expect(tail.tokens).toBe(approximateTokenCounter.count(tail.question));
    expect(tail.question).toBe(text.slice(tail.charStart));
    expect(text[tail.charStart - 1]).toMatch(/\s/);
    expect(tail.byteStart).toBe(tail.charStart);
    // Starting one word later would hold too few.
    const next = text.slice(tail.charStart).search(/\s\S/);
    expect(approximateTokenCounter.count(text.slice(tail.charStart + next + 1))).toBeLessThan(6);
  });

  it('is the question readInputTail finds in the same text as a file', async () => {
    const file = join(directory, 'tail.txt');
    writeFileSync(file, text);
    for (const questionTokens of [1, 4, 9, 20]) expect(textTail(text, questionTokens, approximateTokenCounter)).toEqual(await readInputTail(file, questionTokens, approximateTokenCounter));
  });

  it('refuses a question longer than the whole input', () => {
    expect(() => textTail('Too short.', 50, approximateTokenCounter)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('questionTokens') }));
  });
});

describe('scoreSegmentStream: bounded fan-out over a stream', () => {
  it('reads at most `concurrency` segments ahead of the scores, and returns them keyed by index', async () => {
    let pulled = 0;
    let finished = 0;
    let maxAhead = 0;
    async function* stream(): AsyncGenerator<StreamedSegment> {
      for (let index = 0; index < 40; index++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - finished);
        yield { index, start: index * 10, end: index * 10 + 10, overlapStart: index * 10, byteStart: index * 10, byteEnd: index * 10 + 10, text: `s${index}`, tokens: 3 };
      }
    }
    const context = new RunContext(scriptedModel().model, new InProcessExecutor(), new NoCheckpoint(), 3, () => {});
    // Later segments finish first: completion order is not index order.
    const scored = await scoreSegmentStream(context, { name: 'certainty' }, stream(), async (segment) => {
      await new Promise((resolve) => setTimeout(resolve, (40 - segment.index) % 7));
      finished++;
      return segment.index / 10;
    }, () => 40);
    expect(maxAhead).toBeLessThanOrEqual(3 + 1);
    expect(scored.map((segment) => segment.index)).toEqual(Array.from({ length: 40 }, (_, index) => index));
    expect(scored.map((segment) => segment.value)).toEqual(Array.from({ length: 40 }, (_, index) => index / 10));
  });
});

describe('xl3mAnswer with a scripted certainty scorer', () => {
  it('known uncertainties → the k most certain segments, spliced in document order, answered once', async () => {
    const { scorer, calls } = scriptedScorer();
    const { result, answerCalls } = await run({ certaintyScorer: scorer, k: 3 });
    expect(result.scored).toBe(PARAGRAPHS);
    expect(calls).toHaveLength(PARAGRAPHS);
    expect(calls.every((call) => call.question === QUESTION)).toBe(true);
    expect(result.selected.map((segment) => segment.index)).toEqual([2, 7, 10]);
    expect(result.selected.map((segment) => segment.entropy)).toEqual([0.4, 0.1, 0.9]);
    for (const segment of result.selected) expect(segment.charStart).toBe(startOf(segment.index));
    expect(result.evidence.map((evidence) => evidence.segment)).toEqual([2, 7, 10]);
    // The answer reads the chosen paragraphs in document order, separated, and nothing else.
    expect(answerCalls).toHaveLength(1);
    const source = (answerCalls[0]!.task as { source: string }).source;
    const passages = source.split('\n\n[…]\n\n').map((passage) => passage.trim());
    expect(passages).toEqual([paragraph(2), paragraph(7), paragraph(10)]);
    expect(result).toMatchObject({ method: 'xl3m', model: 'scripted', measure: 'scripted', question: QUESTION, answer: 'The keeper signed the harbour ledger.', modelCalls: PARAGRAPHS + 1 });
    expect(result.elapsedMs).toBeGreaterThanOrEqual(0);
  });

  it('without k, keeps the most certain segments that fit the budget', async () => {
    const { scorer } = scriptedScorer();
    const segments = segmentText(TEXT, { maxTokens: 64, counter: approximateTokenCounter });
    const separator = approximateTokenCounter.count('\n\n[…]\n\n') + 1;
    const cost = (tag: number) => segments[tag]!.tokens + separator;
    // Room for exactly the three most certain (7, 2, 10), not a fourth.
    const budgetTokens = cost(7) + cost(2) + cost(10) + 1;
    const { result } = await run({ certaintyScorer: scorer, budgetTokens });
    expect(result.selected.map((segment) => segment.index)).toEqual([2, 7, 10]);
    // With the window's own budget, all twelve fit.
    const { result: all } = await run({ certaintyScorer: scriptedScorer().scorer });
    expect(all.selected).toHaveLength(PARAGRAPHS);
  });

  it('a threshold keeps only segments at most that uncertain; ties are broken by position', async () => {
    const { result } = await run({ certaintyScorer: scriptedScorer().scorer, threshold: 1.5 });
    expect(result.selected.map((segment) => segment.index)).toEqual([2, 4, 7, 9, 10]);
    const { result: tie } = await run({ certaintyScorer: scriptedScorer().scorer, k: 4 });
    // 7, 2, 10, then 4 and 9 tie at 1.5: the earlier one wins.
    expect(tie.selected.map((segment) => segment.index)).toEqual([2, 4, 7, 10]);
  });

  it('neighbouring segments with overlap are spliced into one passage that reads the overlap once', async () => {
    const { result, answerCalls } = await run({ certaintyScorer: scriptedScorer().scorer, overlapTokens: 8, k: 2, threshold: 0.4 });
    expect(result.selected.map((segment) => segment.index)).toEqual([2, 7]);
    const { result: pair, answerCalls: pairCalls } = await run({ certaintyScorer: { measure: 'pair', uncertainty: async (segment) => ([6, 7].includes(tagOf(segment)) ? 0 : 1) }, overlapTokens: 8, k: 2 });
    expect(pair.selected.map((segment) => segment.index)).toEqual([6, 7]);
    const source = (pairCalls[0]!.task as { source: string }).source;
    // One passage from the start of segment 6 (its overlap included) to the end of segment 7: TEXT itself, no repeat.
    expect(source).toBe(TEXT.slice(pair.selected[0]!.charStart, pair.selected[1]!.charEnd));
    expect(source).not.toContain('[…]');
    expect(answerCalls).toHaveLength(1);
  });

  it('without a question, the last tokens of the input are the question and are not scored as context', async () => {
    const { scorer, calls } = scriptedScorer();
    const { result } = await run({ certaintyScorer: scorer, questionTokens: 12, k: 2 }, { question: undefined });
    expect(result.question.length).toBeGreaterThan(0);
    expect(TEXT.endsWith(result.question)).toBe(true);
    expect(approximateTokenCounter.count(result.question)).toBeGreaterThanOrEqual(12);
    expect(calls.every((call) => call.question === result.question)).toBe(true);
    // The last paragraph is scored without its tail.
    const last = calls.find((call) => tagOf(call.segment) === PARAGRAPHS - 1)!;
    expect(last.segment.endsWith(result.question)).toBe(false);
    expect(TEXT.length - result.question.length).toBeGreaterThanOrEqual(TEXT.indexOf(last.segment) + last.segment.length);
  });

  it('parallel and sequential runs select and splice identically', async () => {
    const delayMs = (tag: number) => ((tag * 7) % 5) * 3;
    const parallel = scriptedScorer({ delayMs });
    const sequential = scriptedScorer({ delayMs });
    const a = await run({ certaintyScorer: parallel.scorer, k: 4 }, { concurrency: 6 });
    const b = await run({ certaintyScorer: sequential.scorer, k: 4 }, { concurrency: 1 });
    expect(parallel.maxInFlight()).toBeGreaterThan(1);
    expect(sequential.maxInFlight()).toBe(1);
    expect(a.result.selected).toEqual(b.result.selected);
    expect(a.answerCalls[0]!.task).toEqual(b.answerCalls[0]!.task);
  });

  it('a segment task that fails transiently is retried and changes nothing', async () => {
    const flaky = scriptedScorer({ fail: (tag, attempt) => (tag === 7 && attempt === 1 ? Object.assign(new Error('rate limited'), { status: 429 }) : undefined) });
    const { result, events } = await run({ certaintyScorer: flaky.scorer, k: 3 });
    expect(events).toContainEqual(expect.objectContaining({ type: 'step-retry', stage: 'certainty', index: 7 }));
    const clean = await run({ certaintyScorer: scriptedScorer().scorer, k: 3 });
    expect(result.selected).toEqual(clean.result.selected);
    expect(result.scored).toBe(PARAGRAPHS);
  });

  it('a run that fails on one segment resumes from its checkpoint, scoring only what is missing, to the same selection', async () => {
    const checkpointPath = join(directory, 'resume.checkpoint');
    const broken = scriptedScorer({ fail: (tag) => (tag === 5 ? new Error('engine crashed') : undefined) });
    await expect(run({ certaintyScorer: broken.scorer, k: 3 }, { concurrency: 1, checkpointPath })).rejects.toMatchObject({ code: 'STEP_FAILED', message: expect.stringContaining('certainty[5]') });
    const fixed = scriptedScorer();
    const resumed = await run({ certaintyScorer: fixed.scorer, k: 3 }, { concurrency: 1, checkpointPath });
    expect(fixed.calls.map((call) => tagOf(call.segment))).toEqual([5, 6, 7, 8, 9, 10, 11]);
    const clean = await run({ certaintyScorer: scriptedScorer().scorer, k: 3 });
    expect(resumed.result.selected).toEqual(clean.result.selected);
    expect(resumed.result.scored).toBe(PARAGRAPHS);
  });

  it('a file input is streamed to the same selection and splice; a rerun with its checkpoint sends no model call', async () => {
    const file = join(directory, 'ledger.txt.in');
    writeFileSync(file, TEXT.replace(/\n/g, '\r\n'));
    const checkpointPath = join(directory, 'file.checkpoint');
    const fromFile = async () => {
      const { model, chat } = scriptedModel();
      const pipeline = xl3mAnswer({ model, checkpointPath }, { certaintyScorer: scriptedScorer().scorer, segmentTokens: 64, overlapTokens: 8, k: 3 });
      return { result: await pipeline.invoke({ path: file, question: QUESTION }), answerCalls: chat.callsOf('answer') };
    };
    const streamed = await fromFile();
    const inMemory = await run({ certaintyScorer: scriptedScorer().scorer, overlapTokens: 8, k: 3 });
    expect(streamed.result.selected).toEqual(inMemory.result.selected);
    // Read back from the file by byte offsets (CRLF normalized): the same passages as the text in memory.
    expect(streamed.answerCalls[0]!.task).toEqual(inMemory.answerCalls[0]!.task);
    const rerun = await fromFile();
    expect(rerun.result.modelCalls).toBe(0);
    expect(rerun.result.answer).toBe(streamed.result.answer);
    expect(rerun.result.selected).toEqual(streamed.result.selected);
  });

  it('reports progress over the scored segments', async () => {
    const { events } = await run({ certaintyScorer: scriptedScorer().scorer, k: 1 });
    const start = events.find((event) => event.type === 'stage-start' && event.stage === 'certainty');
    expect(start).toMatchObject({ total: expect.any(Number) });
    const steps = events.filter((event) => event.type === 'step-end' && event.stage === 'certainty');
    expect(steps).toHaveLength(PARAGRAPHS);
    expect(steps.at(-1)).toMatchObject({ done: PARAGRAPHS });
  });

  it('is the xl3m method of askPipeline and the ask-xl3m registered pipeline (question optional)', async () => {
    const { model } = scriptedModel();
    const viaAsk = (await askPipeline('xl3m', { model }, { certaintyScorer: scriptedScorer().scorer, segmentTokens: 64, overlapTokens: 0, k: 3 }).invoke({ document: TEXT, question: QUESTION })) as Xl3mResult;
    expect(viaAsk.selected.map((segment) => segment.index)).toEqual([2, 7, 10]);
    // Registered pipelines use the model's own scorer: a chat model has none.
    expect(() => getPipeline('ask-xl3m').create({ model }, {})).toThrow(/next-token distributions/);
    // A model that can score text (as local engines do): per-token entropies = the paragraph's value.
    const engineLike: PromptScorer = {
      async score(context) {
        const value = VALUES[tagOf(context)]!;
        return { tokenIds: [1, 2], contextTokens: 1, entropies: [value, value], logProbs: [-2 * value, 0] };
      },
    };
    const scoring = modelHandleFrom(new ScriptedChatModel(() => 'ok'), { contextWindow: 2048, name: 'scoring', scorer: engineLike });
    const registered = getPipeline('ask-xl3m').create({ model: scoring }, { segmentTokens: '64', overlapTokens: '0', k: '3', questionTokens: '8' });
    const fromTail = (await registered.invoke(TEXT)) as Xl3mResult;
    expect(fromTail.selected.map((segment) => segment.index)).toEqual([2, 7, 10]);
    expect(TEXT.endsWith(fromTail.question)).toBe(true);
    expect(() => getPipeline('ask-xl3m').create({ model: scoring }, { segments: '3' })).toThrow(/--option segments/);
  });
});

describe('xl3m with a model that cannot score text', () => {
  it('is refused before any work, naming the reason and the alternatives', () => {
    const { model } = scriptedModel();
    let error: unknown;
    try {
      xl3mAnswer({ model });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'MODEL_SPEC_INVALID' });
    const { message, fix } = error as { message: string; fix: string };
    expect(message).toMatch(/chat APIs expose no next-token distributions/);
    for (const alternative of ['coa', 'scm', 'rag', 'onnx:']) expect(fix).toContain(alternative);
  });

  it('rejects budgets that cannot work', async () => {
    const { scorer } = scriptedScorer();
    await expect(run({ certaintyScorer: scorer, segmentTokens: 4000 })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('segmentTokens') });
    await expect(run({ certaintyScorer: scorer, budgetTokens: 10 })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('budgetTokens') });
    await expect(run({ certaintyScorer: scorer }, { text: '   \n\n  ' })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('document') });
    expect(() => xl3mAnswer({ model: scriptedModel().model }, { certaintyScorer: scorer, measure: 'max' as never })).toThrow(/measure/);
    expect(() => xl3mAnswer({ model: scriptedModel().model }, { certaintyScorer: scorer, questionTokens: 0 })).toThrow(/questionTokens/);
  });
});

describe('tome ask --method xl3m', () => {
  const file = join(directory, 'ledger.txt');
  writeFileSync(file, TEXT);
  const tome = (...args: string[]) => spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TOME_DEBUG: '' } });

  it('with a model that cannot score text: exit 2 and a message naming the reason and the alternatives', () => {
    const { status, stderr } = tome('ask', file, QUESTION, '--method', 'xl3m');
    expect(status).toBe(2);
    expect(stderr).toMatch(/next-token distributions/);
    expect(stderr).toMatch(/coa, scm or rag/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('only xl3m may go without a question; a bad --select is a usage error', () => {
    const missing = tome('ask', file, '--method', 'rag');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/question/);
    const select = tome('ask', file, '--method', 'xl3m', '--select', 'most');
    expect(select.status).toBe(2);
    expect(select.stderr).toMatch(/--select/);
  });
});
