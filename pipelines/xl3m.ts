import { ContextAnswerer } from '../agents/qa/context-answerer.js';
import { QA_PROMPT_VERSION } from '../agents/qa/prompts.js';
import { promptCertaintyScorer, type CertaintyMeasure, type CertaintyScorer } from '../agents/xl3m/certainty.js';
import { selectKeySegments, spliceKeySegments } from '../agents/xl3m/selection.js';
import { sha256 } from '../src/documents.js';
import { InvalidOptionError, ModelSpecError } from '../src/errors.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { runStep } from '../src/pipeline/blocks.js';
import { Pipeline, toDocument, type DocumentInput, type PipelineSettings } from '../src/pipeline/pipeline.js';
import type { RunContext } from '../src/pipeline/run-context.js';
import type { StreamedSegment } from '../src/streaming/contracts.js';
import { askResult, checkQuestion, type AskResult } from './ask.js';
import { resolveXl3mOptions, XL3M_DEFAULTS, XL3M_MIN_SEGMENT_TOKENS, XL3M_SCORE_MARGIN_TOKENS, type ResolvedXl3mOptions, type Xl3mOptions } from './xl3m-options.js';
import { fileSource, memorySource, type SegmentSource } from './xl3m-source.js';
import { scoreSegmentStream } from './xl3m-scoring.js';

export const XL3M_ANSWER = 'xl3m-answer';
export { XL3M_DEFAULTS, XL3M_MIN_SEGMENT_TOKENS, XL3M_SCORE_MARGIN_TOKENS, xl3mOptionsFrom, parseXl3mSelect, type Xl3mOptions } from './xl3m-options.js';

/** An input in memory (a `tome ask` AskInput fits); without a question, the input's last tokens are the question. */
export interface Xl3mDocumentInput {
  readonly document: DocumentInput;
  readonly question?: string;
}

/** A UTF-8 text file, streamed in O(segment) memory; without a question, its last tokens are the question. */
export interface Xl3mFileInput {
  readonly path: string;
  readonly question?: string;
}

export type Xl3mInput = Xl3mDocumentInput | Xl3mFileInput;

/** A segment of the key context. */
export interface Xl3mSelectedSegment {
  readonly index: number;
  /** The text scored and read by the answer (overlap included), in the normalized input. */
  readonly charStart: number;
  readonly charEnd: number;
  /** The certainty measure's value for this segment (mean entropy in nats by default; see `measure`). */
  readonly entropy: number;
}

export interface Xl3mResult extends AskResult {
  /** The question answered: the one given, or the input's last tokens. */
  readonly question: string;
  readonly measure: string;
  /** The key context, in document order. */
  readonly selected: readonly Xl3mSelectedSegment[];
  /** Segments scored (restored from a checkpoint included). */
  readonly scored: number;
}

/**
 * XL3M question answering (Wang et al. 2024, arXiv 2405.17755), without training:
 *
 *   input ──▶ question X (given, or the last tokens) + segments s_1…s_n (sliding window, sentence-aligned)
 *   each [s_i, X] ──score()──▶ u_i = uncertainty of the model about X      (independent: fanned out, checkpointed)
 *   lowest u_i that fit the budget ──▶ spliced in document order = key context ──answer──▶ answer
 *
 * Needs a model that can score text (`ModelHandle.scorer`: local `onnx:` models), or an explicit
 * `certaintyScorer`. A file input is streamed: only offsets and scores of every segment are kept, and the chosen
 * ones are read again by offset. `modelCalls` counts the scoring passes and the answer; `inputTokens` the tokens
 * scored (segments with their overlap) and the question's.
 * @throws ModelSpecError when the model cannot score text (chat APIs).
 */
export function xl3mAnswer(settings: PipelineSettings, options: Xl3mOptions = {}): Pipeline<Xl3mInput, Xl3mResult> {
  const resolved = resolveXl3mOptions(options);
  const scorer = options.certaintyScorer ?? modelCertaintyScorer(settings.model, resolved.measure);
  return new Pipeline(
    {
      name: XL3M_ANSWER,
      options: { ...resolved, measure: scorer.measure, prompts: QA_PROMPT_VERSION },
      fingerprintInput: (input) => `${sourceOf(input).fingerprint()}:${input.question?.trim() ? sha256(input.question) : 'tail'}`,
      run: (input, context) => runXl3m(sourceOf(input), input.question, context, resolved, scorer),
    },
    settings,
  );
}

/** The model's own certainty scorer. @throws ModelSpecError when it cannot score text. */
function modelCertaintyScorer(model: ModelHandle, measure: CertaintyMeasure): CertaintyScorer {
  if (model.scorer === undefined) {
    throw new ModelSpecError(
      'MODEL_SPEC_INVALID',
      model.spec,
      "cannot run XL3M: it ranks segments by the model's next-token entropy over the question, and chat APIs expose no next-token distributions over a given text",
      'use --method coa, scm or rag with this model, or a local model (--model onnx:<dir|repo>) for xl3m',
    );
  }
  return promptCertaintyScorer(model.scorer, measure);
}

function sourceOf(input: Xl3mInput): SegmentSource {
  return 'document' in input ? memorySource(toDocument(input.document)) : fileSource(input.path);
}

