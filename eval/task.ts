import type { TokenCounter } from '../src/tokens/token-counter.js';
import type { HaystackKind } from './haystack.js';

/** How one generated sample is scored against the method's answer. */
export type ScoringRule =
  /** The first integer in the answer equals the only expected answer (passkey). */
  | 'first-integer'
  /** Share of the expected answers found in the answer as whole words, case-insensitive (RULER). */
  | 'contains-all';

/** One generated input: a long document, a question about it, and what a right answer contains. */
export interface EvalSample {
  readonly task: string;
  readonly document: string;
  readonly question: string;
  readonly answers: readonly string[];
  readonly scoring: ScoringRule;
  /** Tokens of `document` by the generating counter (equal to the requested length). */
  readonly tokens: number;
  /** Relative depth of the (first) needle, when the task hides one; shown in the per-depth table. */
  readonly depth?: number;
}

export interface GenerateOptions {
  /** Requested document length in tokens. */
  readonly tokens: number;
  /** 0-based sample index: picks the depth (swept evenly over `samples`) and, with the seed, the random values. */
  readonly sample: number;
  /** Samples per length; the depths are spread over them. */
  readonly samples: number;
  readonly seed: number;
  /** Lengths are exact by this counter; default tome's approximate counter. */
  readonly counter?: TokenCounter;
  /** Needle tasks: what fills the space. Default `filler`. */
  readonly haystack?: HaystackKind;
}

/** A task generator: deterministic in its options. */
export interface EvalTask {
  readonly name: string;
  readonly description: string;
  generate(options: GenerateOptions): EvalSample;
}

/** Depth of sample `sample` of `samples`: evenly from 0 to 1 inclusive (one sample sits in the middle). */
export function sweptDepth(sample: number, samples: number): number {
  return samples <= 1 ? 0.5 : sample / (samples - 1);
}
