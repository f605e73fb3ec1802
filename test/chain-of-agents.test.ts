import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { ChatGenerationChunk } from '@langchain/core/outputs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JUDGE_REPLY_TOKENS, parseJudgeReply } from '../agents/coa/judge.js';
import { ChainManager } from '../agents/coa/manager.js';
import { collapseWhitespace, containsCollapsed, noteSentences } from '../agents/coa/notes.js';
import { ChainWorker } from '../agents/coa/worker.js';
import { wordLimitForTokens } from '../agents/summarizer/validity.js';
import {
  addsChunkMaterial,
  chainOfAgentsAnswer,
  chainOfAgentsSummary,
  coaChunkBudget,
  coaReadingPaths,
  type ChainOfAgentsAnswerOptions,
} from '../pipelines/chain-of-agents.js';
import { TomeError } from '../src/errors.js';
import { resolveModel } from '../src/models/model-spec.js';
import type { ProgressEvent } from '../src/pipeline/progress.js';
import { segmentText } from '../src/segmentation.js';
import type { CompressTask, JudgeTask, ManagerStepTask, ModelTask, WorkerStepTask } from '../src/tasks.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import { handleFor, mobyDick, mobyDickChapter, syntheticBook } from './helpers/books.js';
import { ScriptedChatModel, type RecordedCall, type ScriptedReply } from './helpers/scripted-chat-model.js';

const WINDOW = 1024;
const MAX_CU = 200;
const ANSWER_TOKENS = 60;
const OPTIONS = { maxCuTokens: MAX_CU, answerTokens: ANSWER_TOKENS };
const CU_WORDS = wordLimitForTokens(MAX_CU);
const QUESTION = 'Where does the ship sail?';
const BOOK = syntheticBook(20);

/**
 * Tagged notes of exactly `words` words costing about one token each (`sentenceOfWords`'s "w12" fillers cost two
 * tokens a word, which would put every CU over its token budget).
 */
const notes = (label: string, words: number) => `${[label, ...Array<string>(Math.max(0, words - 1)).fill('sea')].join(' ')}.`;

/** A tag that no other tag contains (`unit1x` is not inside `unit12x`). */
const tag = (call: RecordedCall) => `unit${call.index}x`;

/** Workers write tagged notes at 90% of their word limit; the manager and the judge answer plainly. */
function obedient(task: ModelTask, call: RecordedCall): ScriptedReply {
  if (task.kind === 'judge') return '1';
  return notes(tag(call), Math.floor(task.wordLimit * 0.9));
}

async function run(options: ChainOfAgentsAnswerOptions = {}, script: (task: ModelTask, call: RecordedCall) => ScriptedReply = obedient, document = BOOK, question = QUESTION) {
  const model = new ScriptedChatModel(script);
  const events: ProgressEvent[] = [];
  const stream = chainOfAgentsAnswer({ model: handleFor(model, WINDOW), concurrency: 1 }, { ...OPTIONS, ...options }).streamProgress({ document, question });
  let next = await stream.next();
  while (!next.done) {
    events.push(next.value);
    next = await stream.next();
  }
  return { model, result: next.value, events };
}

/** The chunk budget B the pipeline must use for `question`. */
async function budgetFor(question: string | undefined, maxCuTokens = MAX_CU): Promise<number> {
  const worker = new ChainWorker(handleFor(new ScriptedChatModel(obedient), WINDOW));
  return coaChunkBudget({
    contextWindow: WINDOW,
    queryTokens: question === undefined ? 0 : approximateTokenCounter.count(question),
    workerPromptTokens: await worker.fixedPromptTokens(question !== undefined, maxCuTokens),
    maxCuTokens,
  });
}

function reservedFor(task: ModelTask): number {
  switch (task.kind) {
    case 'worker-step':
    case 'compress':
      return MAX_CU;
    case 'manager-step':
      return ANSWER_TOKENS;
    case 'judge':
      return JUDGE_REPLY_TOKENS;
    default:
      throw new Error(`unexpected task ${task.kind}`);
  }
}

const workersOf = (model: ScriptedChatModel) => model.callsOf('worker-step').map((call) => call.task as WorkerStepTask);
const messageText = (messages: readonly BaseMessage[]) => messages.map((message) => String(message.content)).join('\n');

