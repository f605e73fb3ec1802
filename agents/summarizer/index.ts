export { ChunkSummarizer, type ChunkSummaryRequest } from './chunk-summarizer.js';
export { SummaryMerger, type MergeRequest } from './summary-merger.js';
export { SummaryUpdater, MIN_COMPRESSION_WORDS, type UpdateRequest, type UpdateOutcome } from './summary-updater.js';
export { SummaryCompressor, COMPRESSION_TOLERANCE, type CompressRequest, type CompressOutcome } from './summary-compressor.js';
export { generateSummary, type SummaryOutcome } from './generate-summary.js';
export * from './validity.js';
export * as summarizerPrompts from './prompts.js';
export { SUMMARIZER_PROMPT_VERSION } from './prompts.js';
