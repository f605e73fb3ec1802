/**
 * Sentence splitting for the extractive engine. Every answer the engine gives is made of whole sentences of its
 * inputs, so the split decides what the engine can ever say.
 *
 * ICU (behind `Intl.Segmenter`) ends a sentence at every line break. Books and plain-text documents are
 * hard-wrapped, so a single newline would cut sentences mid-clause. We therefore replace each line break that is
 * not part of a blank-line run with a space before segmenting. The replacement has the same length, so the
 * offsets the segmenter reports still point into the original input. Blank-line runs are kept: they separate
 * paragraphs, and ICU rightly ends a sentence there (a heading or a paragraph without final punctuation).
 */

/** One sentence of a text, with where it came from. */
export interface Sentence {
  /** The sentence with internal whitespace collapsed to single spaces, trimmed; never empty. */
  readonly text: string;
  /** Offset of the sentence's first non-space character in the input. */
  readonly start: number;
  /** Offset just past its last non-space character. */
  readonly end: number;
  /** 0-based index of the blank-line separated paragraph that holds the sentence. */
  readonly paragraph: number;
}

/** Reused across calls: creating a segmenter costs far more than segmenting a chunk. */
const SENTENCE_SEGMENTER = new Intl.Segmenter('en', { granularity: 'sentence' });

/** A line break followed by one or more blank (whitespace-only) lines, or a Unicode paragraph separator. */
const PARAGRAPH_BREAK = /\n(?:[^\S\n]*\n)+|\u2029/g;

/** Line breaks ICU treats as sentence ends: LF, CR, NEL and the Unicode line separator. */
const LINE_BREAK = /[\n\r\u0085\u2028]/g;

const LEADING_SPACE = /^\s*/;
const TRAILING_SPACE = /\s*$/;
const WHITESPACE_RUN = /\s+/g;

/** Splits `text` into sentences, in order, with offsets into `text` and paragraph indices. */
export function splitSentences(text: string): Sentence[] {
  const { unwrapped, paragraphBreakStarts } = unwrapLines(text);
  const sentences: Sentence[] = [];
  let paragraph = 0;
  let breakIndex = 0;
  for (const segment of SENTENCE_SEGMENTER.segment(unwrapped)) {
    const raw = segment.segment;
    const leading = LEADING_SPACE.exec(raw)?.[0].length ?? 0;
    if (leading === raw.length) continue;
    const trailing = TRAILING_SPACE.exec(raw)?.[0].length ?? 0;
    const start = segment.index + leading;
    const end = segment.index + raw.length - trailing;
    // Paragraph breaks between the previous sentence and this one; several in a row still make one new paragraph.
    let crossedBreak = false;
    while (breakIndex < paragraphBreakStarts.length && (paragraphBreakStarts[breakIndex] ?? Infinity) < start) {
      crossedBreak = true;
      breakIndex++;
    }
    if (crossedBreak && sentences.length > 0) paragraph++;
    const sentenceText = raw.slice(leading, raw.length - trailing).replace(WHITESPACE_RUN, ' ');
    sentences.push({ text: sentenceText, start, end, paragraph });
  }
  return sentences;
}

/**
 * Replaces every line break outside a blank-line run with a space (same length, so offsets hold) and reports
 * where the blank-line runs start.
 */
function unwrapLines(text: string): { unwrapped: string; paragraphBreakStarts: number[] } {
  const pieces: string[] = [];
  const paragraphBreakStarts: number[] = [];
  let position = 0;
  for (const match of text.matchAll(PARAGRAPH_BREAK)) {
    const index = match.index;
    pieces.push(text.slice(position, index).replace(LINE_BREAK, ' '), match[0]);
    paragraphBreakStarts.push(index);
    position = index + match[0].length;
  }
  pieces.push(text.slice(position).replace(LINE_BREAK, ' '));
  return { unwrapped: pieces.join(''), paragraphBreakStarts };
}
