/** Seeded randomness for property tests: every generated text is reproducible from its seed. */

// The same mulberry32 generator the evaluation tasks use.
export { seededRandom } from '../../eval/random.js';

export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}
