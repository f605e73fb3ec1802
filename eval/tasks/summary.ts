import { deriveSeed } from '../random.js';
import { plantedFactsDocument, type PlantedFact } from '../summary-metrics.js';
import type { GenerateOptions } from '../task.js';

/** The name of the summary-quality task (`tome eval summary`). */
export const SUMMARY_TASK = 'summary';

/** Planted facts per generated document, by default. */
export const DEFAULT_PLANTED_FACTS = 8;

/** One generated input of the summary task: a long document and the facts planted in it. */
export interface SummarySample {
  readonly task: typeof SUMMARY_TASK;
  readonly document: string;
  readonly facts: readonly PlantedFact[];
  /** Tokens of `document` by the generating counter (equal to the requested length). */
  readonly tokens: number;
}

/**
 * A document of exactly `options.tokens` tokens (real text by default: *Moby Dick* from a seeded chapter) with
 * `facts` invented facts ("The keeper of the Koravi lighthouse was called Temasu.") spread evenly through it.
 * Deterministic in (length, sample, seed, facts); each sample starts at another place in the text.
 */
export function generateSummarySample(options: GenerateOptions & { facts?: number }): SummarySample {
  const planted = plantedFactsDocument({ tokens: options.tokens, facts: options.facts ?? DEFAULT_PLANTED_FACTS, seed: deriveSeed(SUMMARY_TASK, options.seed, options.sample), haystack: options.haystack ?? 'moby-dick', counter: options.counter });
  return { task: SUMMARY_TASK, document: planted.document, facts: planted.facts, tokens: planted.tokens };
}
