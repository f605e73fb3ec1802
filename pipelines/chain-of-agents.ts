import { JUDGE_REPLY_TOKENS, PathJudge } from '../agents/coa/judge.js';
import { ChainManager } from '../agents/coa/manager.js';
import { collapseWhitespace, containsCollapsed, noteSentences } from '../agents/coa/notes.js';
import { COA_PROMPT_VERSION } from '../agents/coa/prompts.js';
import { ChainWorker } from '../agents/coa/worker.js';
import type { TomeDocument } from '../src/documents.js';
import { InvalidOptionError } from '../src/errors.js';
import { countWords } from '../src/models/extractive/selection.js';
import { fold, map, segment } from '../src/pipeline/blocks.js';
import { Pipeline, toDocument, type DocumentInput, type PipelineSettings } from '../src/pipeline/pipeline.js';
import type { RunContext } from '../src/pipeline/run-context.js';
import type { Segment } from '../src/segmentation.js';
import { askFingerprint, askResult, checkQuestion, type AskInput, type AskResult, type Evidence } from './ask.js';
import { summaryResult, type SummaryResult } from './book-summary.js';

export const CHAIN_OF_AGENTS_ANSWER = 'chain-of-agents-answer';
export const CHAIN_OF_AGENTS_SUMMARY = 'chain-of-agents-summary';

/** Tokens kept free in every worker prompt, for counters that are not exactly additive. */
export const COA_MARGIN_TOKENS = 32;
/** The smallest chunk budget worth running: below it, `maxCuTokens` leaves the workers almost nothing to read. */
export const COA_MIN_CHUNK_TOKENS = 64;
/** A CU sentence counts as material from a chunk only with at least this many words (no "Yes." matches). */
export const COA_MIN_EVIDENCE_WORDS = 3;

export type ReadingOrder = 'left-to-right' | 'right-to-left';

/** Options of both Chain-of-Agents pipelines (defaults from the paper: 1,024-token worker outputs, one path). */
export interface ChainOfAgentsOptions {
  /**
   * Most tokens a communication unit (a worker's notes) may hold. Every worker prompt reserves this much twice:
   * for the previous CU it carries and for the CU it writes. A CU that comes back longer is compressed. Workers
   * are asked for 0.65 × this many words. Must leave at least 64 tokens of text per chunk in the window, or the
   * run is refused before any model call. Default 1,024.
   */
  maxCuTokens?: number;
  /** Token budget of the manager's final output (word limit 0.65 × this). Default 200 for answers, 900 for summaries. */
  answerTokens?: number;
  /** Replaces the manager's task instruction (e.g. "Answer with a single name."). Default: built in, per variant. */
  managerInstruction?: string;
  /** The order in which workers read the chunks of the first path. Default `left-to-right`. */
  readingOrder?: ReadingOrder;
  /**
   * Reading paths. Path 1 reads in `readingOrder`, path 2 in the opposite order, further paths in seeded shuffles
   * (seed = path number, so reruns agree). Each path's manager answers; with more than one path a judge picks the
   * best answer. Default 1.
   */
  paths?: number;
  /** Include every CU of the chosen path (`communicationUnits`, in reading order) in the result. Default false. */
  returnIntermediateSteps?: boolean;
}

export interface ChainOfAgentsAnswerOptions extends ChainOfAgentsOptions {
  /**
   * Receives the final answer as the manager writes it (streamed through `chatModel.stream`; the chunks joined
   * equal `answer`). With several paths, or when the answer was restored from a checkpoint, it arrives in one
   * piece after the judge. Not part of the checkpoint fingerprint. Default: none (no streaming).
   */
  onAnswerChunk?: (text: string) => void;
}

export const CHAIN_OF_AGENTS_DEFAULTS = {
  maxCuTokens: 1024,
  answerTokens: 200,
  summaryAnswerTokens: 900,
  readingOrder: 'left-to-right',
  paths: 1,
  returnIntermediateSteps: false,
} as const;

