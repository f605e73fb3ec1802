import { join } from 'node:path';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { MEMORY_CONTROLLER_DEFAULTS, type MemoryDecision } from '../agents/scm/memory-controller.js';
import { SCM_PROMPT_VERSION } from '../agents/scm/prompts.js';
import { ScmAgent } from '../agents/scm/scm-agent.js';
import { HashedEmbeddings } from '../src/embeddings/hashed-embeddings.js';
import { InvalidOptionError } from '../src/errors.js';
import { InMemoryMemoryStore } from '../src/memory/in-memory-memory-store.js';
import { LogMemoryStore } from '../src/memory/log-memory-store.js';
import { MemoryStream } from '../src/memory/memory-stream.js';
import type { TomeDocument } from '../src/documents.js';
import type { Segment } from '../src/segmentation.js';
import { map, runStep, segment } from '../src/pipeline/blocks.js';
import { Pipeline, toDocument, type PipelineSettings } from '../src/pipeline/pipeline.js';
import type { RunContext } from '../src/pipeline/run-context.js';
import { askFingerprint, askResult, checkQuestion, DEFAULT_ANSWER_WORDS, type AskInput, type AskResult } from './ask.js';

export interface ScmAnswerOptions {
  /** Tokens per document segment stored as one memory item. Default 512. */
  segmentTokens?: number;
  /** Memories activated per question (3–10 in the paper). Default 5. */
  k?: number;
  /** Most tokens the activated memories may take (2,000–2,500 in the paper). Default 2,000, lowered to fit the window. */
  memoryBudgetTokens?: number;
  /** Words of each segment's one-paragraph summary. Default 60. */
  summaryWords?: number;
  /** Words the answer may take. Default 130. */
  answerWords?: number;
  /** Any LangChain embeddings. Default: tome's offline {@link HashedEmbeddings}. */
  embeddings?: EmbeddingsInterface;
  /** Keep the document's memory stream here (one sub-folder per document) so later questions skip ingestion. Default: in memory only. */
  memoryDirectory?: string;
}

export interface ScmAnswerResult extends AskResult {
  /** What the controller decided for each activated memory, and why. */
  readonly decisions: readonly MemoryDecision[];
  readonly needsMemory: boolean;
}

/**
 * Self-Controlled Memory over a document: every segment becomes a memory item (text + one-paragraph summary +
 * embedding); the controller activates the memories relevant to the question, under the memory budget, and the
 * agent answers from them.
 */
export function scmAnswer(settings: PipelineSettings, options: ScmAnswerOptions = {}): Pipeline<AskInput, ScmAnswerResult> {
  const segmentTokens = options.segmentTokens ?? 512;
  const summaryWords = options.summaryWords ?? 60;
  const answerWords = options.answerWords ?? DEFAULT_ANSWER_WORDS;
  const embeddings = options.embeddings ?? new HashedEmbeddings();
  if (!Number.isInteger(segmentTokens) || segmentTokens < 32) throw new InvalidOptionError('segmentTokens', segmentTokens, 'a whole number of tokens, at least 32');
  return new Pipeline(
    {
      name: 'scm-answer',
      options: { segmentTokens, summaryWords, answerWords, k: options.k ?? null, memoryBudgetTokens: options.memoryBudgetTokens ?? null, embeddings: embeddings.constructor.name, prompts: SCM_PROMPT_VERSION },
      fingerprintInput: askFingerprint,
      async run(input, context) {
        const document = toDocument(input.document);
        const memoryBudgetTokens = await fitMemoryBudget(context, input.question, answerWords, options.memoryBudgetTokens ?? MEMORY_CONTROLLER_DEFAULTS.memoryBudgetTokens);
        // A document's segments are ordered by position in the text, not by time: recency means nothing here.
        const agent = new ScmAgent(context.model, { k: options.k, memoryBudgetTokens, answerWords, summaryWords, recencyWeight: 0 });
        const stream = await openDocumentMemory(context, agent, document, { segmentTokens, embeddings, directory: options.memoryDirectory });
        try {
          const reply = await runStep(context, { name: 'answer' }, 0, () => agent.reply(input.question, stream, context));
          const evidence = reply.control.activated
            .filter((memory) => memory.item.source !== undefined)
            .map((memory) => ({ segment: memory.item.index, charStart: memory.item.source!.charStart, charEnd: memory.item.source!.charEnd }));
          const result = askResult(context, 'scm', reply.answer, context.model.tokenCounter.count(document.text), evidence);
          return { ...result, decisions: reply.control.decisions, needsMemory: reply.control.needsMemory };
        } finally {
          await stream.close();
        }
      },
    },
    settings,
  );
}

/** The memory budget, lowered when the window cannot hold it next to the prompt, the question and the answer. */
async function fitMemoryBudget(context: RunContext, question: string, answerWords: number, requested: number): Promise<number> {
  const agent = new ScmAgent(context.model, { answerWords });
  const answerTokens = Math.ceil(answerWords / 0.65);
  const fixed = await agent.fixedPromptTokens();
  const questionTokens = context.model.tokenCounter.count(question);
  checkQuestion(context, question, fixed + answerTokens + 64);
  // Labels of up to ten memories and the separators between them.
  const room = context.model.contextWindow - fixed - questionTokens - answerTokens - 64;
  if (room < 64) throw new InvalidOptionError('answerWords', answerWords, `smaller: the ${context.model.contextWindow}-token window leaves no room for memories`);
  return Math.min(requested, room);
}

/**
 * The document's memory stream: one item per segment. Summaries run in parallel through the executor (and are
 * checkpointed); items are then added in order. A stream kept in `directory` from an earlier run is reused.
 */
async function openDocumentMemory(
  context: RunContext,
  agent: ScmAgent,
  document: TomeDocument,
  options: { segmentTokens: number; embeddings: EmbeddingsInterface; directory?: string },
): Promise<MemoryStream> {
  const folder = options.directory === undefined ? undefined : join(options.directory, `${document.sha256.slice(0, 16)}-${options.segmentTokens}`);
  const store = folder === undefined ? new InMemoryMemoryStore() : await LogMemoryStore.open(folder);
  const stream = await MemoryStream.open({ store, embeddings: options.embeddings, indexPath: folder === undefined ? undefined : join(folder, 'index.hnsw') });
  const segments = segment(context, document.text, { maxTokens: options.segmentTokens });
  if (stream.size >= segments.length) return stream;
  const pending = segments.slice(stream.size);
  const summaries = await map(context, { name: 'scm-memories' }, pending, (piece: Segment) => agent.summarize(piece.text, `scm-memories/${piece.index}`, context));
  for (const [position, piece] of pending.entries()) {
    await stream.add({ kind: 'segment', text: piece.text, summary: summaries[position]!, source: { charStart: piece.start, charEnd: piece.end } });
  }
  return stream;
}

