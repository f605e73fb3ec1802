import { describe, expect, it } from 'vitest';
import { askPipeline, resolveModel, documentFromText, type AskMethod, type AskResult } from 'tome';
import { mobyDick } from './helpers/books.js';

/**
 * The acceptance test for question answering with the default offline engine: a single fact planted at any
 * depth of Moby Dick (~315k tokens) is found by coa, scm and rag; truncate only sees the first window.
 */
const FACT = 'The secret harbour code is 48213.';
const QUESTION = 'What is the secret harbour code?';
const BOOK = mobyDick();

/** Insert the fact as its own paragraph at the paragraph boundary nearest `depth` (0–1) of the book. */
function plantAt(depth: number): { text: string; offset: number } {
  const target = Math.floor(BOOK.length * depth);
  const boundary = BOOK.indexOf('\n\n', target);
  const offset = boundary < 0 ? BOOK.length : boundary + 2;
  return { text: `${BOOK.slice(0, offset)}${FACT}\n\n${BOOK.slice(offset)}`, offset };
}

async function ask(method: AskMethod, depth: number): Promise<{ result: AskResult; offset: number }> {
  const { text, offset } = plantAt(depth);
  const model = await resolveModel('extractive');
  const result = await askPipeline(method, { model, concurrency: 2 }).invoke({ document: documentFromText(text, 'moby-dick'), question: QUESTION });
  return { result, offset };
}

describe.each<AskMethod>(['coa', 'scm', 'rag'])('%s finds a fact planted anywhere in Moby Dick', (method) => {
  it.each([0.02, 0.35, 0.65, 0.97])('at depth %f', async (depth) => {
    const { result, offset } = await ask(method, depth);
    expect(result.answer).toContain('48213');
    expect(result.method).toBe(method);
    expect(result.modelCalls).toBeGreaterThan(0);
    // The evidence points at the passage that holds the fact.
    expect(result.evidence.some((evidence) => evidence.charStart <= offset && offset < evidence.charEnd)).toBe(true);
  });
});

describe('truncate', () => {
  it('finds the fact inside its window', async () => {
    const { result } = await ask('truncate', 0.001);
    expect(result.answer).toContain('48213');
  });

  it.each([0.35, 0.97])('fails past its window (depth %f)', async (depth) => {
    const { result } = await ask('truncate', depth);
    expect(result.answer).not.toContain('48213');
    expect(result.evidence).toHaveLength(1);
    expect(result.evidence[0]!.charStart).toBe(0);
  });
});
