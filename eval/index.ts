/** tome eval: seeded long-context tasks, a resumable method × length grid, scorers, reports and charts. */
export * from './task.js';
export * from './tasks/index.js';
export * from './scoring.js';
export * from './lengths.js';
export { assembleText, type AssembleRequest, type AssembledText, type Needle } from './assemble.js';
export { FILLER_SENTENCES, HAYSTACK_KINDS, HaystackMissingError, haystackSentences, UnitBuffer, type HaystackKind } from './haystack.js';
export { deriveSeed, seededRandom } from './random.js';
export * from './methods.js';
export * from './model-settings.js';
export * from './cell-store.js';
export * from './grid.js';
export * from './summary-grid.js';
export * from './report.js';
export * from './charts.js';
export * from './booookscore.js';
export * from './summary-metrics.js';
