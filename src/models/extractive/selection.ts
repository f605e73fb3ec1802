/**
 * Choosing which scored sentences make the answer, within a word budget, and rendering them as text.
 *
 * The rules keep extractive output honest and useful: whole sentences only (except the one documented cut when
 * not even one sentence fits), no near-repeats, original order so the text still reads as the source did, and —
 * in coverage mode — every input (a summary being merged, a paragraph being compressed) gets its share of the
 * budget instead of the single most central input taking it all.
 */

import { termJaccard } from './terms.js';

/** A sentence that may be chosen. Candidates are passed in chronological order; that order is kept in output. */
export interface SelectionCandidate {
  /** The sentence text, whitespace already collapsed. */
  readonly text: string;
  /** {@link countWords} of `text`. */
  readonly words: number;
  /** Its distinct scoring terms, for near-duplicate detection. */
  readonly terms: ReadonlySet<string>;
  /** Higher is better; ties go to the earlier sentence. */
  readonly score: number;
  /** The input it came from (summary index, old summary vs new source, paragraph): the unit coverage shares over. */
  readonly group: number;
  /** Paragraph within that input; with `group`, decides where rendered paragraphs break. */
  readonly paragraph: number;
}

export interface SelectionOptions {
  /** Most words the selection may hold (fractions are rounded down). */
  readonly wordLimit: number;
  /**
   * Coverage mode. `'proportional'`: each group's share of the budget is proportional to its word count.
   * An array: explicit word shares, indexed by group (groups not listed get 0). Without it, selection is global.
   */
  readonly groupBudgets?: 'proportional' | readonly number[];
}

/** Term Jaccard at or above which two sentences count as saying the same thing. */
export const NEAR_DUPLICATE_JACCARD = 0.7;

/** A paragraph that already holds this many words ends where the source paragraph or group changes. */
export const PARAGRAPH_BREAK_WORDS = 80;

/** Marks a sentence cut short to fit the budget. */
export const TRUNCATION_MARK = '…';

const NON_WHITESPACE_RUN = /\S+/g;

/** Words as every tome pipeline counts them: runs of non-whitespace characters. */
export function countWords(text: string): number {
  return text.match(NON_WHITESPACE_RUN)?.length ?? 0;
}

/** Whether two candidates say the same thing: term Jaccard ≥ 0.7, or identical text when neither has terms. */
export function isNearDuplicate(
  first: Pick<SelectionCandidate, 'text' | 'terms'>,
  second: Pick<SelectionCandidate, 'text' | 'terms'>,
): boolean {
  if (first.terms.size === 0 || second.terms.size === 0) return first.text.toLowerCase() === second.text.toLowerCase();
  return termJaccard(first.terms, second.terms) >= NEAR_DUPLICATE_JACCARD;
}

/**
 * Chooses sentences within `options.wordLimit`, returned in chronological (input) order.
 *
 * Greedy by score: a sentence that would overflow the remaining words is skipped and scanning goes on for shorter
 * ones; a near-duplicate of a chosen sentence is skipped. In coverage mode each group first takes its best
 * sentences within its share; then every group still without a sentence gets its best one that fits what is
 * left (so a group whose share was smaller than any of its sentences is not silently dropped); then the rest is
 * filled globally by score. If nothing fits at all, the best sentence is cut to the budget at a word boundary
 * and ends with "…" — the only time output is not made of whole sentences.
 */
