import { InvalidOptionError } from '../src/errors.js';
import { definedOnly } from '../src/options.js';
import type { RunContext } from '../src/pipeline/run-context.js';

/** Options shared by both book-summarization workflows (defaults from the BooookScore study). */
export interface BookSummaryOptions {
  /** Most tokens per chunk; chunks are packed from whole paragraphs. Default 2,048. */
  chunkTokens?: number;
  /** Token budget of the final summary (hierarchical: the top level; incremental: the running summary). Default 900. */
  summaryTokens?: number;
  /** Hierarchical only: each level below the top gets this fraction of the level above's budget. Default 0.65. */
  levelRatio?: number;
}

export const BOOK_SUMMARY_DEFAULTS = { chunkTokens: 2048, summaryTokens: 900, levelRatio: 0.65 } as const;

/** Book-summary methods: BooookScore's two workflows, Chain-of-Agents (query-free) and SCM's ultra-long mode. */
export type SummaryMethod = 'hierarchical' | 'incremental' | 'coa' | 'scm';

/** What `tome summarize --json` prints. */
export interface SummaryResult {
  readonly summary: string;
  readonly method: SummaryMethod;
  readonly model: string;
  readonly chunks: number;
  /** Levels of summaries: 1 for incremental or a one-chunk book, else leaves + merge levels. */
  readonly levels: number;
  /** Model calls sent in this run (steps restored from a checkpoint send none). */
  readonly modelCalls: number;
  readonly inputTokens: number;
  readonly summaryTokens: number;
  readonly elapsedMs: number;
}

export function resolveBookSummaryOptions(options: BookSummaryOptions): Required<BookSummaryOptions> {
  const resolved = { ...BOOK_SUMMARY_DEFAULTS, ...definedOnly(options) };
  if (!Number.isInteger(resolved.chunkTokens) || resolved.chunkTokens < 64) throw new InvalidOptionError('chunkTokens', resolved.chunkTokens, 'a whole number of tokens, at least 64');
  if (!Number.isInteger(resolved.summaryTokens) || resolved.summaryTokens < 32) throw new InvalidOptionError('summaryTokens', resolved.summaryTokens, 'a whole number of tokens, at least 32');
  if (!(resolved.levelRatio > 0 && resolved.levelRatio <= 1)) throw new InvalidOptionError('levelRatio', resolved.levelRatio, 'a number in (0, 1]');
  return resolved;
}

/** Fail before the first model call when a chunk, its prompt and the answer cannot share the window. */
export function assertChunkFits(context: RunContext, fixedPromptTokens: number, chunkTokens: number, reservedTokens: number): void {
  const needed = fixedPromptTokens + chunkTokens + reservedTokens;
  if (needed > context.model.contextWindow) {
    const largest = context.model.contextWindow - fixedPromptTokens - reservedTokens;
    throw new InvalidOptionError('chunkTokens', chunkTokens, `at most ${Math.max(0, largest)} for ${context.model.spec}'s ${context.model.contextWindow}-token window (prompt ${fixedPromptTokens} + answer ${reservedTokens} tokens)`);
  }
}

export function summaryResult(context: RunContext, method: SummaryMethod, summary: string, chunks: number, levels: number, inputTokens: number): SummaryResult {
  return {
    summary,
    method,
    model: context.model.spec,
    chunks,
    levels,
    modelCalls: context.stats.modelCalls,
    inputTokens,
    summaryTokens: context.model.tokenCounter.count(summary),
    elapsedMs: context.elapsedMs(),
  };
}
