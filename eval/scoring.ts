import type { EvalSample, ScoringRule } from './task.js';

/** The first integer written in `text` (digits only; thousands separators are not joined), or undefined. */
export function firstInteger(text: string): string | undefined {
  const match = /\d+/.exec(text);
  return match ? match[0].replace(/^0+(?=\d)/, '') : undefined;
}

/** Passkey score: 1 when the first integer of the answer is the key, else 0. */
export function scoreFirstInteger(answer: string, key: string): number {
  return firstInteger(answer) === key.replace(/^0+(?=\d)/, '') ? 1 : 0;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Is `expected` in `answer` as a whole word (case-insensitive)? "1234567" is not found inside "91234567", and a
 * made-up word not inside a longer one; hyphenated keys and multi-word answers match as written.
 */
export function containsWord(answer: string, expected: string): boolean {
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(expected.trim())}(?![\\p{L}\\p{N}])`, 'iu');
  return pattern.test(answer);
}

/** RULER's score: the share of expected answers the answer contains (1 when there are none to find). */
export function scoreContainsAll(answer: string, expected: readonly string[]): number {
  if (expected.length === 0) return 1;
  return expected.filter((item) => containsWord(answer, item)).length / expected.length;
}

/** Score an answer by the sample's rule, in [0, 1]. */
export function scoreAnswer(rule: ScoringRule, answer: string, expected: readonly string[]): number {
  switch (rule) {
    case 'first-integer':
      return scoreFirstInteger(answer, expected[0] ?? '');
    case 'contains-all':
      return scoreContainsAll(answer, expected);
  }
}

export function scoreSample(sample: Pick<EvalSample, 'scoring' | 'answers'>, answer: string): number {
  return scoreAnswer(sample.scoring, answer, sample.answers);
}
