/**
 * The terms the extractive engine scores sentences by: lowercase runs of letters and digits, minus common English
 * function words, reduced by a light suffix stemmer so "whales", "whale" and "whaled" meet.
 *
 * The stemmer is deliberately simple and predictable rather than linguistically complete (no Porter steps): it
 * only has to make the same word in different inflections count as shared between sentences and queries.
 */

/** Runs of letters (with their combining marks) and digits. */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const HAS_DIGIT = /\p{N}/u;
const HAS_VOWEL = /[aeiouy]/;

/**
 * Compact English stopword list: articles, pronouns, auxiliaries, prepositions, conjunctions, question words and
 * the fragments apostrophes leave behind ("don't" → "don" + "t"). Question words matter: queries are full
 * questions, and "what" or "does" must not match every sentence.
 */
const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a about above after again against all also am an and any are as at be because been before being below ' +
    'between both but by can could did do does doing down during each few for from further had has have having ' +
    'he her here hers herself him himself his how i if in into is it its itself just me more most my myself no ' +
    'nor not now of off on once only or other our ours ourselves out over own same she should so some such than ' +
    'that the their theirs them themselves then there these they this those through to too under until up upon ' +
    'very was we were what when where which while who whom whose why will with would you your yours yourself ' +
    'yourselves shall may might must let us ye thee thou thy unto yet ever one ' +
    'don doesn didn isn wasn aren weren won wouldn couldn shouldn hasn haven hadn ain ll ve re'
  ).split(' '),
);

/** Lowercase, stopword-free, stemmed terms of `text`, in order of appearance (repeats kept, for BM25). */
export function extractTerms(text: string): string[] {
  const terms: string[] = [];
  for (const match of text.toLowerCase().matchAll(WORD)) {
    const word = match[0];
    if (STOPWORDS.has(word)) continue;
    if (HAS_DIGIT.test(word)) {
      terms.push(word);
      continue;
    }
    // Single letters are initials or apostrophe leftovers ("whale's" → "s"); they carry no topic.
    if (word.length < 2) continue;
    terms.push(stemTerm(word));
  }
  return terms;
}

/**
 * Light suffix stemmer, rules tried in order, first match wins; words of three letters or fewer are kept:
 * - "-ies" → "-y" (flies → fly); "-sses" → "-ss" (glasses → glass);
 * - "-es" after ch, sh, x, z → dropped (wishes → wish, boxes → box);
 * - "-s" → dropped unless the word ends in "ss", "us" or "is" (whales → whale, but glass, walrus, basis stay);
 * - "-ing" and "-ed" (not "-eed") → dropped when a vowel remains, and a doubled final consonant other than
 *   l, s, z is undoubled (sailing → sail, stopped → stop, but bring, string and need stay).
 */
export function stemTerm(word: string): string {
  if (word.length <= 3) return word;
  if (word.endsWith('ies') && word.length > 4) return `${word.slice(0, -3)}y`;
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (/(?:ch|sh|x|z)es$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('s')) return /(?:ss|us|is)$/.test(word) ? word : word.slice(0, -1);
  if (word.endsWith('ing')) return stripVerbEnding(word, 3);
  if (word.endsWith('ed') && !word.endsWith('eed')) return stripVerbEnding(word, 2);
  return word;
}

function stripVerbEnding(word: string, suffixLength: number): string {
  const stem = word.slice(0, -suffixLength);
  if (stem.length < 2 || !HAS_VOWEL.test(stem)) return word;
  const last = stem.charAt(stem.length - 1);
  if (last === stem.charAt(stem.length - 2) && !/[aeioulsz]/.test(last)) return stem.slice(0, -1);
  return stem;
}

/**
 * Jaccard similarity of two term sets (shared / combined). Two empty sets score 0: sentences without content
 * terms ("No.", "Strange!") are compared by text instead, see the selection module.
 */
export function termJaccard(first: ReadonlySet<string>, second: ReadonlySet<string>): number {
  if (first.size === 0 || second.size === 0) return 0;
  const [smaller, larger] = first.size <= second.size ? [first, second] : [second, first];
  let shared = 0;
  for (const term of smaller) if (larger.has(term)) shared++;
  return shared / (first.size + second.size - shared);
}
