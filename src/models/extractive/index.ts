/** The extractive engine: tome's offline, deterministic stand-in for an LLM that selects sentences of its inputs. */

export {
  DEFAULT_EXTRACTIVE_WORD_LIMIT,
  EXTRACTIVE_ENGINE,
  ExtractiveChatModel,
  type ExtractiveChatModelCallOptions,
  type ExtractiveChatModelFields,
} from './extractive-chat-model.js';
export { MINIMUM_NEW_MATERIAL_WORDS, NO_ANSWER, runExtractiveTask } from './extractive-tasks.js';
export { bm25Scores, DEFAULT_BM25_PARAMETERS, type Bm25Parameters } from './bm25.js';
export {
  countWords,
  cutToWords,
  isNearDuplicate,
  NEAR_DUPLICATE_JACCARD,
  PARAGRAPH_BREAK_WORDS,
  renderSentences,
  selectSentences,
  TRUNCATION_MARK,
  type SelectionCandidate,
  type SelectionOptions,
} from './selection.js';
export { splitSentences, type Sentence } from './sentences.js';
export { extractTerms, stemTerm, termJaccard } from './terms.js';
export { textRankScores, type TextRankOptions } from './textrank.js';
