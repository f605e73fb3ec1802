/**
 * What the extractive engine answers for each {@link ModelTask}: which inputs' sentences compete, how they are
 * scored (TextRank without a query, BM25 with one) and how the word budget is shared. Pure and synchronous, so
 * the same task always yields the same text; the LangChain plumbing lives in extractive-chat-model.ts.
 */

import { InvalidOptionError } from '../../errors.js';
import type {
  AnswerTask,
  CompressTask,
  JudgeTask,
  NeedsMemoryTask,
  SummarySufficesTask,
  ManagerStepTask,
  MergeTask,
  ModelTask,
  SummarizeTask,
  UpdateTask,
  WorkerStepTask,
} from '../../tasks.js';
import { bm25Scores } from './bm25.js';
import {
  countWords,
  isNearDuplicate,
  renderSentences,
  selectSentences,
  type SelectionCandidate,
  type SelectionOptions,
} from './selection.js';
import { isSummaryWorthy } from './sentence-quality.js';
import { splitSentences } from './sentences.js';
import { extractTerms } from './terms.js';
import { textRankScores } from './textrank.js';

/**
 * The whole answer when no sentence of the source mentions any query term. Stated plainly rather than guessed,
 * and never carried along: a communication unit that holds only this sentence counts as empty.
 */
export const NO_ANSWER = 'The text does not say.';

/** The fewest words an update gives the new chunk, however many chunks came before it. */
export const MINIMUM_NEW_MATERIAL_WORDS = 40;

/** The extractive answer to `task`. Throws {@link InvalidOptionError} for a word limit that is not positive. */
export function runExtractiveTask(task: ModelTask): string {
  if (!Number.isFinite(task.wordLimit) || task.wordLimit < 1) {
    throw new InvalidOptionError('tomeTask.wordLimit', task.wordLimit, 'a positive number of words');
  }
  switch (task.kind) {
    case 'summarize':
      return summarize(task);
    case 'merge':
      return merge(task);
    case 'update':
      return update(task);
    case 'compress':
      return compress(task);
    case 'answer':
      return answer(task);
    case 'worker-step':
      return workerStep(task);
    case 'manager-step':
      return managerStep(task);
    case 'needs-memory':
      return needsMemory(task);
    case 'summary-suffices':
      return summarySuffices(task);
    case 'judge':
      return judge(task);
  }
}

/** A sentence with its terms, before it is scored. */
interface AnalysedSentence {
  readonly text: string;
  readonly words: number;
  readonly termList: readonly string[];
  readonly terms: ReadonlySet<string>;
  readonly group: number;
  readonly paragraph: number;
}

function analyse(text: string, group: number): AnalysedSentence[] {
  return splitSentences(text).map((sentence) => {
    const termList = extractTerms(sentence.text);
    return {
      text: sentence.text,
      words: countWords(sentence.text),
      termList,
      terms: new Set(termList),
      group,
      paragraph: sentence.paragraph,
    };
  });
}

/** The sentences fit to stand in a summary, or all of them when too few are (a short or unusual text). */
function summaryWorthy(sentences: readonly AnalysedSentence[]): AnalysedSentence[] {
  const worthy = sentences.filter((sentence) => isSummaryWorthy(sentence.text, sentence.words, sentence.terms.size));
  return worthy.length >= 2 ? worthy : [...sentences];
}

/** Sentences of an earlier answer, minus the {@link NO_ANSWER} placeholder, which carries no content. */
function analyseCarriedText(text: string, group: number): AnalysedSentence[] {
  return analyse(text, group).filter((sentence) => sentence.text !== NO_ANSWER);
}

function scored(sentences: readonly AnalysedSentence[], scores: readonly number[]): SelectionCandidate[] {
  return sentences.map((sentence, index) => ({
    text: sentence.text,
    words: sentence.words,
    terms: sentence.terms,
    score: scores[index] ?? 0,
    group: sentence.group,
    paragraph: sentence.paragraph,
  }));
}

/**
 * TextRank scores scaled by the number of sentences (mean 1), so scores from separately ranked groups compare
 * fairly when leftover budget is filled across groups.
 */
function centralityScores(sentences: readonly AnalysedSentence[]): number[] {
  return textRankScores(sentences.map((sentence) => sentence.termList)).map((score) => score * sentences.length);
}

function choose(candidates: readonly SelectionCandidate[], options: SelectionOptions): string {
  return renderSentences(selectSentences(candidates, options));
}

function summarize(task: SummarizeTask): string {
  return summarizeText(task.source, task.wordLimit);
}

function summarizeText(text: string, wordLimit: number): string {
  const sentences = summaryWorthy(analyse(text, 0));
  return choose(scored(sentences, centralityScores(sentences)), { wordLimit });
}

function merge(task: MergeTask): string {
  const sentences = summaryWorthy(task.summaries.flatMap((summary, index) => analyse(summary, index)));
  const context = task.context === undefined ? [] : analyse(task.context, -1);
  const fresh = sentences.filter((sentence) => !context.some((known) => isNearDuplicate(sentence, known)));
  // If the context already says everything, repeating it beats answering nothing.
  const pool = fresh.length > 0 ? fresh : sentences;
  return choose(scored(pool, centralityScores(pool)), { wordLimit: task.wordLimit, groupBudgets: 'proportional' });
}

