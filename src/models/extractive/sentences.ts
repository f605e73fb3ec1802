/**
 * Sentence splitting for the extractive engine. Every answer the engine gives is made of whole sentences of its
 * inputs, so the split decides what the engine can ever say.
 *
 * ICU (behind `Intl.Segmenter`) ends a sentence at every line break. Books and plain-text documents are
 * hard-wrapped, so a single newline would cut sentences mid-clause. We therefore cut the text into paragraphs at
 * blank-line runs (where a sentence rightly ends: a heading, a paragraph without final punctuation) and replace the
 * line breaks inside each paragraph with spaces before segmenting. The replacement has the same length, so the
 * offsets the segmenter reports still point into the original input.
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

/**
 * Splits `text` into sentences, in order, with offsets into `text` and paragraph indices. Each paragraph is
 * segmented on its own: ICU ends a sentence at a paragraph break anyway, and its segmenter slows down
 * quadratically on very long inputs (a whole book took minutes in one piece).
 */
export function splitSentences(text: string): Sentence[] {
  const sentences: Sentence[] = [];
  let paragraph = 0;
  for (const [paragraphStart, paragraphEnd] of paragraphRanges(text)) {
    const unwrapped = text.slice(paragraphStart, paragraphEnd).replace(LINE_BREAK, ' ');
    let found = false;
    for (const segment of SENTENCE_SEGMENTER.segment(unwrapped)) {
      const raw = segment.segment;
      const leading = LEADING_SPACE.exec(raw)?.[0].length ?? 0;
      if (leading === raw.length) continue;
      const trailing = TRAILING_SPACE.exec(raw)?.[0].length ?? 0;
      const start = paragraphStart + segment.index + leading;
      const end = paragraphStart + segment.index + raw.length - trailing;
      sentences.push({ text: raw.slice(leading, raw.length - trailing).replace(WHITESPACE_RUN, ' '), start, end, paragraph });
      found = true;
    }
    if (found) paragraph++;
  }
  return sentences;
}

/** [start, end) of each blank-line separated paragraph (breaks excluded). */
function paragraphRanges(text: string): [number, number][] {
  const ranges: [number, number][] = [];
  let position = 0;
  for (const match of text.matchAll(PARAGRAPH_BREAK)) {
    ranges.push([position, match.index]);
    position = match.index + match[0].length;
  }
  ranges.push([position, text.length]);
  return ranges;
}