describe('chain of agents: call graph', () => {
  it('runs the workers in order over every segment, carrying each CU to the next, then asks the manager once', async () => {
    const { model, result } = await run();
    const segments = segmentText(BOOK, { maxTokens: await budgetFor(QUESTION) });
    expect(segments.length).toBeGreaterThan(4);
    expect(model.calls.map((call) => call.task.kind)).toEqual([...Array<string>(segments.length).fill('worker-step'), 'manager-step']);

    const workers = workersOf(model);
    expect(workers.map((task) => task.source)).toEqual(segments.map((segment) => segment.text));
    expect(workers.map((task) => task.source).join('')).toBe(BOOK);
    workers.forEach((task, position) => {
      expect(task.query).toBe(QUESTION);
      expect(task.wordLimit).toBe(CU_WORDS);
      // Carry-over: the first worker starts from nothing; every later one gets exactly what the one before wrote.
      expect(task.previous).toBe(position === 0 ? '' : notes(`unit${position - 1}x`, Math.floor(CU_WORDS * 0.9)));
    });

    const managerCall = model.callsOf('manager-step')[0]!;
    const manager = managerCall.task as ManagerStepTask;
    const lastCu = notes(`unit${segments.length - 1}x`, Math.floor(CU_WORDS * 0.9));
    expect(manager.communication).toBe(lastCu);
    expect(manager.query).toBe(QUESTION);
    expect(manager.wordLimit).toBe(wordLimitForTokens(ANSWER_TOKENS));
    // The manager sees the last CU only: no earlier CU, and none of the document's text.
    const prompt = messageText(managerCall.messages);
    expect(prompt).toContain(lastCu);
    for (let earlier = 0; earlier < segments.length - 1; earlier++) expect(prompt).not.toContain(`unit${earlier}x`);
    expect(prompt).not.toContain(segments[0]!.text.slice(0, 60));

    expect(result).toMatchObject({ method: 'coa', model: 'scripted', modelCalls: segments.length + 1, answer: notes(`unit${segments.length}x`, Math.floor(wordLimitForTokens(ANSWER_TOKENS) * 0.9)) });
    expect(result.communicationUnits).toBeUndefined();
  });

  it('reads right to left when asked, and still reports evidence by document segment', async () => {
    const { model, result } = await run({ readingOrder: 'right-to-left' });
    const segments = segmentText(BOOK, { maxTokens: await budgetFor(QUESTION) });
    const sources = workersOf(model).map((task) => task.source);
    expect(sources).toEqual(segments.map((segment) => segment.text).reverse());
    expect([...sources].reverse().join('')).toBe(BOOK);
    expect(workersOf(model)[0]!.previous).toBe('');
    // Every step changed the CU and none quoted its chunk: the fallback names every segment, in document order.
    expect(result.evidence.map((evidence) => evidence.segment)).toEqual(segments.map((segment) => segment.index));
  });

  it('returns every communication unit with returnIntermediateSteps', async () => {
    const { model, result } = await run({ returnIntermediateSteps: true, readingOrder: 'right-to-left' });
    const segments = segmentText(BOOK, { maxTokens: await budgetFor(QUESTION) });
    const workerCalls = model.callsOf('worker-step');
    expect(result.communicationUnits).toEqual(
      workerCalls.map((call, position) => ({ segment: segments.length - 1 - position, text: notes(tag(call), Math.floor(CU_WORDS * 0.9)) })),
    );
  });

  it('runs the query-free variant as a summary pipeline', async () => {
    const model = new ScriptedChatModel(obedient);
    const result = await chainOfAgentsSummary({ model: handleFor(model, WINDOW) }, { maxCuTokens: MAX_CU, answerTokens: 150 }).invoke(BOOK);
    const segments = segmentText(BOOK, { maxTokens: await budgetFor(undefined) });
    expect(model.calls.map((call) => call.task.kind)).toEqual([...Array<string>(segments.length).fill('worker-step'), 'manager-step']);
    for (const task of workersOf(model)) expect(task.query).toBeUndefined();
    const manager = model.callsOf('manager-step')[0]!.task as ManagerStepTask;
    expect(manager.query).toBeUndefined();
    expect(manager.wordLimit).toBe(wordLimitForTokens(150));
    expect(result).toMatchObject({ method: 'coa', chunks: segments.length, levels: 1, modelCalls: segments.length + 1 });
    expect(result.summary).toBe(notes(`unit${segments.length}x`, Math.floor(wordLimitForTokens(150) * 0.9)));
  });

  it('passes a custom manager instruction to the manager prompt', async () => {
    const { model } = await run({ managerInstruction: 'Reply with the name of the port only.' });
    expect(messageText(model.callsOf('manager-step')[0]!.messages)).toContain('Reply with the name of the port only.');
  });
});

