/**
 * Text helpers for communication units (CUs): splitting them into sentences, and cutting them to a token budget
 * at sentence ends when nothing else worked.
 */

const LINE_BREAKS = /\n+/;
const SENTENCE_END = /(?<=[.!?…]["'”’)\]]*)\s+/;
const LIST_MARKER = /^(?:[-*•]|\d{1,3}[.)])\s+/;
const WHITESPACE = /\s+/g;

/** `text` with every whitespace run made one space, trimmed: how CU sentences are compared with source text. */
export function collapseWhitespace(text: string): string {
  return text.replace(WHITESPACE, ' ').trim();
}

/**
 * Whether `sentence` (whitespace already collapsed to single spaces) occurs in `text` with any whitespace run
 * standing for each of its spaces. Equivalent to `collapseWhitespace(text).includes(sentence)` for sentences that
 * start and end with non-space, without rewriting a long chunk on every check.
 */
export function containsCollapsed(text: string, sentence: string): boolean {
  if (sentence === '') return true;
  const firstSpace = sentence.indexOf(' ');
  const head = firstSpace === -1 ? sentence : sentence.slice(0, firstSpace);
  for (let at = text.indexOf(head); at !== -1; at = text.indexOf(head, at + 1)) {
    if (matchesAt(text, at, sentence)) return true;
  }
  return false;
}

function matchesAt(text: string, at: number, sentence: string): boolean {
  let position = at;
  for (let index = 0; index < sentence.length; index++) {
    const wanted = sentence.charCodeAt(index);
    if (wanted === SPACE) {
      if (position >= text.length || !isWhitespace(text.charCodeAt(position))) return false;
      while (position < text.length && isWhitespace(text.charCodeAt(position))) position++;
      continue;
    }
    if (text.charCodeAt(position) !== wanted) return false;
    position++;
  }
  return true;
}

const SPACE = 0x20;

function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x09 || code === 0x0d || code === 0x0c || code === 0x0b || code === 0xa0 || (code >= 0x2000 && (code <= 0x200a || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000)) || code === 0x1680 || code === 0xfeff;
}

/**
 * The sentences of a CU: split at line breaks and at sentence ends (terminal punctuation, closing quotes,
 * whitespace), list markers stripped, whitespace collapsed, empties dropped.
 */
export function noteSentences(text: string): string[] {
  return text
    .split(LINE_BREAKS)
    .flatMap((line) => line.split(SENTENCE_END))
    .map((sentence) => collapseWhitespace(sentence).replace(LIST_MARKER, ''))
    .filter((sentence) => sentence !== '');
}

/**
 * The start of `text` costing at most `cap` tokens: whole sentences when at least one fits, otherwise the first
 * sentence's leading words followed by "…". Used only as the last resort after compression failed, and to fit an
 * over-long CU into the compression prompt; callers report it.
 */
export function leadingSentencesWithin(text: string, tokens: (text: string) => number, cap: number): string {
  const trimmed = text.trim();
  if (tokens(trimmed) <= cap) return trimmed;
  const sentences = trimmed.split(SENTENCE_END);
  let kept = '';
  for (const sentence of sentences) {
    const candidate = kept === '' ? sentence : `${kept} ${sentence}`;
    if (tokens(candidate) > cap) break;
    kept = candidate;
  }
  if (kept !== '') return kept;
  const words = (sentences[0] ?? '').split(/\s+/);
  let cut = '';
  for (const word of words) {
    const candidate = cut === '' ? word : `${cut} ${word}`;
    if (tokens(`${candidate}…`) > cap) break;
    cut = candidate;
  }
  return cut === '' ? '' : `${cut}…`;
}
