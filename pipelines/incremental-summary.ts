import { countPromptTokens } from '../agents/model-call.js';
import { ChunkSummarizer } from '../agents/summarizer/chunk-summarizer.js';
import { SUMMARIZER_PROMPT_VERSION, updateSummaryPrompt } from '../agents/summarizer/prompts.js';
import { SummaryCompressor } from '../agents/summarizer/summary-compressor.js';
import { SummaryUpdater } from '../agents/summarizer/summary-updater.js';
import type { TomeDocument } from '../src/documents.js';
import { fold, segment } from '../src/pipeline/blocks.js';
import { Pipeline, toDocument, type DocumentInput, type PipelineSettings } from '../src/pipeline/pipeline.js';
import type { RunContext } from '../src/pipeline/run-context.js';
import { assertChunkFits, resolveBookSummaryOptions, summaryResult, type BookSummaryOptions, type SummaryResult } from './book-summary.js';

export const INCREMENTAL_SUMMARY = 'incremental-summary';

/**
 * Incremental updating (BooookScore): summarize the first chunk, then read the book in order, rewriting one
 * running summary with each next chunk. When an update overflows its budget, the previous summary is compressed
 * and the update asked again. Strictly sequential; every step is checkpointed.
 *
 *   chunk 1 ──▶ S1 ──(+ chunk 2)──▶ S2 ──(+ chunk 3)──▶ … ──▶ S_N = final summary
 */
export function incrementalSummary(settings: PipelineSettings, options: BookSummaryOptions = {}): Pipeline<DocumentInput, SummaryResult> {
  const resolved = resolveBookSummaryOptions(options);
  return new Pipeline(
    {
      name: INCREMENTAL_SUMMARY,
      options: { chunkTokens: resolved.chunkTokens, summaryTokens: resolved.summaryTokens, prompts: SUMMARIZER_PROMPT_VERSION },
      run: (input, context) => summarizeIncrementally(toDocument(input), context, resolved),
    },
    settings,
  );
}

async function summarizeIncrementally(document: TomeDocument, context: RunContext, options: Required<BookSummaryOptions>): Promise<SummaryResult> {
  const { model } = context;
  const { summaryTokens } = options;
  const inputTokens = model.tokenCounter.count(document.text);
  context.emit({ type: 'pipeline-start', pipeline: INCREMENTAL_SUMMARY, model: model.spec, inputTokens });
  const chunks = segment(context, document.text, { maxTokens: options.chunkTokens });
  const updateFixedTokens = countPromptTokens(model, await updateSummaryPrompt.formatMessages({ summary: '', chunk: '', part: chunks.length, parts: chunks.length, wordLimit: 99999 }));
  // The prompt carries the running summary (up to its budget) next to the chunk, and the answer needs the budget again.
  assertChunkFits(context, updateFixedTokens + summaryTokens, options.chunkTokens, summaryTokens);
  const summarizer = new ChunkSummarizer(model);
  const updater = new SummaryUpdater(model, new SummaryCompressor(model));
  const stage = 'incremental-updates';
  const summary = await fold(context, { name: stage }, chunks, '', async (running, chunk, index) => {
    if (index === 0) return (await summarizer.summarize({ chunk: chunk.text, summaryTokens, stage, index }, context)).text;
    const outcome = await updater.update({ summary: running, chunk: chunk.text, part: index + 1, parts: chunks.length, summaryTokens, stage, index }, context);
    return outcome.text;
  });
  return summaryResult(context, 'incremental', summary, chunks.length, 1, inputTokens);
}