describe('chain of agents: budgets', () => {
  it('sends no prompt that, with its reserved answer, exceeds the window; no chunk exceeds B', async () => {
    const budget = await budgetFor(QUESTION);
    let giant = false;
    const { model } = await run({ paths: 3 }, (task, call) => {
      if (task.kind === 'judge') return '2';
      // Every worker at its full word limit, one of them far beyond the window.
      if (task.kind === 'worker-step' && call.index === 3 && !giant) {
        giant = true;
        return notes('giant', 3000);
      }
      return notes(tag(call), task.wordLimit);
    });
    expect(model.callsOf('compress').length).toBeGreaterThan(0);
    expect(model.callsOf('judge')).toHaveLength(1);
    for (const call of model.calls) expect(call.promptTokens + reservedFor(call.task), `call ${call.index} (${call.task.kind})`).toBeLessThanOrEqual(WINDOW);
    for (const task of workersOf(model)) {
      expect(approximateTokenCounter.count(task.source)).toBeLessThanOrEqual(budget);
      expect(approximateTokenCounter.count(task.previous)).toBeLessThanOrEqual(MAX_CU);
    }
  });

  it('compresses an over-long CU before the next worker sees it', async () => {
    const { model, events } = await run({}, (task, call) => {
      if (task.kind === 'worker-step' && call.index === 2) return notes('overlong', 400);
      if (task.kind === 'compress') return notes('compressed', 100);
      return obedient(task, call);
    });
    expect(model.calls.slice(0, 5).map((call) => call.task.kind)).toEqual(['worker-step', 'worker-step', 'worker-step', 'compress', 'worker-step']);
    const compress = model.calls[3]!.task as CompressTask;
    expect(compress.summary).toBe(notes('overlong', 400));
    expect(compress.wordLimit).toBe(CU_WORDS);
    expect((model.calls[4]!.task as WorkerStepTask).previous).toBe(notes('compressed', 100));
    expect(events.filter((event) => event.type === 'summary-compressed')).toEqual([
      { type: 'summary-compressed', stage: 'workers/path-1', index: 2, fromWords: 400, toWords: 100, targetWords: CU_WORDS },
    ]);
  });

  it('retries compression three times, then cuts the CU to whole sentences within budget', async () => {
    const longNotes = Array.from({ length: 40 }, (_, index) => `Note ${index} says the whale was seen near the port again today.`).join(' ');
    const { model, events } = await run({}, (task, call) => {
      if (task.kind === 'worker-step' && call.index === 1) return longNotes;
      if (task.kind === 'compress') return longNotes; // a model that will not shorten anything
      return obedient(task, call);
    });
    const compressions = model.callsOf('compress').map((call) => call.task as CompressTask);
    expect(compressions.map((task) => task.wordLimit)).toEqual([CU_WORDS, Math.floor(CU_WORDS * 0.9), Math.floor(CU_WORDS * 0.81)]);
    const next = workersOf(model)[2]!;
    expect(approximateTokenCounter.count(next.previous)).toBeLessThanOrEqual(MAX_CU);
    expect(longNotes.startsWith(next.previous)).toBe(true);
    expect(next.previous.endsWith('again today.')).toBe(true);
    expect(events.filter((event) => event.type === 'summary-compressed')).toHaveLength(1);
  });
});

