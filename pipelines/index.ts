import { InvalidOptionError } from '../src/errors.js';
import type { DocumentInput, Pipeline, PipelineSettings } from '../src/pipeline/pipeline.js';
import { registerPipeline } from '../src/pipeline/registry.js';
import type { BookSummaryOptions, SummaryMethod, SummaryResult } from './book-summary.js';
import { HIERARCHICAL_SUMMARY, hierarchicalSummary } from './hierarchical-summary.js';
import { INCREMENTAL_SUMMARY, incrementalSummary } from './incremental-summary.js';

export * from './book-summary.js';
export { hierarchicalSummary, HIERARCHICAL_SUMMARY, trailingSentencesWithin } from './hierarchical-summary.js';
export { incrementalSummary, INCREMENTAL_SUMMARY } from './incremental-summary.js';
export { planLevelBudgets, mergeSpace, packGroups, CONTEXT_SHARE } from './hierarchy-plan.js';

export const SUMMARY_METHODS: readonly SummaryMethod[] = ['hierarchical', 'incremental'];

/** The book-summary pipeline for `method`. */
export function bookSummary(method: SummaryMethod, settings: PipelineSettings, options: BookSummaryOptions = {}): Pipeline<DocumentInput, SummaryResult> {
  switch (method) {
    case 'hierarchical':
      return hierarchicalSummary(settings, options);
    case 'incremental':
      return incrementalSummary(settings, options);
    default:
      throw new InvalidOptionError('method', method, `one of ${SUMMARY_METHODS.join(', ')}`);
  }
}

/** Parse the string options `tome run` passes (`--option chunkTokens=1024`). */
export function bookSummaryOptionsFrom(options: Readonly<Record<string, string>>): BookSummaryOptions {
  const known = new Set(['chunkTokens', 'summaryTokens', 'levelRatio']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new InvalidOptionError(`--option ${key}`, options[key], `one of ${[...known].join(', ')}`);
  }
  const number = (key: string) => (options[key] === undefined ? undefined : Number(options[key]));
  return { chunkTokens: number('chunkTokens'), summaryTokens: number('summaryTokens'), levelRatio: number('levelRatio') };
}

registerPipeline(HIERARCHICAL_SUMMARY, 'Book summary by hierarchical merging of chunk summaries (BooookScore).', (settings, options) =>
  hierarchicalSummary(settings, bookSummaryOptionsFrom(options)),
);
registerPipeline(INCREMENTAL_SUMMARY, 'Book summary by incremental updating of one running summary (BooookScore).', (settings, options) =>
  incrementalSummary(settings, bookSummaryOptionsFrom(options)),
);
