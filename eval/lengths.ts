import { InvalidOptionError } from '../src/errors.js';

/** Most tokens one generated input may have (RULER and InfiniteBench stop at about a million). */
export const MAX_EVAL_LENGTH = 4 * 1024 * 1024;

/**
 * `4k,16k,1m` → [4096, 16384, 1048576]. `k` is 1,024 tokens and `m` 1,048,576 (the long-context papers' habit);
 * plain numbers are taken as they are. Sorted, duplicates removed.
 * @throws InvalidOptionError naming the bad entry.
 */
export function parseLengths(text: string, option = '--lengths'): number[] {
  const entries = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0) throw new InvalidOptionError(option, text, 'a comma-separated list of token lengths such as 4k,16k,64k');
  const lengths = entries.map((entry) => {
    const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(entry);
    const value = match ? Math.round(Number(match[1]) * (match[2] === '' ? 1 : match[2]!.toLowerCase() === 'k' ? 1024 : 1024 * 1024)) : Number.NaN;
    if (!Number.isInteger(value) || value < 64 || value > MAX_EVAL_LENGTH) {
      throw new InvalidOptionError(option, entry, `token lengths between 64 and 4m, written like 4096, 4k or 1m (comma-separated)`);
    }
    return value;
  });
  return [...new Set(lengths)].sort((a, b) => a - b);
}

/** 4096 → "4k", 1048576 → "1m", 1500 → "1500". */
export function formatLength(tokens: number): string {
  if (tokens % (1024 * 1024) === 0) return `${tokens / (1024 * 1024)}m`;
  if (tokens % 1024 === 0) return `${tokens / 1024}k`;
  return String(tokens);
}