/** One worker's output: the CU after reading segment `segment` (its index in document order). */
export interface CommunicationUnit {
  readonly segment: number;
  readonly text: string;
}

export type ChainOfAgentsAnswerResult = AskResult & { readonly communicationUnits?: readonly CommunicationUnit[] };
export type ChainOfAgentsSummaryResult = SummaryResult & { readonly communicationUnits?: readonly CommunicationUnit[] };

interface ResolvedOptions {
  readonly maxCuTokens: number;
  readonly answerTokens: number;
  readonly managerInstruction: string | undefined;
  readonly readingOrder: ReadingOrder;
  readonly paths: number;
  readonly returnIntermediateSteps: boolean;
}

/**
 * Chain-of-Agents question answering (Zhang et al., NeurIPS 2024): workers read the document chunk by chunk,
 * strictly in order, each passing its notes (the communication unit) to the next; the manager answers from the
 * last CU and the question only.
 *
 *   chunk 1 ──▶ CU1 ──(+ chunk 2)──▶ CU2 ──▶ … ──▶ CU_N ──manager(+ question)──▶ answer   [× paths ──judge──▶ best]
 */
export function chainOfAgentsAnswer(settings: PipelineSettings, options: ChainOfAgentsAnswerOptions = {}): Pipeline<AskInput, ChainOfAgentsAnswerResult> {
  const resolved = resolveChainOfAgentsOptions(options, CHAIN_OF_AGENTS_DEFAULTS.answerTokens);
  return new Pipeline(
    {
      name: CHAIN_OF_AGENTS_ANSWER,
      options: fingerprintOptions(resolved),
      fingerprintInput: askFingerprint,
      run: async (input, context) => {
        const document = toDocument(input.document);
        const chain = await runChain(CHAIN_OF_AGENTS_ANSWER, document, input.question, context, resolved, options.onAnswerChunk);
        const result = askResult(context, 'coa', chain.answer, chain.inputTokens, chain.evidence);
        return resolved.returnIntermediateSteps ? { ...result, communicationUnits: chain.units } : result;
      },
    },
    settings,
  );
}

/**
 * Query-free Chain-of-Agents (summarization): workers extend one running summary chunk by chunk, in order; the
 * manager writes the final summary from the last one.
 */
export function chainOfAgentsSummary(settings: PipelineSettings, options: ChainOfAgentsOptions = {}): Pipeline<DocumentInput, ChainOfAgentsSummaryResult> {
  const resolved = resolveChainOfAgentsOptions(options, CHAIN_OF_AGENTS_DEFAULTS.summaryAnswerTokens);
  return new Pipeline(
    {
      name: CHAIN_OF_AGENTS_SUMMARY,
      options: fingerprintOptions(resolved),
      run: async (input, context) => {
        const chain = await runChain(CHAIN_OF_AGENTS_SUMMARY, toDocument(input), undefined, context, resolved, undefined);
        const result = summaryResult(context, 'coa', chain.answer, chain.segments, 1, chain.inputTokens);
        return resolved.returnIntermediateSteps ? { ...result, communicationUnits: chain.units } : result;
      },
    },
    settings,
  );
}

