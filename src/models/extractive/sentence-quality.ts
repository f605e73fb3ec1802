/**
 * Which sentences may stand in a summary. Books are full of sentences that rank well on shared words but read
 * badly out of context: chapter headings ("CHAPTER 42."), exclamations ("Poor Queequeg!"), dialogue tags cut off
 * by the sentence splitter ("said Peleg."). Excluding them costs nothing in coverage and makes the extract read
 * as prose. Answers to questions do not use this filter: there a short sentence may be exactly the fact asked for.
 */

/** Fewer words than this and a sentence rarely says anything on its own. */
export const MIN_SUMMARY_SENTENCE_WORDS = 6;
/** More than this and one sentence eats the budget of several (TextRank favours long sentences). */
export const MAX_SUMMARY_SENTENCE_WORDS = 70;

const HEADING = /^(chapter|book|part|volume|section|epilogue|prologue|etymology|extracts?|contents)\b/i;
const STARTS_LIKE_A_SENTENCE = /^["'“‘(\[]?[\p{Lu}\p{N}]/u;

export function isSummaryWorthy(text: string, words: number, distinctTerms: number): boolean {
  if (words < MIN_SUMMARY_SENTENCE_WORDS || words > MAX_SUMMARY_SENTENCE_WORDS) return false;
  if (distinctTerms < 3) return false;
  if (HEADING.test(text) || isShouted(text)) return false;
  return STARTS_LIKE_A_SENTENCE.test(text);
}

/** Mostly upper-case letters: a title or heading. */
function isShouted(text: string): boolean {
  const letters = text.replace(/[^\p{L}]/gu, '');
  if (letters.length < 8) return false;
  const upper = letters.replace(/[^\p{Lu}]/gu, '').length;
  return upper / letters.length > 0.6;
}
