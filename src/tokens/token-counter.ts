/**
 * Counts tokens the way a model will see them. Every budget in tome (chunk sizes, summary limits, "does this prompt
 * fit the window") goes through one of these, so swapping in a model's own tokenizer changes every budget at once.
 */
export interface TokenCounter {
  /** Shown in results and logs, e.g. `approximate` or `tokenizer:llama-3`. */
  readonly name: string;
  /** Number of tokens in `text` (no special tokens added). */
  count(text: string): number;
}