async function runXl3m(source: SegmentSource, explicitQuestion: string | undefined, context: RunContext, options: ResolvedXl3mOptions, scorer: CertaintyScorer): Promise<Xl3mResult> {
  const { model } = context;
  const counter = model.tokenCounter;
  const tail = explicitQuestion?.trim() ? undefined : await source.tail(options.questionTokens, counter);
  const question = tail?.question ?? explicitQuestion ?? '';
  if (tail !== undefined && question.trim() === '') throw new InvalidOptionError('document', source.name, 'an input with text to take the question from');

  const answerer = new ContextAnswerer(model, options.answerWords);
  const overhead = await answerer.overheadTokens(question);
  const questionTokens = counter.count(question);
  checkQuestion(context, question, overhead - questionTokens + 1);
  const budgetTokens = Math.min(model.contextWindow - overhead, options.budgetTokens ?? Infinity);
  const segmentTokens = segmentBudget(model, options, budgetTokens, questionTokens);
  const overlapTokens = options.overlapTokens ?? Math.floor(segmentTokens * XL3M_DEFAULTS.overlapShare);
  if (overlapTokens * 2 >= segmentTokens) throw new InvalidOptionError('overlapTokens', overlapTokens, `a whole number under half of segmentTokens (${segmentTokens})`);

  const size = await source.size();
  const segments = withText(source.segments({ maxTokens: segmentTokens, overlapTokens, counter, endByte: tail?.byteStart, signal: context.signal }));
  const score = (segment: StreamedSegment) => {
    context.recordModelCall(segment.tokens + questionTokens);
    return scorer.uncertainty(segment.text, question, { signal: context.signal });
  };
  const estimate = (first: StreamedSegment) => estimateSegments(first, tail?.byteStart ?? size, segmentTokens, overlapTokens);
  const scored = await scoreSegmentStream(context, { name: 'certainty' }, segments, score, estimate);
  if (scored.length === 0) throw new InvalidOptionError('document', source.name, tail ? `an input with text before its last ${options.questionTokens} tokens (the question)` : 'an input with some text');

  const separatorTokens = counter.count('\n\n[…]\n\n') + 1;
  const kept = selectKeySegments(scored, { budgetTokens, k: options.k ?? undefined, threshold: options.threshold ?? undefined, separatorTokens });
  const passages: string[] = [];
  for (const passage of spliceKeySegments(kept)) passages.push(await source.read(passage.byteStart, passage.byteEnd));
  const answer = await checkpointedStep(context, 'answer', () => answerer.answer(passages, question, context));

  const selected = kept.map((segment) => ({ index: segment.index, charStart: segment.charStart, charEnd: segment.charEnd, entropy: segment.value }));
  const inputTokens = scored.reduce((total, segment) => total + segment.tokens, 0) + questionTokens;
  const evidence = selected.map((segment) => ({ segment: segment.index, charStart: segment.charStart, charEnd: segment.charEnd }));
  return { ...askResult(context, 'xl3m', answer, inputTokens, evidence), question, measure: scorer.measure, selected, scored: scored.length };
}

/**
 * Tokens per segment: the option, or 512 shrunk to what both the scoring window (segment + question) and the key
 * context budget allow. @throws InvalidOptionError naming the option that leaves no room for a segment.
 */
function segmentBudget(model: ModelHandle, options: ResolvedXl3mOptions, budgetTokens: number, questionTokens: number): number {
  const scoringRoom = model.contextWindow - questionTokens - XL3M_SCORE_MARGIN_TOKENS;
  const room = Math.min(scoringRoom, budgetTokens);
  const segmentTokens = options.segmentTokens ?? Math.min(XL3M_DEFAULTS.segmentTokens, room);
  if (segmentTokens <= room && segmentTokens >= XL3M_MIN_SEGMENT_TOKENS) return segmentTokens;
  const limit = room === scoringRoom ? `${model.spec}'s ${model.contextWindow}-token window beside the ${questionTokens}-token question` : `the ${budgetTokens}-token key-context budget`;
  if (options.segmentTokens !== null && room >= XL3M_MIN_SEGMENT_TOKENS) throw new InvalidOptionError('segmentTokens', options.segmentTokens, `at most ${room} tokens, to fit ${limit}`);
  const culprit = room === scoringRoom ? 'questionTokens' : 'budgetTokens';
  const value = culprit === 'questionTokens' ? questionTokens : options.budgetTokens ?? budgetTokens;
  throw new InvalidOptionError(culprit, value, `small enough that a segment of at least ${XL3M_MIN_SEGMENT_TOKENS} tokens fits ${limit}`);
}

/** Blank segments (whitespace between parts of a file) carry nothing to score: they are neither scored nor kept. */
async function* withText(segments: AsyncIterable<StreamedSegment>): AsyncGenerator<StreamedSegment> {
  for await (const segment of segments) if (segment.text.trim() !== '') yield segment;
}

/** Segments a stream will yield, from the first one's size: the rest each bring (segment − overlap) tokens' worth. */
function estimateSegments(first: StreamedSegment, contextSize: number, segmentTokens: number, overlapTokens: number): number {
  const firstSize = Math.max(1, first.byteEnd - first.byteStart);
  if (contextSize <= first.byteEnd) return 1;
  const perSegment = Math.max(1, (firstSize * (segmentTokens - overlapTokens)) / segmentTokens);
  return 1 + Math.ceil((contextSize - first.byteEnd) / perSegment);
}

/** A sequential step through the executor whose result is checkpointed under `<name>/0`. */
async function checkpointedStep<Result>(context: RunContext, name: string, work: () => Promise<Result>): Promise<Result> {
  const key = `${name}/0`;
  const stored = context.checkpoint.get<Result>(key);
  if (stored !== undefined) {
    context.stats.cachedSteps++;
    return stored;
  }
  return runStep(context, { name }, 0, async () => {
    const result = await work();
    context.checkpoint.put(key, result);
    return result;
  });
}
