import { describe, expect, it } from 'vitest';
import { containsWord, EVAL_TASKS, evalTask, parseLengths, plantedFactsDocument, type EvalSample } from '../index.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';

const counter = approximateTokenCounter;

/** A counter unlike the approximate one (one token per whitespace-separated word): lengths must still be exact. */
const wordCounter: TokenCounter = { name: 'words', count: (text) => text.split(/\s+/).filter((word) => word !== '').length };

function generate(name: string, tokens: number, sample = 0, samples = 3, seed = 7, extra: { counter?: TokenCounter; haystack?: 'filler' | 'moby-dick' | 'sotu' } = {}): EvalSample {
  return evalTask(name).generate({ tokens, sample, samples, seed, ...extra });
}

describe('eval task generators', () => {
  it.each(EVAL_TASKS.map((task) => task.name))('%s: exact length by the counter, every answer in the text', (name) => {
    for (const tokens of [1024, 4096, 50_000]) {
      const sample = generate(name, tokens);
      expect(counter.count(sample.document), `${name} @ ${tokens}`).toBe(tokens);
      expect(sample.tokens).toBe(tokens);
      expect(sample.answers.length).toBeGreaterThan(0);
      for (const answer of sample.answers) expect(containsWord(sample.document, answer), `${name}: ${answer}`).toBe(true);
      expect(sample.question.trim()).not.toBe('');
    }
  });

  it('is deterministic in the seed and differs across seeds and samples', () => {
    expect(generate('niah-single', 2048, 1, 3, 5)).toEqual(generate('niah-single', 2048, 1, 3, 5));
    expect(generate('niah-single', 2048, 1, 3, 5).answers).not.toEqual(generate('niah-single', 2048, 1, 3, 6).answers);
    expect(generate('passkey', 2048, 0, 3, 5).answers).not.toEqual(generate('passkey', 2048, 1, 3, 5).answers);
  });

  it('places the passkey needle at the swept depth (by tokens)', () => {
    const samples = 5;
    for (let index = 0; index < samples; index++) {
      const sample = generate('passkey', 20_000, index, samples);
      const key = sample.answers[0]!;
      const needle = sample.document.indexOf(`The pass key is ${key}.`);
      expect(needle).toBeGreaterThan(0);
      // The instructions come first: depth is measured over the haystack after them.
      const instructions = counter.count(sample.document.slice(0, sample.document.indexOf('The grass')));
      const position = (counter.count(sample.document.slice(0, needle)) - instructions) / (20_000 - instructions);
      expect(sample.depth).toBe(index / (samples - 1));
      expect(Math.abs(position - sample.depth!)).toBeLessThan(0.01);
    }
  });

  it('is exact with another counter, and with real-text haystacks', () => {
    const byWords = generate('niah-multikey', 3000, 0, 1, 1, { counter: wordCounter });
    expect(wordCounter.count(byWords.document)).toBe(3000);
    const moby = generate('passkey', 12_345, 0, 1, 1, { haystack: 'moby-dick' });
    expect(counter.count(moby.document)).toBe(12_345);
    expect(moby.document).toMatch(/whale/i);
    const sotu = generate('niah-single', 9000, 0, 1, 1, { haystack: 'sotu' });
    expect(counter.count(sotu.document)).toBe(9000);
    expect(sotu.document).toMatch(/Congress|United States/);
  });

  it('generates a 1M-token haystack in seconds', () => {
    const started = performance.now();
    const sample = generate('passkey', 1024 * 1024, 1, 3);
    expect(counter.count(sample.document)).toBe(1024 * 1024);
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 30_000);

  it('decoys, multiple values and queries: the right needles are there', () => {
    const multikey = generate('niah-multikey', 4096);
    expect(multikey.document.match(/One of the special magic numbers for/g)).toHaveLength(4);
    expect(multikey.answers).toHaveLength(1);
    const multivalue = generate('niah-multivalue', 4096);
    const key = /for (\S+) mentioned/.exec(multivalue.question)![1]!;
    for (const value of multivalue.answers) expect(multivalue.document).toContain(`for ${key} is: ${value}.`);
    const multiquery = generate('niah-multiquery', 4096);
    expect(multiquery.answers).toHaveLength(4);
    const vt = generate('vt', 4096);
    expect(vt.document).toContain(`VAR ${vt.answers[1]} = VAR ${vt.answers[0]}.`);
    expect(vt.question).toContain(/VAR \S+ = (\d+)\./.exec(vt.document)![1]!);
  });

  it('cwe: the 10 answers are the most frequent words of the list; fwe: the top 3 by count', () => {
    for (const name of ['cwe', 'fwe']) {
      const sample = generate(name, 8192);
      const counts = new Map<string, number>();
      for (const word of sample.document.split(/\s+/)) if (/^[a-z]{6}$/.test(word)) counts.set(word, (counts.get(word) ?? 0) + 1);
      const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
      const top = ranked.slice(0, sample.answers.length).map(([word]) => word);
      expect(new Set(top)).toEqual(new Set(sample.answers));
      expect(ranked[sample.answers.length - 1]![1]).toBeGreaterThan(ranked[sample.answers.length]![1]);
    }
  });

  it('rejects lengths a task cannot fit and malformed --lengths with typed errors', () => {
    expect(() => generate('passkey', 40)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => generate('cwe', 100)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(parseLengths('16k, 4k,1m,4k,5000')).toEqual([4096, 5000, 16_384, 1_048_576]);
    expect(() => parseLengths('4k,lots')).toThrow(/lots/);
    expect(() => parseLengths('')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('plants facts evenly in a document of exact length', () => {
    const { document, facts } = plantedFactsDocument({ tokens: 6000, facts: 4, seed: 3 });
    expect(counter.count(document)).toBe(6000);
    const offsets = facts.map((fact) => document.indexOf(fact.sentence));
    expect(offsets.every((offset) => offset > 0)).toBe(true);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
  });
});
