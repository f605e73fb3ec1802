import { InvalidOptionError } from '../../src/errors.js';
import type { ContinuationScores, PromptScorer } from '../../src/models/prompt-scorer.js';

/**
 * How XL3M turns a model's scores over the question into one number per segment. The paper (Wang et al. 2024,
 * arXiv 2405.17755) measures the entropy of the next-token distributions over the question positions but does not
 * pin down the aggregation, so both readings are offered:
 *
 * - `mean-entropy` (default): mean over the question's tokens of the entropy (nats) of the model's next-token
 *   distribution just before each token — how unsure the model is about what comes, whatever actually comes.
 * - `mean-nll`: mean negative log-probability (nats) of the question's actual tokens — how surprised the model is
 *   by the question itself (the per-token cross-entropy; exp of it is the question's perplexity).
 *
 * Lower is more certain: a segment that lowers it is taken as relevant to the question.
 */
export type CertaintyMeasure = 'mean-entropy' | 'mean-nll';

export const CERTAINTY_MEASURES: readonly CertaintyMeasure[] = ['mean-entropy', 'mean-nll'];

/**
 * One number from per-token scores: the mean entropy, or the mean negative log-probability (see
 * {@link CertaintyMeasure}).
 * @throws InvalidOptionError when the scores hold no token (a question must have at least one) or the measure is unknown.
 */
export function aggregateCertainty(scores: Pick<ContinuationScores, 'logProbs' | 'entropies'>, measure: CertaintyMeasure): number {
  let values: readonly number[];
  if (measure === 'mean-entropy') values = scores.entropies;
  else if (measure === 'mean-nll') values = scores.logProbs.map((logProb) => -logProb);
  else throw new InvalidOptionError('measure', measure, `one of ${CERTAINTY_MEASURES.join(', ')}`);
  if (values.length === 0) throw new InvalidOptionError('question', '', 'a question of at least one token: certainty is measured over its tokens');
  let total = 0;
  for (const value of values) total += value;
  return total / values.length;
}

/** What XL3M needs from a model: how uncertain it is about the question after reading one segment. */
export interface CertaintyScorer {
  /** Label of what `uncertainty` measures (e.g. `mean-entropy`): results and the checkpoint fingerprint show it. */
  readonly measure: string;
  /**
   * Uncertainty about `question` given the sub-context [segment, question]: lower means the segment makes the
   * question more predictable, i.e. it is more relevant. Must be a finite number.
   */
  uncertainty(segment: string, question: string, options?: { signal?: AbortSignal }): Promise<number>;
}

/**
 * The text scored before the question: the segment, plus a line break when it does not already end in whitespace
 * (segments normally keep the space or blank line after their last sentence), so the question starts a new word.
 */
export function subContext(segment: string): string {
  return segment === '' || /\s$/.test(segment) ? segment : `${segment}\n`;
}

/** A {@link CertaintyScorer} on a model that can score text (a local engine's `score()`: one prefill per segment). */
export function promptCertaintyScorer(scorer: PromptScorer, measure: CertaintyMeasure = 'mean-entropy'): CertaintyScorer {
  if (!CERTAINTY_MEASURES.includes(measure)) throw new InvalidOptionError('measure', measure, `one of ${CERTAINTY_MEASURES.join(', ')}`);
  return {
    measure,
    async uncertainty(segment, question, options) {
      const scores = await scorer.score(subContext(segment), question, options);
      return aggregateCertainty(scores, measure);
    },
  };
}
