import { InvalidOptionError } from '../src/errors.js';
import type { PipelineSettings, Pipeline } from '../src/pipeline/pipeline.js';
import { ASK_METHODS, askPipeline, type AskOptions } from '../pipelines/ask-methods.js';
import type { AskInput, AskMethod, AskResult } from '../pipelines/ask.js';
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

/** @throws InvalidOptionError naming the bad method string. */
export function parseMethod(text: string): MethodSpec {
  const label = text.trim();
  const at = label.indexOf('@');
  const name = at < 0 ? label : label.slice(0, at);
  if (!(ASK_METHODS as readonly string[]).includes(name)) throw new InvalidOptionError('--methods', label, `methods among ${ASK_METHODS.join(', ')}, each optionally with @key=value settings joined by +`);
  const askOptions: Record<string, unknown> = {};
  const modelSettings: Record<string, string> = {};
  for (const pair of at < 0 ? [] : label.slice(at + 1).split('+')) {
    const equals = pair.indexOf('=');
    if (equals <= 0 || equals === pair.length - 1) throw new InvalidOptionError('--methods', label, 'settings written key=value and joined by +, e.g. rag@k=10+segment-tokens=256');
    const key = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    if (key in NUMERIC_ASK_OPTIONS) {
      const number = Number(value);
      if (!Number.isInteger(number) || number < 1) throw new InvalidOptionError(`--methods ${label}: ${key}`, value, 'a whole number ≥ 1');
      askOptions[NUMERIC_ASK_OPTIONS[key]!] = number;
    } else if (key === 'measure') {
      if (!(CERTAINTY_MEASURES as readonly string[]).includes(value)) throw new InvalidOptionError(`--methods ${label}: measure`, value, `one of ${CERTAINTY_MEASURES.join(', ')}`);
      askOptions.measure = value as CertaintyMeasure;
    } else if (key === 'select') Object.assign(askOptions, parseXl3mSelect(value));
    else modelSettings[key] = value;
  }
  return { label, method: name as AskMethod, askOptions: askOptions as AskOptions, modelSettings };
}

/** `coa,rag,truncate@window=32768` → method specs; labels must be distinct. */
export function parseMethods(text: string): MethodSpec[] {
  const methods = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '').map(parseMethod);
  if (methods.length === 0) throw new InvalidOptionError('--methods', text, `a comma-separated list such as coa,rag,truncate`);
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