describe('chain of agents: reading paths and the judge', () => {
  it('three paths → three managers and one judge; the judged answer wins', async () => {
    const { model, result } = await run({ paths: 3, returnIntermediateSteps: true }, (task, call) => {
      if (task.kind === 'judge') return 'Candidate 3 is the most specific.';
      if (task.kind === 'manager-step') return `Answer from manager ${call.index}.`;
      return obedient(task, call);
    });
    const segments = segmentText(BOOK, { maxTokens: await budgetFor(QUESTION) });
    const n = segments.length;
    expect(model.calls.map((call) => call.task.kind)).toEqual([...Array<string>(3 * n).fill('worker-step'), 'manager-step', 'manager-step', 'manager-step', 'judge']);

    const orders = coaReadingPaths(n, 3);
    const workers = workersOf(model);
    orders.forEach((order, path) => {
      const sources = workers.slice(path * n, (path + 1) * n).map((task) => task.source);
      expect(sources).toEqual(order.map((index) => segments[index]!.text));
      expect(workers[path * n]!.previous).toBe('');
    });
    expect(orders[0]).toEqual([...Array(n).keys()]);
    expect(orders[1]).toEqual([...Array(n).keys()].reverse());
    expect([...orders[2]!].sort((a, b) => a - b)).toEqual([...Array(n).keys()]);

    // Each manager sees the last CU of its own path.
    const managers = model.callsOf('manager-step');
    managers.forEach((call, path) => {
      expect((call.task as ManagerStepTask).communication).toBe(notes(`unit${(path + 1) * n - 1}x`, Math.floor(CU_WORDS * 0.9)));
    });
    const judge = model.callsOf('judge')[0]!.task as JudgeTask;
    expect(judge.candidates).toEqual(managers.map((call) => `Answer from manager ${call.index}.`));
    expect(judge.query).toBe(QUESTION);
    expect(result.answer).toBe(`Answer from manager ${managers[2]!.index}.`);
    // The intermediate steps are those of the chosen (third) path.
    expect(result.communicationUnits!.map((unit) => unit.segment)).toEqual(orders[2]);
  });

  it('reads the judge leniently: first integer in range, else 1', () => {
    expect(parseJudgeReply('2', 3)).toBe(2);
    expect(parseJudgeReply('Of the 3 candidates, I pick 2.', 3)).toBe(3);
    expect(parseJudgeReply('Candidate 7 is wrong; candidate 2 is right', 3)).toBe(2);
    expect(parseJudgeReply('0', 3)).toBe(1);
    expect(parseJudgeReply('none of them', 3)).toBe(1);
  });
});

describe('chain of agents: evidence', () => {
  const paragraphs = Array.from({ length: 60 }, (_, index) =>
    index === 37 ? 'The harbour master keeps the secret code in a box. The secret harbour code is 48213. Nobody else knows it.' : `Paragraph ${index} describes the open sea and the long watch on deck. The wind was steady that day.`,
  );
  const document = paragraphs.join('\n\n');

  it('names the segments whose worker added a sentence quoted from its chunk', async () => {
    const { result, model } = await run({ maxCuTokens: 200 }, (task, call) => {
      if (task.kind === 'worker-step') {
        const quoted = task.source.includes('48213') ? 'The secret harbour code is 48213.' : '';
        const kept = task.previous.includes('48213') ? 'The secret harbour code is 48213.' : '';
        return [kept || quoted, `Checked part ${call.index} of the text.`].filter(Boolean).join(' ');
      }
      return obedient(task, call);
    }, document, 'What is the secret harbour code?');
    const segments = segmentText(document, { maxTokens: await budgetFor('What is the secret harbour code?') });
    expect(segments.length).toBeGreaterThan(1);
    const holding = segments.find((segment) => segment.text.includes('48213'))!;
    expect(model.callsOf('worker-step')).toHaveLength(segments.length);
    expect(result.evidence).toEqual([{ segment: holding.index, charStart: holding.start, charEnd: holding.end }]);
  });

  it('counts only new sentences found verbatim in the chunk (whitespace aside)', () => {
    const chunk = 'The crew\nsailed at dawn. The captain\nwas silent.';
    expect(addsChunkMaterial('The crew sailed at dawn.', '', chunk)).toBe(true);
    expect(addsChunkMaterial('The crew sailed at dawn.', 'The crew sailed at dawn.', chunk)).toBe(false);
    expect(addsChunkMaterial('The crew left at noon.', '', chunk)).toBe(false);
    expect(addsChunkMaterial('- The captain was silent.\n- Nothing else.', '', chunk)).toBe(true);
  });

  it('finds sentences across line breaks exactly as collapsing the chunk and searching would', () => {
    const chapter = mobyDickChapter(1);
    const flat = collapseWhitespace(chapter);
    const sentences = noteSentences(chapter);
    expect(sentences.length).toBeGreaterThan(50);
    for (const sentence of sentences) expect(containsCollapsed(chapter, sentence)).toBe(true);
    // Near misses: a changed word, a space where the text has none, text from elsewhere.
    const probes = sentences.flatMap((sentence) => [sentence.replace(/\b\w+\b/, 'Zebra'), sentence.replace(/(\w)(\w)/, '$1 $2'), `${sentence} Zebra`]);
    for (const probe of probes) expect(containsCollapsed(chapter, probe), probe).toBe(flat.includes(probe));
  });
});