/** Validate and fill in defaults. @throws InvalidOptionError naming the option. */
export function resolveChainOfAgentsOptions(options: ChainOfAgentsOptions, defaultAnswerTokens: number): ResolvedOptions {
  const maxCuTokens = options.maxCuTokens ?? CHAIN_OF_AGENTS_DEFAULTS.maxCuTokens;
  const answerTokens = options.answerTokens ?? defaultAnswerTokens;
  const readingOrder = options.readingOrder ?? CHAIN_OF_AGENTS_DEFAULTS.readingOrder;
  const paths = options.paths ?? CHAIN_OF_AGENTS_DEFAULTS.paths;
  const returnIntermediateSteps = options.returnIntermediateSteps ?? CHAIN_OF_AGENTS_DEFAULTS.returnIntermediateSteps;
  const { managerInstruction } = options;
  if (!Number.isInteger(maxCuTokens) || maxCuTokens < 16) throw new InvalidOptionError('maxCuTokens', maxCuTokens, 'a whole number of tokens, at least 16');
  if (!Number.isInteger(answerTokens) || answerTokens < 2) throw new InvalidOptionError('answerTokens', answerTokens, 'a whole number of tokens, at least 2');
  if (readingOrder !== 'left-to-right' && readingOrder !== 'right-to-left') throw new InvalidOptionError('readingOrder', readingOrder, "'left-to-right' or 'right-to-left'");
  if (!Number.isInteger(paths) || paths < 1 || paths > 64) throw new InvalidOptionError('paths', paths, 'a whole number from 1 to 64');
  if (typeof returnIntermediateSteps !== 'boolean') throw new InvalidOptionError('returnIntermediateSteps', returnIntermediateSteps, 'true or false');
  if (managerInstruction !== undefined && (typeof managerInstruction !== 'string' || managerInstruction.trim() === '')) {
    throw new InvalidOptionError('managerInstruction', managerInstruction, 'a non-empty instruction, or none for the default');
  }
  return { maxCuTokens, answerTokens, managerInstruction, readingOrder, paths, returnIntermediateSteps };
}

/** Parse the string options `tome run` / `tome ask` pass (`--option maxCuTokens=512`). */
export function chainOfAgentsOptionsFrom(options: Readonly<Record<string, string>>): ChainOfAgentsOptions {
  const known = new Set(['maxCuTokens', 'answerTokens', 'managerInstruction', 'readingOrder', 'paths', 'returnIntermediateSteps']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new InvalidOptionError(`--option ${key}`, options[key], `one of ${[...known].join(', ')}`);
  }
  const number = (key: string) => (options[key] === undefined ? undefined : Number(options[key]));
  const flag = options.returnIntermediateSteps;
  if (flag !== undefined && flag !== 'true' && flag !== 'false') throw new InvalidOptionError('--option returnIntermediateSteps', flag, 'true or false');
  return {
    maxCuTokens: number('maxCuTokens'),
    answerTokens: number('answerTokens'),
    managerInstruction: options.managerInstruction,
    readingOrder: options.readingOrder as ReadingOrder | undefined,
    paths: number('paths'),
    returnIntermediateSteps: flag === undefined ? undefined : flag === 'true',
  };
}

function fingerprintOptions(options: ResolvedOptions): unknown {
  return { ...options, managerInstruction: options.managerInstruction ?? null, prompts: COA_PROMPT_VERSION };
}

/**
 * The chunk budget B = window − tokens(query) − tokens(worker prompt with empty fields) − maxCuTokens (the
 * previous CU it carries) − maxCuTokens (the CU it writes) − 32 tokens of margin.
 */
export function coaChunkBudget(budget: { contextWindow: number; queryTokens: number; workerPromptTokens: number; maxCuTokens: number }): number {
  return budget.contextWindow - budget.queryTokens - budget.workerPromptTokens - 2 * budget.maxCuTokens - COA_MARGIN_TOKENS;
}

/**
 * The order in which each path's workers read the segments: path 1 in `first` order, path 2 in the opposite
 * order, path k ≥ 3 a shuffle seeded with k.
 */
export function coaReadingPaths(segments: number, paths: number, first: ReadingOrder = 'left-to-right'): number[][] {
  const forward = Array.from({ length: segments }, (_, index) => index);
  const backward = [...forward].reverse();
  return Array.from({ length: paths }, (_, path) => {
    if (path === 0) return first === 'left-to-right' ? forward : backward;
    if (path === 1) return first === 'left-to-right' ? backward : forward;
    return seededShuffle(forward, path + 1);
  });
}

/**
 * Whether a worker's step added material from its chunk: at least one sentence of the new CU (of at least
 * {@link COA_MIN_EVIDENCE_WORDS} words) appears verbatim in the chunk — whitespace aside — and not in the previous CU.
 */