export function selectSentences(
  candidates: readonly SelectionCandidate[],
  options: SelectionOptions,
): SelectionCandidate[] {
  const wordLimit = Math.floor(options.wordLimit);
  if (!(wordLimit > 0) || candidates.length === 0) return [];

  const ranked = candidates.map((_, index) => index).sort((first, second) => {
    const difference = candidates[second]!.score - candidates[first]!.score;
    return difference !== 0 ? difference : first - second;
  });
  const chosen = new Array<boolean>(candidates.length).fill(false);
  const chosenCandidates: SelectionCandidate[] = [];
  let remaining = wordLimit;

  const take = (index: number, allowance: number): boolean => {
    const candidate = candidates[index]!;
    if (chosen[index] || candidate.words > allowance || candidate.words > remaining) return false;
    if (chosenCandidates.some((other) => isNearDuplicate(candidate, other))) return false;
    chosen[index] = true;
    chosenCandidates.push(candidate);
    remaining -= candidate.words;
    return true;
  };

  if (options.groupBudgets !== undefined) {
    const rankedByGroup = new Map<number, number[]>();
    for (const index of ranked) {
      const group = candidates[index]!.group;
      let list = rankedByGroup.get(group);
      if (list === undefined) rankedByGroup.set(group, (list = []));
      list.push(index);
    }
    const groups = [...rankedByGroup.keys()].sort((first, second) => first - second);
    const budgets = resolveGroupBudgets(candidates, groups, options.groupBudgets, wordLimit);
    for (const group of groups) {
      let share = budgets.get(group) ?? 0;
      for (const index of rankedByGroup.get(group)!) {
        if (take(index, share)) share -= candidates[index]!.words;
      }
    }
    for (const group of groups) {
      const members = rankedByGroup.get(group)!;
      if (members.some((index) => chosen[index])) continue;
      for (const index of members) if (take(index, remaining)) break;
    }
  }
  for (const index of ranked) take(index, remaining);

  if (chosenCandidates.length === 0) {
    const best = candidates[ranked[0]!]!;
    const text = cutToWords(best.text, wordLimit);
    return [{ ...best, text, words: countWords(text) }];
  }
  const selected: SelectionCandidate[] = [];
  for (let index = 0; index < candidates.length; index++) if (chosen[index]) selected.push(candidates[index]!);
  return selected;
}

/** Word shares per group; proportional shares are rounded down so they never sum past the limit. */
function resolveGroupBudgets(
  candidates: readonly SelectionCandidate[],
  groups: readonly number[],
  groupBudgets: 'proportional' | readonly number[],
  wordLimit: number,
): Map<number, number> {
  const budgets = new Map<number, number>();
  if (groupBudgets !== 'proportional') {
    for (const group of groups) budgets.set(group, Math.max(0, Math.floor(groupBudgets[group] ?? 0)));
    return budgets;
  }
  const groupWords = new Map<number, number>();
  let totalWords = 0;
  for (const candidate of candidates) {
    groupWords.set(candidate.group, (groupWords.get(candidate.group) ?? 0) + candidate.words);
    totalWords += candidate.words;
  }
  for (const group of groups) {
    budgets.set(group, totalWords === 0 ? 0 : Math.floor((wordLimit * (groupWords.get(group) ?? 0)) / totalWords));
  }
  return budgets;
}

/**
 * The first `wordLimit` words of `text` followed by "…", dropping trailing punctuation that would dangle before
 * the mark ("on shore," → "on shore…"). The mark is glued to the last word, so the word count stays ≤ the limit.
 */
export function cutToWords(text: string, wordLimit: number): string {
  const words = text.split(/\s+/).filter((word) => word.length > 0);
  const limit = Math.max(0, Math.floor(wordLimit));
  if (words.length <= limit) return words.join(' ');
  if (limit === 0) return '';
  const kept = words.slice(0, limit).join(' ');
  const trimmed = kept.replace(/[\s,;:\-\u2013\u2014(\[{"'\u201c\u2018]+$/u, '');
  return `${trimmed.length > 0 ? trimmed : kept}${TRUNCATION_MARK}`;
}

/**
 * Joins chosen sentences into text: a single space between sentences, and a blank line where the source group or
 * paragraph changes once the current output paragraph holds at least 80 words (short outputs stay one paragraph;
 * long ones keep the shape of their sources).
 */
export function renderSentences(sentences: readonly SelectionCandidate[]): string {
  let text = '';
  let paragraphWords = 0;
  let previous: SelectionCandidate | undefined;
  for (const sentence of sentences) {
    if (previous === undefined) {
      text = sentence.text;
    } else {
      const sourceChanged = sentence.group !== previous.group || sentence.paragraph !== previous.paragraph;
      if (sourceChanged && paragraphWords >= PARAGRAPH_BREAK_WORDS) {
        text += `\n\n${sentence.text}`;
        paragraphWords = 0;
      } else {
        text += ` ${sentence.text}`;
      }
    }
    paragraphWords += sentence.words;
    previous = sentence;
  }
  return text;
}
