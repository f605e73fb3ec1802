import { CERTAINTY_MEASURES, type CertaintyMeasure, type CertaintyScorer } from '../agents/xl3m/certainty.js';
import { InvalidOptionError } from '../src/errors.js';
import { DEFAULT_ANSWER_WORDS } from './ask.js';

/** Defaults of {@link Xl3mOptions}. */
export const XL3M_DEFAULTS = { segmentTokens: 512, questionTokens: 64, measure: 'mean-entropy', overlapShare: 1 / 8 } as const;
/** Tokens kept free when a sub-context [segment, question] is scored (a line break between them, counter drift). */
export const XL3M_SCORE_MARGIN_TOKENS = 8;
/** The smallest segment worth scoring. */
export const XL3M_MIN_SEGMENT_TOKENS = 16;

export interface Xl3mOptions {
  /**
   * Most tokens per segment, overlap included. Every sub-context [segment, question] must fit the window, and a
   * segment must fit the key-context budget. Default: 512, or less when the window is smaller.
   */
  segmentTokens?: number;
  /** Tokens of the previous segment's tail repeated at the start of each segment. Default: segmentTokens / 8. */
  overlapTokens?: number;
  /** Without an explicit question: how many of the input's last tokens are the question. Default 64. */
  questionTokens?: number;
  /** The certainty measure (see {@link CertaintyMeasure}). Default `mean-entropy`. */
  measure?: CertaintyMeasure;
  /** Most segments in the key context. Default: no limit (as many of the most certain as fit the budget). */
  k?: number;
  /** Tokens the key context may take. Default (and upper bound): what the window leaves beside the prompt and answer. */
  budgetTokens?: number;
  /** Keep only segments whose measure is at most this (nats). Default: none. */
  threshold?: number;
  /** Words the answer may take. Default 130. */
  answerWords?: number;
  /** Scores segments instead of the model's own `scorer` (tests, or another scoring model). Not fingerprinted beyond its `measure`. */
  certaintyScorer?: CertaintyScorer;
}

export interface ResolvedXl3mOptions {
  readonly segmentTokens: number | null;
  readonly overlapTokens: number | null;
  readonly questionTokens: number;
  readonly measure: CertaintyMeasure;
  readonly k: number | null;
  readonly budgetTokens: number | null;
  readonly threshold: number | null;
  readonly answerWords: number;
}

/** Validate and fill in defaults (budget-dependent ones stay null until the window is known). @throws InvalidOptionError */
export function resolveXl3mOptions(options: Xl3mOptions): ResolvedXl3mOptions {
  const whole = (name: string, value: number | undefined, minimum: number) => {
    if (value !== undefined && (!Number.isInteger(value) || value < minimum)) throw new InvalidOptionError(name, value, `a whole number, at least ${minimum}`);
    return value ?? null;
  };
  const measure = options.measure ?? XL3M_DEFAULTS.measure;
  if (!CERTAINTY_MEASURES.includes(measure)) throw new InvalidOptionError('measure', measure, `one of ${CERTAINTY_MEASURES.join(', ')}`);
  if (options.threshold !== undefined && !Number.isFinite(options.threshold)) throw new InvalidOptionError('threshold', options.threshold, 'a finite number (nats)');
  return {
    segmentTokens: whole('segmentTokens', options.segmentTokens, XL3M_MIN_SEGMENT_TOKENS),
    overlapTokens: whole('overlapTokens', options.overlapTokens, 0),
    questionTokens: whole('questionTokens', options.questionTokens, 1) ?? XL3M_DEFAULTS.questionTokens,
    measure,
    k: whole('k', options.k, 1),
    budgetTokens: whole('budgetTokens', options.budgetTokens, 1),
    threshold: options.threshold ?? null,
    answerWords: whole('answerWords', options.answerWords, 1) ?? DEFAULT_ANSWER_WORDS,
  };
}


/** Parse the string options `tome run ask-xl3m` passes (`--option segmentTokens=256`). @throws InvalidOptionError */
export function xl3mOptionsFrom(options: Readonly<Record<string, string>>): Xl3mOptions {
  const known = ['segmentTokens', 'overlapTokens', 'questionTokens', 'measure', 'k', 'budgetTokens', 'threshold', 'answerWords'];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new InvalidOptionError(`--option ${key}`, options[key], `one of ${known.join(', ')}`);
  }
  const number = (key: string) => (options[key] === undefined ? undefined : Number(options[key]));
  return {
    segmentTokens: number('segmentTokens'),
    overlapTokens: number('overlapTokens'),
    questionTokens: number('questionTokens'),
    measure: options.measure as CertaintyMeasure | undefined,
    k: number('k'),
    budgetTokens: number('budgetTokens'),
    threshold: number('threshold'),
    answerWords: number('answerWords'),
  };
}

/**
 * `--select`: `<k>` keeps at most k segments (within the window), `budget` as many as fit the window (the
 * default), `budget:<tokens>` as many as fit that many tokens. @throws InvalidOptionError
 */
export function parseXl3mSelect(value: string): Pick<Xl3mOptions, 'k' | 'budgetTokens'> {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed) && Number(trimmed) >= 1) return { k: Number(trimmed) };
  if (trimmed === 'budget') return {};
  const budget = /^budget:(\d+)$/.exec(trimmed);
  if (budget && Number(budget[1]) >= 1) return { budgetTokens: Number(budget[1]) };
  throw new InvalidOptionError('--select', value, 'k (a whole number of segments, e.g. 5), budget (as many as fit the window) or budget:<tokens> (e.g. budget:2000)');
}
