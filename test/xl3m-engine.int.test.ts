import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregateCertainty, subContext } from '../agents/xl3m/certainty.js';
import type { ChatOnnx } from '../inference/langchain/chat-onnx.js';
import { resolveOnnxModel } from '../inference/langchain/onnx-provider.js';
import { xl3mAnswer, type Xl3mResult } from '../pipelines/xl3m.js';
import { documentFromText } from '../src/documents.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { mobyDick, mobyDickChapter } from './helpers/books.js';
import { writeTinyCheckpoint } from './helpers/tiny-checkpoint.js';

/**
 * XL3M end to end through the real engine on the tiny random-weight fixture: `score()` on every sub-context, the
 * selection, the answer by ChatOnnx. The fixture knows nothing, so these tests check that the pipeline runs and
 * returns a well-formed result, never which segment it picks. (That score() equals the reference forward is
 * tested with the engine.)
 */
const QUESTION = 'Where does Ishmael go when he feels grim about the mouth?';
const TEXT = mobyDickChapter(1);

let model: ModelHandle;
let removeCheckpoint: () => Promise<void>;
let checkpointDirectory: string;
const directory = mkdtempSync(join(tmpdir(), 'tome-xl3m-engine-'));

beforeAll(async () => {
  const checkpoint = await writeTinyCheckpoint({ seed: 0 });
  removeCheckpoint = checkpoint.remove;
  checkpointDirectory = checkpoint.directory;
  model = await resolveOnnxModel(checkpoint.directory);
}, 60_000);

afterAll(async () => {
  await (model?.chatModel as ChatOnnx | undefined)?.engine.dispose();
  await removeCheckpoint?.();
  rmSync(directory, { recursive: true, force: true });
});

/** Every invariant of a result, whatever the fixture picked. */
function expectWellFormed(result: Xl3mResult, text: string, budget: { k: number }): void {
  expect(result.method).toBe('xl3m');
  expect(result.scored).toBeGreaterThan(1);
  expect(result.selected.length).toBeGreaterThanOrEqual(1);
  expect(result.selected.length).toBeLessThanOrEqual(budget.k);
  const indexes = result.selected.map((segment) => segment.index);
  expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
  for (const segment of result.selected) {
    expect(Number.isFinite(segment.entropy)).toBe(true);
    expect(segment.entropy).toBeGreaterThanOrEqual(0);
    expect(0 <= segment.charStart && segment.charStart < segment.charEnd && segment.charEnd <= text.length).toBe(true);
    expect(segment.index).toBeLessThan(result.scored);
  }
  expect(typeof result.answer).toBe('string');
  // One scoring pass per segment, one answer.
  expect(result.modelCalls).toBe(result.scored + 1);
}

describe('xl3m on the real engine (tiny fixture)', () => {
  it('the model handle can score text', () => {
    expect(model.scorer).toBeDefined();
  });

  it('scores every [segment, question], keeps the most certain, answers: a well-formed result', async () => {
    const result = await xl3mAnswer({ model, concurrency: 2 }, { segmentTokens: 128, k: 3, answerWords: 8 }).invoke({ document: documentFromText(TEXT), question: QUESTION });
    expectWellFormed(result, TEXT, { k: 3 });
    // The kept values are the lowest of all, and each is what score() gives for its sub-context.
    const first = result.selected[0]!;
    const scores = await model.scorer!.score(subContext(TEXT.slice(first.charStart, first.charEnd)), QUESTION);
    expect(first.entropy).toBeCloseTo(aggregateCertainty(scores, 'mean-entropy'), 5);
  }, 120_000);

  it('mean-nll and a question taken from the tail run too', async () => {
    const result = await xl3mAnswer({ model, concurrency: 1 }, { segmentTokens: 128, questionTokens: 16, measure: 'mean-nll', k: 2, answerWords: 8 }).invoke({ document: documentFromText(TEXT) });
    expectWellFormed(result, TEXT, { k: 2 });
    expect(result.measure).toBe('mean-nll');
    expect(TEXT.trimEnd().endsWith(result.question.trimEnd())).toBe(true);
    expect(model.tokenCounter.count(result.question)).toBeGreaterThanOrEqual(16);
  }, 120_000);

  it('a file input is streamed and selects as the same text in memory does', async () => {
    const file = join(directory, 'chapter-1.txt');
    writeFileSync(file, TEXT);
    const options = { segmentTokens: 128, k: 3, answerWords: 8 };
    const streamed = await xl3mAnswer({ model, concurrency: 2 }, options).invoke({ path: file, question: QUESTION });
    const inMemory = await xl3mAnswer({ model, concurrency: 2 }, options).invoke({ document: documentFromText(TEXT), question: QUESTION });
    expectWellFormed(streamed, TEXT, { k: 3 });
    expect(streamed.scored).toBe(inMemory.scored);
    expect(streamed.selected).toEqual(inMemory.selected);
  }, 120_000);

  it('streams a ~100k-token file (about 1,400 segments of 128 tokens) and keeps a well-formed key context', async () => {
    // 200k characters of Moby Dick are ~106k tokens of the fixture's small BPE.
    const text = mobyDick().slice(0, 200_000);
    const file = join(directory, 'moby-dick-100k.txt');
    writeFileSync(file, text);
    const result = await xl3mAnswer({ model, concurrency: 2 }, { segmentTokens: 128, k: 4, answerWords: 8 }).invoke({ path: file, question: QUESTION });
    expectWellFormed(result, text.replace(/\r\n?/g, '\n'), { k: 4 });
    expect(result.inputTokens).toBeGreaterThan(100_000);
    expect(result.scored).toBeGreaterThan(800);
  }, 120_000);

  it('streams a ~1M-token file (512-token segments) to a well-formed key context', async () => {
    // ~1.9 characters per token of the fixture's small BPE: 1.95M characters ≈ 1M tokens (~45 s on two cores).
    const book = mobyDick();
    const text = book.repeat(2).slice(0, 1_950_000);
    const file = join(directory, 'moby-dick-1m.txt');
    writeFileSync(file, text);
    const result = await xl3mAnswer({ model, concurrency: 2 }, { segmentTokens: 512, k: 2, answerWords: 8 }).invoke({ path: file, question: QUESTION });
    expectWellFormed(result, text.replace(/\r\n?/g, '\n'), { k: 2 });
    expect(result.inputTokens).toBeGreaterThan(1_000_000);
  }, 300_000);

  it('tome ask --method xl3m --model onnx:<dir> without a question prints the documented JSON', () => {
    const file = join(directory, 'chapter-1-cli.txt');
    writeFileSync(file, TEXT);
    const root = fileURLToPath(new URL('..', import.meta.url));
    const cli = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', join(root, 'src/cli/main.ts'), 'ask', file, '--method', 'xl3m', '--model', `onnx:${checkpointDirectory}`, '--segment-tokens', '128', '--question-tokens', '16', '--select', '2', '--answer-words', '8', '--json'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, TOME_DEBUG: '' } },
    );
    expect(cli.stderr).toBe('');
    expect(cli.status).toBe(0);
    const result = JSON.parse(cli.stdout) as Xl3mResult;
    expect(Object.keys(result)).toEqual(expect.arrayContaining(['answer', 'method', 'model', 'modelCalls', 'inputTokens', 'elapsedMs', 'evidence', 'question', 'measure', 'selected', 'scored']));
    expectWellFormed(result, TEXT, { k: 2 });
    expect(result.measure).toBe('mean-entropy');
  }, 120_000);
});
