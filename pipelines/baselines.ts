import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { ContextAnswerer } from '../agents/qa/context-answerer.js';
import { countPromptTokens } from '../agents/model-call.js';
import { answerFromContextPrompt, QA_PROMPT_VERSION } from '../agents/qa/prompts.js';
import { HashedEmbeddings } from '../src/embeddings/hashed-embeddings.js';
import { cosineSimilarity } from '../src/embeddings/vectors.js';
import { InvalidOptionError } from '../src/errors.js';
import { runStep, segment } from '../src/pipeline/blocks.js';
import { Pipeline, toDocument, type PipelineSettings } from '../src/pipeline/pipeline.js';
import type { RunContext } from '../src/pipeline/run-context.js';
import { askFingerprint, askResult, checkQuestion, DEFAULT_ANSWER_WORDS, type AskInput, type AskResult } from './ask.js';

/** The `truncate` baseline: answer from as much of the beginning of the document as fits the window. */
export function truncateAnswer(settings: PipelineSettings, options: { answerWords?: number } = {}): Pipeline<AskInput, AskResult> {
  const answerWords = options.answerWords ?? DEFAULT_ANSWER_WORDS;
  return new Pipeline(
    {
      name: 'truncate-answer',
      options: { answerWords, prompts: QA_PROMPT_VERSION },
      fingerprintInput: askFingerprint,
      async run(input, context) {
        const document = toDocument(input.document);
        const answerer = new ContextAnswerer(context.model, answerWords);
        let room = await passageRoom(context, answerer, input.question);
        const firstPassage = () => segment(context, document.text, { maxTokens: room })[0] ?? { index: 0, start: 0, end: 0, text: '' };
        let passage = firstPassage();
        // The room is the window less the prompt counted around an empty passage, but counts do not add up: the
        // blank lines before and after the passage are one newline run when it is empty and two around it, and a
        // BPE tokenizer may merge across its edges. So count the prompt as sent and cut the passage by the excess.
        for (;;) {
          const excess = (await answerPromptTokens(context, answerer, passage.text, input.question)) - context.model.contextWindow;
          if (excess <= 0 || excess >= room) break;
          room -= excess;
          passage = firstPassage();
        }
        const answer = await runStep(context, { name: 'answer' }, 0, () => answerer.answer([passage.text], input.question, context));
        return askResult(context, 'truncate', answer, context.model.tokenCounter.count(document.text), [{ segment: 0, charStart: passage.start, charEnd: passage.end }]);
      },
    },
    settings,
  );
}

export interface RagOptions {
  /** Tokens per retrievable segment. Default 512. */
  segmentTokens?: number;
  /** Segments retrieved per question (fewer when they would not fit the window). Default 5. */
  k?: number;
  /** Words the answer may take. Default 130. */
  answerWords?: number;
  /** Any LangChain embeddings. Default: tome's offline {@link HashedEmbeddings}. */
  embeddings?: EmbeddingsInterface;
}

/**
 * The `rag` baseline: segment → embed → the k segments most similar to the question (cosine) → answer from them
 * in document order.
 */
export function ragAnswer(settings: PipelineSettings, options: RagOptions = {}): Pipeline<AskInput, AskResult> {
  const segmentTokens = options.segmentTokens ?? 512;
  const k = options.k ?? 5;
  const answerWords = options.answerWords ?? DEFAULT_ANSWER_WORDS;
  if (!Number.isInteger(k) || k < 1) throw new InvalidOptionError('k', k, 'a whole number, at least 1');
  const embeddings = options.embeddings ?? new HashedEmbeddings();
  return new Pipeline(
    {
      name: 'rag-answer',
      options: { segmentTokens, k, answerWords, embeddings: embeddings.constructor.name, prompts: QA_PROMPT_VERSION },
      fingerprintInput: askFingerprint,
      async run(input, context) {
        const document = toDocument(input.document);
        const answerer = new ContextAnswerer(context.model, answerWords);
        const room = await passageRoom(context, answerer, input.question);
        const segments = segment(context, document.text, { maxTokens: Math.min(segmentTokens, room) });
        const [vectors, query] = await Promise.all([embeddings.embedDocuments(segments.map((piece) => piece.text)), embeddings.embedQuery(input.question)]);
        const ranked = segments.map((piece, index) => ({ piece, similarity: cosineSimilarity(vectors[index]!, query) })).sort((a, b) => b.similarity - a.similarity);
        const chosen: typeof ranked = [];
        let used = 0;
        for (const candidate of ranked) {
          if (chosen.length === k) break;
          // Separators between passages cost a few tokens each.
          if (used + candidate.piece.tokens + PASSAGE_SEPARATOR_TOKENS > room) continue;
          chosen.push(candidate);
          used += candidate.piece.tokens + PASSAGE_SEPARATOR_TOKENS;
        }
        // As for truncate, check the prompt as sent: drop the least similar passages while it would overflow.
        const passagesText = () => [...chosen].sort((a, b) => a.piece.start - b.piece.start).map((entry) => entry.piece.text).join(PASSAGE_SEPARATOR);
        while (chosen.length > 1 && (await answerPromptTokens(context, answerer, passagesText(), input.question)) > context.model.contextWindow) chosen.pop();
        chosen.sort((a, b) => a.piece.start - b.piece.start);
        const passages = passagesText();
        const answer = await runStep(context, { name: 'answer' }, 0, () => answerer.answer([passages], input.question, context));
        const evidence = chosen.map((entry) => ({ segment: entry.piece.index, charStart: entry.piece.start, charEnd: entry.piece.end }));
        return askResult(context, 'rag', answer, context.model.tokenCounter.count(document.text), evidence);
      },
    },
    settings,
  );
}

/** Between retrieved passages in the answer prompt: marks the text left out. */
const PASSAGE_SEPARATOR = '\n\n[…]\n\n';
/** A separator's cost when packing passages: an estimate, since the prompt is counted as sent before the call. */
const PASSAGE_SEPARATOR_TOKENS = 4;

/** Tokens of the answer prompt over `passages` as it will be sent, plus the answer's reserve: what must fit the window. */
async function answerPromptTokens(context: RunContext, answerer: ContextAnswerer, passages: string, question: string): Promise<number> {
  return countPromptTokens(context.model, await answerFromContextPrompt.formatMessages({ context: passages, question, wordLimit: answerer.wordLimit })) + answerer.answerTokens;
}

/** Tokens left for passages once the prompt, the question and the answer have theirs; refuses a question that leaves none. */
async function passageRoom(context: RunContext, answerer: ContextAnswerer, question: string): Promise<number> {
  const overhead = await answerer.overheadTokens(question);
  checkQuestion(context, question, overhead - context.model.tokenCounter.count(question) + 1);
  return context.model.contextWindow - overhead;
}
