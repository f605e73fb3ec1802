import { InvalidOptionError } from '../src/errors.js';
import type { PipelineSettings, Pipeline } from '../src/pipeline/pipeline.js';
import { ASK_METHODS, askPipeline, type AskOptions } from '../pipelines/ask-methods.js';
import type { AskInput, AskMethod, AskResult } from '../pipelines/ask.js';
import { resolveBookSummaryOptions, type BookSummaryOptions } from '../pipelines/book-summary.js';
import { parseXl3mSelect } from '../pipelines/xl3m.js';
import { CERTAINTY_MEASURES, type CertaintyMeasure } from '../agents/xl3m/certainty.js';
import type { ModelSettings } from './model-settings.js';

/**
 * One column of the grid: a `tome ask` method, its own options, and model-level settings. Written
 * `method[@key=value[+key=value…]]`: `rag`, `rag@k=10`, `coa@max-cu-tokens=300`, `truncate@window=32768`,
 * `truncate@attention=blocks+rope=yarn:4`. Method option keys are those of `tome ask` (k, segment-tokens,
 * answer-words, max-cu-tokens, paths, select, measure); every other key is a model setting (see model-settings.ts).
 */
export interface MethodSpec {
  /** The text as given: the method's name in tables and charts. */
  readonly label: string;
  readonly method: AskMethod;
  readonly askOptions: AskOptions;
  readonly modelSettings: ModelSettings;
}

const NUMERIC_ASK_OPTIONS: Record<string, keyof AskOptions> = {
  k: 'k',
  'segment-tokens': 'segmentTokens',
  'answer-words': 'answerWords',
  'max-cu-tokens': 'maxCuTokens',
  paths: 'paths',
};

/** `name@k=v+k=v` → its name and key/value pairs. @throws InvalidOptionError for a pair that is not key=value. */
function splitMethod(text: string, example: string): { label: string; name: string; pairs: [string, string][] } {
  const label = text.trim();
  const at = label.indexOf('@');
  const pairs = (at < 0 ? [] : label.slice(at + 1).split('+')).map((pair): [string, string] => {
    const equals = pair.indexOf('=');
    if (equals <= 0 || equals === pair.length - 1) throw new InvalidOptionError('--methods', label, `settings written key=value and joined by +, e.g. ${example}`);
    return [pair.slice(0, equals), pair.slice(equals + 1)];
  });
  return { label, name: at < 0 ? label : label.slice(0, at), pairs };
}

function wholeNumber(label: string, key: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidOptionError(`--methods ${label}: ${key}`, value, 'a whole number ≥ 1');
  return number;
}

/** @throws InvalidOptionError naming the bad method string. */
export function parseMethod(text: string): MethodSpec {
  const { label, name, pairs } = splitMethod(text, 'rag@k=10+segment-tokens=256');
  if (!(ASK_METHODS as readonly string[]).includes(name)) throw new InvalidOptionError('--methods', label, `methods among ${ASK_METHODS.join(', ')}, each optionally with @key=value settings joined by +`);
  const askOptions: Record<string, unknown> = {};
  const modelSettings: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (key in NUMERIC_ASK_OPTIONS) askOptions[NUMERIC_ASK_OPTIONS[key]!] = wholeNumber(label, key, value);
    else if (key === 'measure') {
      if (!(CERTAINTY_MEASURES as readonly string[]).includes(value)) throw new InvalidOptionError(`--methods ${label}: measure`, value, `one of ${CERTAINTY_MEASURES.join(', ')}`);
      askOptions.measure = value as CertaintyMeasure;
    } else if (key === 'select') Object.assign(askOptions, parseXl3mSelect(value));
    else modelSettings[key] = value;
  }
  return { label, method: name as AskMethod, askOptions: askOptions as AskOptions, modelSettings };
}

/** `coa,rag,truncate@window=32768` → method specs; labels must be distinct. */
export function parseMethods(text: string): MethodSpec[] {
  return parseList(text, parseMethod, 'coa,rag,truncate');
}

function parseList<Method extends { label: string }>(text: string, parse: (entry: string) => Method, example: string): Method[] {
  const methods = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '').map(parse);
  if (methods.length === 0) throw new InvalidOptionError('--methods', text, `a comma-separated list such as ${example}`);
  const labels = new Set<string>();
  for (const method of methods) {
    if (labels.has(method.label)) throw new InvalidOptionError('--methods', method.label, 'each method once');
    labels.add(method.label);
  }
  return methods;
}

/** The pipeline one grid cell runs. */
export function methodPipeline(method: MethodSpec, settings: PipelineSettings): Pipeline<AskInput, AskResult> {
  return askPipeline(method.method, settings, method.askOptions);
}

/** Book-summary workflows the summary grid runs: the two of the BooookScore study, and Chain-of-Agents (query-free). */
export const SUMMARY_GRID_METHODS = ['hierarchical', 'incremental', 'coa'] as const;
export type SummaryGridMethod = (typeof SUMMARY_GRID_METHODS)[number];

/**
 * One column of the summary grid: `hierarchical`, `incremental@chunk-tokens=1024+summary-tokens=500`,
 * `hierarchical@level-ratio=0.5`, `coa@summary-tokens=600`, `incremental@window=16384`. Option keys are those of
 * `tome summarize` (summary-tokens, chunk-tokens, level-ratio; coa takes summary-tokens only); every other key is a
 * model setting, as for ask methods.
 */
export interface SummaryMethodSpec {
  readonly label: string;
  readonly method: SummaryGridMethod;
  /** Only what the method string set; the grid's default budget fills summaryTokens. */
  readonly summaryOptions: BookSummaryOptions;
  readonly modelSettings: ModelSettings;
}

/** @throws InvalidOptionError naming the bad method string or option. */
export function parseSummaryMethod(text: string): SummaryMethodSpec {
  const { label, name, pairs } = splitMethod(text, 'incremental@chunk-tokens=1024+summary-tokens=500');
  if (!(SUMMARY_GRID_METHODS as readonly string[]).includes(name)) throw new InvalidOptionError('--methods', label, `summary methods among ${SUMMARY_GRID_METHODS.join(', ')}, each optionally with @key=value settings joined by +`);
  const summaryOptions: { -readonly [Key in keyof BookSummaryOptions]: BookSummaryOptions[Key] } = {};
  const modelSettings: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (key === 'summary-tokens') summaryOptions.summaryTokens = wholeNumber(label, key, value);
    else if (key === 'chunk-tokens' || key === 'level-ratio') {
      if (name === 'coa') throw new InvalidOptionError(`--methods ${label}`, key, 'summary-tokens only for coa (its reading is sized by the window)');
      if (name === 'incremental' && key === 'level-ratio') throw new InvalidOptionError(`--methods ${label}`, key, 'level-ratio for hierarchical only');
      if (key === 'chunk-tokens') summaryOptions.chunkTokens = wholeNumber(label, key, value);
      else summaryOptions.levelRatio = Number(value);
    } else modelSettings[key] = value;
  }
  resolveBookSummaryOptions(summaryOptions); // checks the ranges now, not in every cell
  return { label, method: name as SummaryGridMethod, summaryOptions, modelSettings };
}

/** `hierarchical,incremental@chunk-tokens=1024` → summary method specs; labels must be distinct. */
export function parseSummaryMethods(text: string): SummaryMethodSpec[] {
  return parseList(text, parseSummaryMethod, 'hierarchical,incremental');
}
