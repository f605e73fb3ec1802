/**
 * A model that can score text: how likely each token of a continuation is, and how uncertain the model was
 * before each one. Local engines can (tome/inference's `score()`); chat APIs cannot, since they expose no
 * next-token distributions over a given text. XL3M and evaluation need it.
 */
export interface ContinuationScores {
  /** The continuation's token ids (tokenized on its own). */
  tokenIds: number[];
  /** log p(token_i | context, token_<i), natural log, one per continuation token. */
  logProbs: number[];
  /** Entropy (nats) of the next-token distribution at each continuation position, before the token is seen. */
  entropies: number[];
  contextTokens: number;
}

export interface PromptScorer {
  score(context: string, continuation: string, options?: { signal?: AbortSignal }): Promise<ContinuationScores>;
}
