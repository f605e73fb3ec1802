export { aggregateCertainty, promptCertaintyScorer, subContext, CERTAINTY_MEASURES, type CertaintyMeasure, type CertaintyScorer } from './certainty.js';
export { selectKeySegments, spliceKeySegments, SEPARATOR_TOKENS, type ScoredSegment, type KeySelectionOptions, type KeyPassage } from './selection.js';
