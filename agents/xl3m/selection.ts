import { InvalidOptionError } from '../../src/errors.js';

/**
 * A segment once scored: where it is and what it cost, never its text (XL3M keeps one of these per segment of an
 * input that may be far larger than memory, and re-reads only the chosen ones).
 */
export interface ScoredSegment {
  /** Position in the input's segment list. */
  readonly index: number;
  /** Character offsets of the text scored (overlap included): [charStart, charEnd) of the normalized input. */
  readonly charStart: number;
  readonly charEnd: number;
  /** The same range in the source's own offsets (bytes of a file), to read the text again. */
  readonly byteStart: number;
  readonly byteEnd: number;
  /** Tokens of the text scored. */
  readonly tokens: number;
  /** The certainty measure's value (lower = more relevant). */
  readonly value: number;
}

export interface KeySelectionOptions {
  /** Tokens the key context may take, separators included. */
  budgetTokens: number;
  /** Most segments kept. Default: no limit (as many as fit the budget). */
  k?: number;
  /** Keep only segments whose value is at most this. Default: none. */
  threshold?: number;
  /** Tokens charged per kept segment for the separator between passages. Default 4. */
  separatorTokens?: number;
}

/** Tokens charged per kept segment for the `[…]` separator between passages. */
export const SEPARATOR_TOKENS = 4;

/**
 * XL3M's key-context selection: the lowest values first (ties broken by position, earlier first), skipping a
 * segment that would overflow the budget and trying the next, until `k` are kept or none is left. A segment's
 * cost is its tokens (overlap included, so adjacent kept segments are over- rather than under-charged) plus a
 * separator. Returned in document order, so the splice reads as the document does. Deterministic: the same scores
 * give the same selection, whatever order they were computed in.
 */
export function selectKeySegments(scored: readonly ScoredSegment[], options: KeySelectionOptions): ScoredSegment[] {
  const { budgetTokens, k, threshold } = options;
  const separatorTokens = options.separatorTokens ?? SEPARATOR_TOKENS;
  if (!(budgetTokens >= 0)) throw new InvalidOptionError('budgetTokens', budgetTokens, 'a number of tokens, at least 0');
  if (k !== undefined && (!Number.isInteger(k) || k < 1)) throw new InvalidOptionError('k', k, 'a whole number, at least 1');
  if (threshold !== undefined && !Number.isFinite(threshold)) throw new InvalidOptionError('threshold', threshold, 'a finite number');
  const ranked = [...scored].sort((a, b) => a.value - b.value || a.index - b.index);
  const kept: ScoredSegment[] = [];
  let used = 0;
  for (const candidate of ranked) {
    if (kept.length === k) break;
    // Ranked by value: once one is above the threshold, all the rest are.
    if (threshold !== undefined && candidate.value > threshold) break;
    const cost = candidate.tokens + separatorTokens;
    if (used + cost > budgetTokens) continue;
    kept.push(candidate);
    used += cost;
  }
  return kept.sort((a, b) => a.index - b.index);
}

/** A run of consecutive kept segments, read as one passage. */
export interface KeyPassage {
  /** Indexes of the first and last segment of the run. */
  readonly first: number;
  readonly last: number;
  readonly charStart: number;
  readonly charEnd: number;
  readonly byteStart: number;
  readonly byteEnd: number;
}

/**
 * Splice kept segments (in document order) into passages: neighbours (index i and i + 1) join into one passage
 * from the first's start to the second's end, so the overlap the second repeats is read once; a gap starts a new
 * passage. The answerer joins passages with a `[…]` separator.
 */
export function spliceKeySegments(kept: readonly ScoredSegment[]): KeyPassage[] {
  const passages: KeyPassage[] = [];
  for (const segment of kept) {
    const previous = passages.at(-1);
    if (previous !== undefined && segment.index === previous.last + 1) {
      passages[passages.length - 1] = { ...previous, last: segment.index, charEnd: segment.charEnd, byteEnd: segment.byteEnd };
    } else {
      passages.push({ first: segment.index, last: segment.index, charStart: segment.charStart, charEnd: segment.charEnd, byteStart: segment.byteStart, byteEnd: segment.byteEnd });
    }
  }
  return passages;
}
