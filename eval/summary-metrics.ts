import { InvalidOptionError } from '../src/errors.js';
import { approximateTokenCounter } from '../src/tokens/approximate-token-counter.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';
import { assembleText } from './assemble.js';
import { haystackSentences, UnitBuffer, type HaystackKind } from './haystack.js';
import { deriveSeed, distinctWords, seededRandom } from './random.js';
import { containsWord } from './scoring.js';

export interface LengthCompliance {
  readonly tokens: number;
  readonly budget: number;
  /** tokens / budget. */
  readonly ratio: number;
  readonly withinBudget: boolean;
}

/** Does a summary keep to its token budget? */
export function lengthCompliance(summary: string, budget: number, counter: TokenCounter = approximateTokenCounter): LengthCompliance {
  if (!Number.isInteger(budget) || budget < 1) throw new InvalidOptionError('--budget', budget, 'a whole number of tokens ≥ 1');
  const tokens = counter.count(summary);
  return { tokens, budget, ratio: tokens / budget, withinBudget: tokens <= budget };
}

/** A fact planted in a document, and the words a summary must contain to count as covering it. */
export interface PlantedFact {
  readonly sentence: string;
  readonly mustContain: readonly string[];
}

export interface FactCoverage {
  /** Share of facts covered, in [0, 1]. */
  readonly coverage: number;
  readonly covered: readonly PlantedFact[];
  readonly missed: readonly PlantedFact[];
}

/** Share of facts whose required words all appear in the summary (whole words, case-insensitive). */
export function factCoverage(summary: string, facts: readonly PlantedFact[]): FactCoverage {
  const covered = facts.filter((fact) => fact.mustContain.every((word) => containsWord(summary, word)));
  const missed = facts.filter((fact) => !covered.includes(fact));
  return { coverage: facts.length === 0 ? 1 : covered.length / facts.length, covered, missed };
}

/**
 * A document of exactly `tokens` tokens (real text by default) with `facts` invented facts spread evenly through
 * it: "The keeper of the <place> lighthouse was called <Name>." A summary covers a fact when it names both.
 * `tokens` in the result is the length by the counter (equal to the request unless the counter cannot land on it).
 */
export function plantedFactsDocument(options: { tokens: number; facts: number; seed: number; haystack?: HaystackKind; counter?: TokenCounter }): { document: string; facts: PlantedFact[]; tokens: number } {
  const random = seededRandom(deriveSeed('planted-facts', options.seed, options.tokens, options.facts));
  const words = distinctWords(random, options.facts * 2, 3).map((word) => word[0]!.toUpperCase() + word.slice(1));
  const facts = Array.from({ length: options.facts }, (_, index) => {
    const [place, name] = [words[2 * index]!, words[2 * index + 1]!];
    return { sentence: `The keeper of the ${place} lighthouse was called ${name}.`, mustContain: [place, name] };
  });
  const assembled = assembleText({
    task: 'planted facts',
    tokens: options.tokens,
    counter: options.counter ?? approximateTokenCounter,
    units: new UnitBuffer(haystackSentences(options.haystack ?? 'moby-dick', random)),
    needles: facts.map((fact, index) => ({ text: fact.sentence, depth: (index + 0.5) / facts.length })),
  });
  return { document: assembled.text, facts, tokens: assembled.tokens };
}