/**
 * The new chunk's share is wordLimit / (chunkIndex + 1) — the running summary covers chunkIndex chunks, the new
 * one a single chunk — but never under 40 words, so late chunks still leave a trace; the old summary gets the rest.
 */
function update(task: UpdateTask): string {
  const wordLimit = Math.floor(task.wordLimit);
  const chunkIndex = Math.max(0, task.chunkIndex);
  const newShare = Math.min(wordLimit, Math.max(Math.floor(wordLimit / (chunkIndex + 1)), MINIMUM_NEW_MATERIAL_WORDS));
  return foldNewMaterial(summaryWorthy(analyseCarriedText(task.summary, 0)), summaryWorthy(analyse(task.source, 1)), wordLimit, newShare);
}

/** Old material (group 0) first, new (group 1) second, each ranked on its own, budget split as given. */
function foldNewMaterial(
  old: readonly AnalysedSentence[],
  fresh: readonly AnalysedSentence[],
  wordLimit: number,
  newShare: number,
): string {
  const candidates = [...scored(old, centralityScores(old)), ...scored(fresh, centralityScores(fresh))];
  return choose(candidates, { wordLimit, groupBudgets: [wordLimit - newShare, newShare] });
}

function compress(task: CompressTask): string {
  return compressText(task.summary, task.wordLimit);
}

/** Coverage over the text's paragraphs, so every paragraph of a long summary keeps a voice. */
function compressText(text: string, wordLimit: number): string {
  const sentences = summaryWorthy(analyseCarriedText(text, 0)).map((sentence) => ({ ...sentence, group: sentence.paragraph }));
  return choose(scored(sentences, centralityScores(sentences)), { wordLimit, groupBudgets: 'proportional' });
}

function answer(task: AnswerTask): string {
  return answerFrom(analyse(task.source, 0), task.query, task.wordLimit);
}

/** Sentences that mention the query (BM25 > 0), best first within the limit, in source order. */
function answerFrom(sentences: readonly AnalysedSentence[], query: string, wordLimit: number): string {
  const scores = bm25Scores(
    sentences.map((sentence) => sentence.termList),
    extractTerms(query),
  );
  const relevant = scored(sentences, scores).filter((candidate) => candidate.score > 0);
  if (relevant.length === 0) return NO_ANSWER;
  return choose(relevant, { wordLimit });
}

function workerStep(task: WorkerStepTask): string {
  const previous = analyseCarriedText(task.previous, 0);
  const source = analyse(task.source, 1);
  if (task.query !== undefined && task.query.trim() !== '') {
    return answerFrom([...previous, ...source], task.query, task.wordLimit);
  }
  const wordLimit = Math.floor(task.wordLimit);
  // Query-free (a running summary): like an update, the new chunk gets 1/(chunks read) of the budget, so early
  // chunks keep their share; without a position, half.
  const newShare =
    task.chunkIndex === undefined ? Math.floor(wordLimit / 2) : Math.min(wordLimit, Math.max(Math.floor(wordLimit / (task.chunkIndex + 1)), MINIMUM_NEW_MATERIAL_WORDS));
  return foldNewMaterial(summaryWorthy(previous), summaryWorthy(source), wordLimit, newShare);
}

function managerStep(task: ManagerStepTask): string {
  if (task.query !== undefined && task.query.trim() !== '') {
    return answerFrom(analyseCarriedText(task.communication, 0), task.query, task.wordLimit);
  }
  return compressText(task.communication, task.wordLimit);
}

/** Words that carry no request for information: greetings, thanks, acknowledgements. */
const SMALL_TALK = new Set(['hello', 'hi', 'hey', 'thank', 'thanks', 'bye', 'goodbye', 'ok', 'okay', 'yes', 'no', 'sure', 'cool', 'great', 'good', 'morning', 'evening', 'night']);

/** Memory is needed unless the input is small talk: no content word outside greetings and thanks. */
function needsMemory(task: NeedsMemoryTask): string {
  const terms = extractTerms(task.input).filter((term) => !SMALL_TALK.has(term));
  return terms.length > 0 ? 'yes' : 'no';
}

/** The summary suffices when it keeps every query term that the full text has. */
function summarySuffices(task: SummarySufficesTask): string {
  const fullTerms = new Set(extractTerms(task.full));
  const summaryTerms = new Set(extractTerms(task.summary));
  const needed = extractTerms(task.query).filter((term) => fullTerms.has(term));
  return needed.every((term) => summaryTerms.has(term)) ? 'yes' : 'no';
}

/** The candidate most relevant to the query (BM25 over candidates); without a query, the one with most content. */
function judge(task: JudgeTask): string {
  if (task.candidates.length === 0) return '1';
  const candidateTerms = task.candidates.map((candidate) => (candidate === NO_ANSWER ? [] : extractTerms(candidate)));
  const scores =
    task.query !== undefined && task.query.trim() !== ''
      ? bm25Scores(candidateTerms, extractTerms(task.query))
      : candidateTerms.map((terms) => new Set(terms).size);
  let best = 0;
  scores.forEach((score, index) => {
    if (score > scores[best]!) best = index;
  });
  return String(best + 1);
}
