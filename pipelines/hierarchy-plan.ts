import { InvalidOptionError } from '../src/errors.js';

/** Share of a merge prompt's free space that the same-level context may take (BooookScore: 20%). */
export const CONTEXT_SHARE = 0.2;
/** Tokens kept free in every merge prompt for chat-format differences between tokenizers. */
export const MERGE_MARGIN_TOKENS = 32;
/** Tokens a "Summary j:" label adds to each block, over the summary itself. */
const BLOCK_LABEL_TOKENS = 8;

export interface MergeSpace {
  /** Tokens available for the summaries being merged. */
  readonly summaries: number;
  /** Most tokens the previous same-level summary may take as context. */
  readonly context: number;
}

/** Room in a merge prompt whose answer may take `outputTokens`. */
export function mergeSpace(contextWindow: number, fixedPromptTokens: number, outputTokens: number): MergeSpace {
  const free = contextWindow - fixedPromptTokens - outputTokens - MERGE_MARGIN_TOKENS;
  const context = Math.floor(free * CONTEXT_SHARE);
  return { summaries: free - context, context };
}

export interface PlanInput {
  readonly chunkCount: number;
  readonly contextWindow: number;
  readonly fixedPromptTokens: number;
  /** Budget of the top (final) summary. */
  readonly topTokens: number;
  /** Each level gets this fraction of the level above. */
  readonly levelRatio: number;
}

/**
 * Token budgets per level, leaves first, final summary last: the fewest levels L such that packing full-size
 * summaries of each level into merge prompts reaches a single summary, with budget(l) = top · ratio^(L−l).
 * A one-chunk book gets one level with the top budget.
 */
export function planLevelBudgets(input: PlanInput): number[] {
  if (input.chunkCount <= 1) return [input.topTokens];
  for (let levels = 1; levels <= 32; levels++) {
    const budgets = Array.from({ length: levels + 1 }, (_, level) => Math.max(16, Math.round(input.topTokens * input.levelRatio ** (levels - level))));
    let remaining = input.chunkCount;
    for (let level = 0; level < levels; level++) {
      const perMerge = Math.floor(mergeSpace(input.contextWindow, input.fixedPromptTokens, budgets[level + 1]!).summaries / (budgets[level]! + BLOCK_LABEL_TOKENS));
      if (perMerge < 2) {
        throw new InvalidOptionError('summaryTokens', input.topTokens, `small enough that two level-${level} summaries fit one merge prompt in a ${input.contextWindow}-token window`);
      }
      remaining = Math.ceil(remaining / perMerge);
    }
    if (remaining === 1) return budgets;
  }
  throw new InvalidOptionError('chunkTokens', input.chunkCount, 'fewer chunks: 32 merge levels were not enough');
}

/** Greedy packing: consecutive items, as many per group as `capacity` tokens allow (at least one). */
export function packGroups<Item>(items: readonly Item[], tokens: (item: Item, positionInGroup: number) => number, capacity: number): Item[][] {
  const groups: Item[][] = [];
  let current: Item[] = [];
  let used = 0;
  for (const item of items) {
    const cost = tokens(item, current.length + 1);
    if (current.length > 0 && used + cost > capacity) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(item);
    used += current.length === 1 ? tokens(item, 1) : cost;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
