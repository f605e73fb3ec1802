import { InvalidOptionError } from '../src/errors.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';
import type { UnitBuffer } from './haystack.js';

/** A sentence to hide in the haystack, at a relative depth (0 = start of the haystack, 1 = its end). */
export interface Needle {
  readonly text: string;
  readonly depth: number;
}

export interface AssembleRequest {
  /** Exact token length of the whole text, by `counter`. */
  readonly tokens: number;
  readonly counter: TokenCounter;
  /** Haystack units (sentences, list items), in order. */
  readonly units: UnitBuffer;
  /** Text before the haystack (the task's instructions). Default none. */
  readonly prefix?: string;
  readonly needles?: readonly Needle[];
  /** Name of the task, for the error when `tokens` is too small. */
  readonly task: string;
}

export interface AssembledText {
  readonly text: string;
  /** Tokens of `text` by the counter: equal to the request unless the counter cannot land on it exactly. */
  readonly tokens: number;
  /** Whole haystack units used (padding words not included). */
  readonly units: number;
  /** Character offset of each needle in `text`, in request order. */
  readonly needleOffsets: readonly number[];
}

/** Words that cost one token in every BPE vocabulary we know: the last resort when padding to an exact length. */
const ONE_TOKEN_PADDING = ['a', 'and', 'the', 'of'];

/**
 * Build a text of exactly `tokens` tokens: prefix, then haystack units with the needles inserted at unit
 * boundaries nearest their depths (by tokens), joined by single spaces. The unit count is found by search on
 * the counted length (an estimate from per-unit counts, then single steps, so a 1M-token text is counted a handful
 * of times); the last few tokens are whole words of the next unit, or one-token words where those overshoot.
 * @throws InvalidOptionError when even the prefix and needles alone are longer than `tokens`.
 */
export function assembleText(request: AssembleRequest): AssembledText {
  const { counter, tokens: target } = request;
  const unitTokens: number[] = [];
  const unitCost = (index: number) => (unitTokens[index] ??= counter.count(request.units.at(index)));
  const count = (units: number, padding: readonly string[]) => counter.count(build(request, units, padding, unitCost).text);

  const bare = count(0, []);
  if (bare > target) throw new InvalidOptionError('--lengths', target, `at least ${bare} tokens for ${request.task} (its instructions and needles alone take that many)`);

  // Estimate from per-unit counts, then walk to the largest unit count that still fits.
  let units = 0;
  let estimate = bare;
  while (estimate + unitCost(units) <= target) estimate += unitCost(units++);
  while (units > 0 && count(units, []) > target) units--;
  while (count(units + 1, []) <= target) units++;

  const padding: string[] = [];
  let length = count(units, padding);
  const candidates = request.units.at(units).split(/\s+/).filter((word) => word !== '');
  for (const word of candidates) {
    if (length === target) break;
    const options = [word, word.replace(/[^\p{L}\p{N}]/gu, ''), ...ONE_TOKEN_PADDING].filter((option) => option !== '');
    const fitting = options.map((option) => ({ option, length: count(units, [...padding, option]) })).find((entry) => entry.length <= target && entry.length > length);
    if (!fitting) break;
    padding.push(fitting.option);
    length = fitting.length;
  }
  while (length < target) {
    const next = ONE_TOKEN_PADDING.map((option) => ({ option, length: count(units, [...padding, option]) })).find((entry) => entry.length <= target && entry.length > length);
    if (!next) break;
    padding.push(next.option);
    length = next.length;
  }
  const built = build(request, units, padding, unitCost);
  return { text: built.text, tokens: length, units, needleOffsets: built.needleOffsets };
}

function build(request: AssembleRequest, units: number, padding: readonly string[], unitCost: (index: number) => number): { text: string; needleOffsets: number[] } {
  const needles = request.needles ?? [];
  const haystack = request.units.take(units);
  let total = 0;
  for (let index = 0; index < units; index++) total += unitCost(index);
  // Needle i goes before the first unit whose starting token position reaches depth × haystack tokens.
  const slots = needles.map((needle) => {
    const wanted = Math.min(1, Math.max(0, needle.depth)) * total;
    let position = 0;
    let index = 0;
    while (index < units && position + unitCost(index) / 2 < wanted) position += unitCost(index++);
    return index;
  });
  const parts: string[] = [];
  const needleOffsets = new Array<number>(needles.length).fill(0);
  let offset = 0;
  const push = (part: string) => {
    if (parts.length > 0) offset += 1;
    parts.push(part);
    offset += part.length;
  };
  if (request.prefix) push(request.prefix);
  const placeNeedles = (slot: number) => {
    needles.forEach((needle, index) => {
      if (slots[index] !== slot) return;
      needleOffsets[index] = offset + (parts.length > 0 ? 1 : 0);
      push(needle.text);
    });
  };
  for (let index = 0; index < units; index++) {
    placeNeedles(index);
    push(haystack[index]!);
  }
  placeNeedles(units);
  for (const word of padding) push(word);
  return { text: parts.join(' '), needleOffsets };
}
