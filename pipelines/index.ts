import { InvalidOptionError } from '../src/errors.js';
import { Pipeline, toDocument, type DocumentInput, type PipelineSettings } from '../src/pipeline/pipeline.js';
import { registerPipeline } from '../src/pipeline/registry.js';
import type { BookSummaryOptions, SummaryMethod, SummaryResult } from './book-summary.js';
import { HIERARCHICAL_SUMMARY, hierarchicalSummary } from './hierarchical-summary.js';
import { INCREMENTAL_SUMMARY, incrementalSummary } from './incremental-summary.js';
import { CHAIN_OF_AGENTS_SUMMARY, chainOfAgentsOptionsFrom, chainOfAgentsSummary } from './chain-of-agents.js';
import { SCM_SUMMARY, scmSummary } from './scm-summary.js';
import { askPipeline, ASK_METHODS } from './ask-methods.js';
import { xl3mAnswer, xl3mOptionsFrom } from './xl3m.js';

export * from './book-summary.js';
export { hierarchicalSummary, HIERARCHICAL_SUMMARY, trailingSentencesWithin } from './hierarchical-summary.js';
export { incrementalSummary, INCREMENTAL_SUMMARY } from './incremental-summary.js';
export { planLevelBudgets, mergeSpace, packGroups, CONTEXT_SHARE } from './hierarchy-plan.js';
export * from './ask.js';
export { askPipeline, ASK_METHODS, type AskOptions } from './ask-methods.js';
export { truncateAnswer, ragAnswer, type RagOptions } from './baselines.js';
export { scmAnswer, type ScmAnswerOptions, type ScmAnswerResult } from './scm.js';
export { scmSummary, SCM_SUMMARY, type ScmSummaryOptions } from './scm-summary.js';
export { ScmChatSession, type ScmChatOptions } from './scm-chat.js';
export * from './chain-of-agents.js';
export { xl3mAnswer, xl3mOptionsFrom, XL3M_ANSWER, XL3M_DEFAULTS, type Xl3mOptions, type Xl3mInput, type Xl3mDocumentInput, type Xl3mFileInput, type Xl3mResult, type Xl3mSelectedSegment } from './xl3m.js';

export const SUMMARY_METHODS: readonly SummaryMethod[] = ['hierarchical', 'incremental', 'coa', 'scm'];

/** The book-summary pipeline for `method`. */
export function bookSummary(method: SummaryMethod, settings: PipelineSettings, options: BookSummaryOptions = {}): Pipeline<DocumentInput, SummaryResult> {
  switch (method) {
    case 'hierarchical':
      return hierarchicalSummary(settings, options);
    case 'incremental':
      return incrementalSummary(settings, options);
    case 'coa':
      return chainOfAgentsSummary(settings, { answerTokens: options.summaryTokens });
    case 'scm':
      return scmSummary(settings, {});
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
registerPipeline(CHAIN_OF_AGENTS_SUMMARY, 'Summary by Chain-of-Agents: workers read in order, a manager writes the summary.', (settings, options) =>
  chainOfAgentsSummary(settings, chainOfAgentsOptionsFrom(options)),
);
registerPipeline(SCM_SUMMARY, "Summary by SCM's ultra-long document mode: block summaries, then merges keeping ~30%.", (settings) => scmSummary(settings));

/** Ask methods as registered pipelines over a document: `tome run ask-rag book.txt --option question="…"`. */
for (const method of ASK_METHODS.filter((name) => name !== 'xl3m')) {
  registerPipeline(`ask-${method}`, `Answer --option question=… about the document with ${method}.`, (settings, options) => {
    const { question } = options;
    if (question === undefined || question.trim() === '') throw new InvalidOptionError('--option question', question, 'the question to answer, e.g. --option question="Who is Ishmael?"');
    const inner = askPipeline(method, settings);
    return new Pipeline({ name: `ask-${method}`, options: { question }, run: (input, context) => inner.definition.run({ document: toDocument(input), question }, context) }, settings);
  });
}

/** XL3M's question is optional: without one, the document's last `questionTokens` tokens are the question. */
registerPipeline('ask-xl3m', 'Answer --option question=… (default: the last tokens of the input) with XL3M key-context selection (local models).', (settings, options) => {
  const { question, ...rest } = options;
  const inner = xl3mAnswer(settings, xl3mOptionsFrom(rest));
  return new Pipeline({ name: 'ask-xl3m', options: { question: question ?? null, ...rest }, run: (input, context) => inner.definition.run({ document: toDocument(input), question }, context) }, settings);
});
