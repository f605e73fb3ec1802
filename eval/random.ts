/** Seeded randomness: every generated sample is reproducible from (task, length, sample, seed). */

/** mulberry32: a small, fast PRNG with a 32-bit state. Returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed derived from several parts (FNV-1a over their text), so neighbouring cells get unrelated streams. */
export function deriveSeed(...parts: readonly (string | number)[]): number {
  let hash = 0x811c9dc5;
  for (const character of parts.join('\u0000')) {
    hash ^= character.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** Fisher–Yates, in place. */
export function shuffle<T>(random: () => number, items: T[]): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}

const CONSONANTS = 'bdfgklmnprstvz';
const VOWELS = 'aeiou';

/**
 * A pronounceable made-up word of `syllables` consonant–vowel pairs ("koravi"). Up to 3 syllables it is 6 letters,
 * one token for tome's approximate counter; the space of 3-syllable words (70³ = 343,000) covers 1M-token lists.
 */
export function madeUpWord(random: () => number, syllables = 3): string {
  let word = '';
  for (let index = 0; index < syllables; index++) word += pick(random, [...CONSONANTS]) + pick(random, [...VOWELS]);
  return word;
}

/** `count` distinct made-up words. */
export function distinctWords(random: () => number, count: number, syllables = 3, exclude: ReadonlySet<string> = new Set()): string[] {
  const seen = new Set<string>(exclude);
  const words: string[] = [];
  while (words.length < count) {
    const word = madeUpWord(random, syllables);
    if (seen.has(word)) continue;
    seen.add(word);
    words.push(word);
  }
  return words;
}
