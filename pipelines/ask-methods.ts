import { InvalidOptionError } from '../src/errors.js';
import type { Pipeline, PipelineSettings } from '../src/pipeline/pipeline.js';
import type { AskInput, AskMethod, AskResult } from './ask.js';
import { ragAnswer, truncateAnswer, type RagOptions } from './baselines.js';
import { chainOfAgentsAnswer, type ChainOfAgentsAnswerOptions } from './chain-of-agents.js';
import { scmAnswer, type ScmAnswerOptions } from './scm.js';
import { xl3mAnswer, type Xl3mOptions } from './xl3m.js';

export const ASK_METHODS: readonly AskMethod[] = ['coa', 'scm', 'rag', 'truncate', 'xl3m'];

/** Options of every ask method together; each method reads the ones it knows. */
export type AskOptions = RagOptions & ScmAnswerOptions & ChainOfAgentsAnswerOptions & Xl3mOptions;

/** The question-answering pipeline for `method`: the same input and result shape, so methods compare like with like. */
export function askPipeline(method: AskMethod, settings: PipelineSettings, options: AskOptions = {}): Pipeline<AskInput, AskResult> {
  switch (method) {
    case 'coa':
      return chainOfAgentsAnswer(settings, options);
    case 'scm':
      return scmAnswer(settings, options);
    case 'rag':
      return ragAnswer(settings, options);
    case 'truncate':
      return truncateAnswer(settings, options);
    case 'xl3m':
      return xl3mAnswer(settings, options);
    default:
      throw new InvalidOptionError('method', method, `one of ${ASK_METHODS.join(', ')}`);
  }
}