export function addsChunkMaterial(cu: string, previous: string, chunk: string): boolean {
  const earlier = collapseWhitespace(previous);
  return noteSentences(cu).some((sentence) => !earlier.includes(sentence) && countWords(sentence) >= COA_MIN_EVIDENCE_WORDS && containsCollapsed(chunk, sentence));
}

/** What the fold threads through one path's workers; checkpointed after every step (JSON). */
interface ChainState {
  readonly cu: string;
  /** Segments whose worker added material from its chunk (see {@link addsChunkMaterial}). */
  readonly evidence: readonly number[];
  /** Segments after which the CU changed at all: the evidence when no step qualified. */
  readonly changed: readonly number[];
  /** Every CU so far, only with `returnIntermediateSteps`. */
  readonly units?: readonly CommunicationUnit[];
}

interface ChainRun {
  readonly answer: string;
  readonly segments: number;
  readonly inputTokens: number;
  readonly evidence: readonly Evidence[];
  readonly units: readonly CommunicationUnit[] | undefined;
}

async function runChain(
  pipeline: string,
  document: TomeDocument,
  question: string | undefined,
  context: RunContext,
  options: ResolvedOptions,
  onAnswerChunk: ((text: string) => void) | undefined,
): Promise<ChainRun> {
  const { model } = context;
  const { maxCuTokens, answerTokens, paths } = options;
  const withQuery = question !== undefined;
  const query = question?.trim();
  const worker = new ChainWorker(model);
  const manager = new ChainManager(model);
  const judge = new PathJudge(model);

  // Everything that can be refused is refused here, before the first model call.
  if (withQuery) checkQuestion(context, question, 0);
  const workerPromptTokens = await worker.fixedPromptTokens(withQuery, maxCuTokens);
  const largestCu = Math.floor((model.contextWindow - workerPromptTokens - COA_MARGIN_TOKENS - COA_MIN_CHUNK_TOKENS) / 2);
  if (coaChunkBudget({ contextWindow: model.contextWindow, queryTokens: 0, workerPromptTokens, maxCuTokens }) < COA_MIN_CHUNK_TOKENS) {
    throw new InvalidOptionError('maxCuTokens', maxCuTokens, `at most ${Math.max(0, largestCu)} for ${model.spec}'s ${model.contextWindow}-token contextWindow (each worker prompt holds ${workerPromptTokens} tokens of instructions, the previous CU, its own CU and at least ${COA_MIN_CHUNK_TOKENS} tokens of text)`);
  }
  if (withQuery) checkQuestion(context, question, workerPromptTokens + 2 * maxCuTokens + COA_MARGIN_TOKENS + COA_MIN_CHUNK_TOKENS);
  const queryTokens = query === undefined ? 0 : model.tokenCounter.count(query);
  const chunkTokens = coaChunkBudget({ contextWindow: model.contextWindow, queryTokens, workerPromptTokens, maxCuTokens });

  const managerPromptTokens = await manager.fixedPromptTokens(withQuery, options.managerInstruction, answerTokens);
  const managerRoom = model.contextWindow - managerPromptTokens - queryTokens - maxCuTokens - COA_MARGIN_TOKENS;
  if (answerTokens > managerRoom) {
    if (managerRoom >= 2) throw new InvalidOptionError('answerTokens', answerTokens, `at most ${managerRoom} for ${model.spec}'s ${model.contextWindow}-token window (manager prompt ${managerPromptTokens} + question ${queryTokens} + last CU ${maxCuTokens} tokens)`);
    const culprit = options.managerInstruction === undefined ? 'maxCuTokens' : 'managerInstruction';
    throw new InvalidOptionError(culprit, culprit === 'maxCuTokens' ? maxCuTokens : options.managerInstruction, `small enough that the manager prompt (${managerPromptTokens} tokens), the last CU and a ${answerTokens}-token answer fit the ${model.contextWindow}-token window`);
  }
  if (paths > 1) {
    const judgePromptTokens = await judge.fixedPromptTokens(query, paths);
    const perCandidate = answerTokens + judge.blockTokens('', paths);
    const room = model.contextWindow - judgePromptTokens - JUDGE_REPLY_TOKENS - COA_MARGIN_TOKENS;
    if (paths * perCandidate > room) {
      throw new InvalidOptionError('paths', paths, `at most ${Math.max(1, Math.floor(room / perCandidate))} with answerTokens = ${answerTokens}: the judge must see every path's answer in ${model.spec}'s ${model.contextWindow}-token window`);
    }
  }
  if (document.text.trim() === '') throw new InvalidOptionError('document', document.name, 'a document with some text');

  const segments = segment(context, document.text, { maxTokens: chunkTokens });
  // Segments tile the text and are cut at whitespace, so their tokens add up to the document's (a word cut inside
  // can add one); this saves counting a long book a second time.
  const inputTokens = segments.reduce((total, part) => total + part.tokens, 0);
  context.emit({ type: 'pipeline-start', pipeline, model: model.spec, inputTokens });
  const orders = coaReadingPaths(segments.length, paths, options.readingOrder);

  const finals: ChainState[] = [];
  for (const [path, order] of orders.entries()) {
    const stage = `workers/path-${path + 1}`;
    const initial: ChainState = { cu: '', evidence: [], changed: [], ...(options.returnIntermediateSteps ? { units: [] } : {}) };
    const ordered = order.map((index) => segments[index]!);
    finals.push(
      await fold(context, { name: stage }, ordered, initial, async (state, part: Segment, position) => {
        const { text: cu } = await worker.step({ chunk: part.text, previous: state.cu, query, maxCuTokens, stage, index: position }, context);
        // Intermediate CUs are progress events too, so a user can watch the chain read.
        context.emit({ type: 'communication-unit', stage, index: position, segment: part.index, text: cu });
        return {
          cu,
          evidence: addsChunkMaterial(cu, state.cu, part.text) ? [...state.evidence, part.index] : state.evidence,
          changed: cu !== state.cu ? [...state.changed, part.index] : state.changed,
          ...(state.units === undefined ? {} : { units: [...state.units, { segment: part.index, text: cu }] }),
        };
      }),
    );
  }

  let streamed = false;
  const answers = await map(context, { name: 'manager', level: 1 }, finals, async (state, path) => {
    const request = { communication: state.cu, query, instruction: options.managerInstruction, answerTokens, stage: 'manager', index: path };
    if (onAnswerChunk === undefined || paths > 1) return manager.answer(request, context);
    streamed = true;
    const stream = manager.streamAnswer(request, context);
    for (let next = await stream.next(); ; next = await stream.next()) {
      if (next.done) return next.value;
      onAnswerChunk(next.value);
    }
  });
  const choice = paths === 1 ? 0 : (await map(context, { name: 'judge', level: 2 }, [answers], async (candidates) => (await judge.judge({ candidates, query, stage: 'judge', index: 0 }, context)).choice))[0]!;
  const answer = answers[choice]!;
  if (onAnswerChunk !== undefined && !streamed && answer !== '') onAnswerChunk(answer);

  const chosen = finals[choice]!;
  const evidenceSegments = chosen.evidence.length > 0 ? chosen.evidence : chosen.changed;
  const evidence = [...new Set(evidenceSegments)].map((index) => {
    const part = segments[index]!;
    return { segment: index, charStart: part.start, charEnd: part.end };
  });
  return { answer, segments: segments.length, inputTokens, evidence, units: chosen.units === undefined ? undefined : [...chosen.units] };
}

/** Fisher–Yates with mulberry32, so a path's shuffle depends only on its seed. */
function seededShuffle(items: readonly number[], seed: number): number[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const shuffled = [...items];
  for (let index = shuffled.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [shuffled[index], shuffled[other]] = [shuffled[other]!, shuffled[index]!];
  }
  return shuffled;
}