describe('chain of agents: bad inputs are refused before any model call', () => {
  const refused = async (options: ChainOfAgentsAnswerOptions, question: string, window = WINDOW) => {
    const model = new ScriptedChatModel(obedient);
    const running = chainOfAgentsAnswer({ model: handleFor(model, window) }, { ...OPTIONS, ...options }).invoke({ document: BOOK, question });
    await expect(running).rejects.toSatisfy((error) => TomeError.is(error) && error.code === 'INVALID_OPTION');
    expect(model.calls).toHaveLength(0);
    return running.catch((error: Error) => error.message);
  };

  it('an empty question', async () => {
    expect(await refused({}, '   ')).toMatch(/question/);
  });

  it('a question longer than the window', async () => {
    expect(await refused({}, 'why '.repeat(1500))).toMatch(/question/);
  });

  it('a question that leaves no room for the chunk, CUs and answer', async () => {
    expect(await refused({}, 'why '.repeat(400))).toMatch(/question/);
  });

  it('maxCuTokens too large for the window', async () => {
    const message = await refused({ maxCuTokens: 500 }, QUESTION);
    expect(message).toMatch(/maxCuTokens/);
    expect(message).toMatch(/contextWindow/);
  });

  it('more paths than the judge can compare', async () => {
    expect(await refused({ paths: 20, answerTokens: 100 }, QUESTION)).toMatch(/paths/);
  });

  it('invalid option values, when the pipeline is built', () => {
    const model = handleFor(new ScriptedChatModel(obedient), WINDOW);
    for (const options of [{ paths: 0 }, { maxCuTokens: 10.5 }, { readingOrder: 'inside-out' as 'left-to-right' }, { managerInstruction: ' ' }]) {
      expect(() => chainOfAgentsAnswer({ model }, options)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    }
  });
});

describe('chain of agents: resume', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'tome-coa-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  /** Answers that depend only on the task, so an interrupted and a clean run can be compared. */
  function answer(task: ModelTask): string {
    if (task.kind === 'judge') return '2';
    const source = task.kind === 'worker-step' ? task.source + task.previous : task.kind === 'manager-step' ? task.communication : '';
    let hash = 0;
    for (const character of source) hash = (hash * 31 + character.charCodeAt(0)) >>> 0;
    return notes(`h${hash.toString(36)}`, Math.floor(task.wordLimit * 0.9));
  }
  const invoke = (model: ScriptedChatModel, checkpointPath: string | undefined, signal?: AbortSignal, options: ChainOfAgentsAnswerOptions = { paths: 2 }) =>
    chainOfAgentsAnswer({ model: handleFor(model, WINDOW), concurrency: 1, checkpointPath }, { ...OPTIONS, ...options }).invoke({ document: BOOK, question: QUESTION }, { signal });

  it('a run aborted mid-way and started again with the same checkpoint redoes no finished worker step', async () => {
    const clean = new ScriptedChatModel((task) => answer(task));
    const cleanResult = await invoke(clean, undefined);
    const checkpointPath = join(directory, 'coa.checkpoint');
    const stopAfter = Math.floor(clean.calls.length / 2);
    expect(clean.calls[stopAfter]!.task.kind).toBe('worker-step');

    const controller = new AbortController();
    const first = new ScriptedChatModel((task, call) => {
      if (call.index === stopAfter) controller.abort(new Error('killed'));
      return answer(task);
    });
    await expect(invoke(first, checkpointPath, controller.signal)).rejects.toSatisfy((error) => TomeError.is(error) && error.code === 'ABORTED');
    const finished = stopAfter + 1;

    const second = new ScriptedChatModel((task) => answer(task));
    const resumed = await invoke(second, checkpointPath);
    expect(second.calls).toHaveLength(clean.calls.length - finished);
    // No worker step is asked twice: the resumed run starts exactly where the interrupted one stopped.
    expect(second.calls.map((call) => call.task)).toEqual(clean.calls.slice(finished).map((call) => call.task));
    expect(resumed.answer).toBe(cleanResult.answer);
    expect(resumed.evidence).toEqual(cleanResult.evidence);

    const third = new ScriptedChatModel((task) => answer(task));
    expect((await invoke(third, checkpointPath)).answer).toBe(cleanResult.answer);
    expect(third.calls).toHaveLength(0);
  });

  it('refuses a checkpoint written with other options', async () => {
    const checkpointPath = join(directory, 'coa.checkpoint');
    await invoke(new ScriptedChatModel((task) => answer(task)), checkpointPath);
    const other = invoke(new ScriptedChatModel((task) => answer(task)), checkpointPath, undefined, { paths: 2, maxCuTokens: 180 });
    await expect(other).rejects.toSatisfy((error) => TomeError.is(error) && error.code === 'CHECKPOINT_MISMATCH');
  });
});

/** The scripted model, streaming its reply word by word (each chunk carries its leading whitespace). */
class StreamingScriptedChatModel extends ScriptedChatModel {
  override async *_streamResponseChunks(messages: BaseMessage[], options: this['ParsedCallOptions'], _runManager?: CallbackManagerForLLMRun): AsyncGenerator<ChatGenerationChunk> {
    const result = await this._generate(messages, options);
    const text = result.generations[0]!.text;
    for (const piece of text.match(/\s*\S+|\s+$/g) ?? []) yield new ChatGenerationChunk({ text: piece, message: new AIMessageChunk({ content: piece }) });
  }
}

describe('chain of agents: streaming the manager answer', () => {
  it('streamAnswer yields chunks whose concatenation is the answer', async () => {
    const model = new StreamingScriptedChatModel(() => '  The ship sails to the port of Nantucket at dawn.  ');
    const manager = new ChainManager(handleFor(model, WINDOW));
    const stream = manager.streamAnswer({ communication: 'The ship sails to Nantucket.', query: QUESTION, answerTokens: ANSWER_TOKENS, stage: 'manager', index: 0 });
    const chunks: string[] = [];
    let next = await stream.next();
    while (!next.done) {
      chunks.push(next.value);
      next = await stream.next();
    }
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.join('')).toBe('The ship sails to the port of Nantucket at dawn.');
    expect(next.value).toBe(chunks.join(''));
    expect(model.calls).toHaveLength(1);
    expect(model.calls[0]!.task.kind).toBe('manager-step');
  });

  it('streamAnswer refuses a prompt that does not fit the window, before calling the model', async () => {
    const model = new StreamingScriptedChatModel(() => 'never');
    const manager = new ChainManager(handleFor(model, 256));
    const stream = manager.streamAnswer({ communication: 'word '.repeat(400), query: QUESTION, answerTokens: ANSWER_TOKENS, stage: 'manager', index: 0 });
    await expect(stream.next()).rejects.toSatisfy((error) => TomeError.is(error) && error.code === 'PROMPT_OVERFLOW');
    expect(model.calls).toHaveLength(0);
  });

  it('the pipeline streams the final answer through onAnswerChunk', async () => {
    const model = new StreamingScriptedChatModel((task, call) => (task.kind === 'manager-step' ? 'The ship sails north along the coast to the whaling port.' : obedient(task, call)));
    const chunks: string[] = [];
    const result = await chainOfAgentsAnswer({ model: handleFor(model, WINDOW) }, { ...OPTIONS, onAnswerChunk: (text) => chunks.push(text) }).invoke({ document: BOOK, question: QUESTION });
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.join('')).toBe(result.answer);
    expect(result.answer).toBe('The ship sails north along the coast to the whaling port.');
  });
});

describe('chain of agents: extractive engine on Moby Dick', () => {
  const NEEDLE = 'The secret harbour code is 48213.';
  const book = mobyDick();

  it.each([0.1, 0.5, 0.9])('finds a fact planted at %s of the book, with the segment holding it as evidence', async (depth) => {
    const at = book.indexOf('\n\n', Math.floor(book.length * depth));
    const document = `${book.slice(0, at)}\n\n${NEEDLE}${book.slice(at)}`;
    const needleAt = at + 2;
    const model = await resolveModel('extractive');
    const result = await chainOfAgentsAnswer({ model }).invoke({ document, question: 'What is the secret harbour code?' });
    expect(result.answer).toContain('48213');
    expect(result.evidence.some((evidence) => evidence.charStart <= needleAt && needleAt + NEEDLE.length <= evidence.charEnd)).toBe(true);
    expect(result.method).toBe('coa');
  });
});
