import { createHash } from 'node:crypto';
import type { ChatMessage } from '../../inference/checkpoint/types.js';
import type { EngineInfo, FinishReason, GenerateRequest, GenerateResult, LocalEngine, ScoreResult } from '../../inference/engine/engine-contract.js';
import { AbortedError, EngineError } from '../../src/errors.js';

/** The engine default of the contract: maximum new tokens when a request names none. */
const DEFAULT_MAX_TOKENS = 256;

/** What the script is asked for: the rendered prompt and the request as the engine received it. */
export interface ScriptInput {
  readonly prompt: string;
  readonly request: RecordedGenerateRequest;
  /** 0 for the engine's first generate call. */
  readonly callIndex: number;
}

/** Reply text for a request, or an Error to reject with. */
export type EngineScript = (input: ScriptInput) => string | Error;

/** A GenerateRequest as recorded: everything but the callbacks, which cannot be compared. */
export type RecordedGenerateRequest = Omit<GenerateRequest, 'signal' | 'onText'>;

/** One generate call, as the fake engine saw it and answered it. */
export interface RecordedGenerateCall {
  readonly request: RecordedGenerateRequest;
  readonly hadSignal: boolean;
  readonly streamed: boolean;
  /** Undefined while running, or when the call rejected. */
  result?: GenerateResult;
}

export interface FakeLocalEngineOptions {
  /** Replies: a function, a list used in turn (the last repeats), or one text. Default {@link defaultReply}. */
  script?: EngineScript | readonly string[] | string;
  /** Wait before each generated token, in ms (0: none, tokens still arrive asynchronously). Default 0. */
  tokenDelayMs?: number;
  /** On abort: finish early with `finishReason: 'aborted'` (default), or reject with an AbortedError. */
  onAbort?: 'finish' | 'reject';
  /** Length of embedding vectors. Default 8. */
  embeddingDimensions?: number;
  info?: Partial<EngineInfo>;
}

const VOCABULARY = ['the', 'river', 'carried', 'old', 'letters', 'past', 'quiet', 'towns', 'while', 'ships', 'waited', 'under', 'grey', 'skies', 'and', 'every', 'keeper', 'counted', 'lanterns', 'slowly'];

/**
 * A deterministic reply of 24 words chosen by a hash of the prompt: the same prompt (and, above temperature 0,
 * the same seed) always gets the same reply, different prompts usually differ, and no reply repeats a word
 * pair often enough to make a mid-reply stop string ambiguous.
 */
export function defaultReply(prompt: string, request: RecordedGenerateRequest = {}): string {
  const key = (request.temperature ?? 0) > 0 ? `${prompt}\u0000${request.seed ?? 0}` : prompt;
  const digest = createHash('sha256').update(key).digest();
  const words = Array.from({ length: 24 }, (_, index) => VOCABULARY[(digest[index % digest.length]! + index * 7) % VOCABULARY.length]!);
  return `${words.join(' ')}.`;
}

/** Tokens of the fake tokenizer: each word with the whitespace before it. */
export function fakeTokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

/**
 * A scripted {@link LocalEngine} for orchestration tests. It renders chats with a visible template, replies from
 * a script, streams the reply token by token (a token is a word) through `onText`, honours `maxTokens`, stop
 * strings (held back from `onText` until they cannot be one) and `signal`, records every request, and embeds by
 * hashing text into fixed vectors.
 */
export class FakeLocalEngine implements LocalEngine {
  readonly info: EngineInfo;
  readonly generateCalls: RecordedGenerateCall[] = [];
  readonly formatChatCalls: ChatMessage[][] = [];
  readonly embedCalls: string[][] = [];
  readonly countTokensCalls: string[] = [];
  disposed = false;
  private readonly script: EngineScript;
  private readonly tokenDelayMs: number;
  private readonly abortMode: 'finish' | 'reject';
  private readonly embeddingDimensions: number;

  constructor(options: FakeLocalEngineOptions = {}) {
    this.info = { model: 'fake/tiny-chat', architecture: 'LlamaForCausalLM', contextWindow: 4096, vocabSize: 32000, hiddenSize: 64, numLayers: 2, executionProvider: 'cpu', ...options.info };
    this.script = toScript(options.script);
    this.tokenDelayMs = options.tokenDelayMs ?? 0;
    this.abortMode = options.onAbort ?? 'finish';
    this.embeddingDimensions = options.embeddingDimensions ?? 8;
  }

  async countTokens(text: string): Promise<number> {
    this.checkOpen();
    this.countTokensCalls.push(text);
    return fakeTokens(text).length;
  }

  async formatChat(messages: readonly ChatMessage[]): Promise<string> {
    this.checkOpen();
    this.formatChatCalls.push(messages.map((message) => ({ ...message })));
    return `${messages.map((message) => `<|${message.role}|>\n${message.content}\n`).join('')}<|assistant|>\n`;
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    this.checkOpen();
    const { signal, onText, ...recorded } = request;
    const call: RecordedGenerateCall = { request: recorded, hadSignal: signal !== undefined, streamed: onText !== undefined };
    const callIndex = this.generateCalls.length;
    this.generateCalls.push(call);
    if ((recorded.prompt === undefined) === (recorded.promptTokenIds === undefined)) throw new EngineError('fake engine: pass exactly one of prompt and promptTokenIds', 'fix the test');
    const prompt = recorded.prompt ?? recorded.promptTokenIds!.join(' ');
    const reply = this.script({ prompt, request: recorded, callIndex });
    if (reply instanceof Error) throw reply;

    const promptTokens = fakeTokens(prompt).length;
    const tokens = fakeTokens(reply);
    const maxTokens = recorded.maxTokens ?? DEFAULT_MAX_TOKENS;
    const stops = recorded.stop ?? [];
    let text = '';
    let emitted = 0;
    let completionTokens = 0;
    // Aborted before the first token: the same answer as an abort midway, even for an empty reply.
    let finishReason: FinishReason = signal?.aborted ? 'aborted' : 'eos';
    if (finishReason === 'aborted' && this.abortMode === 'reject') throw new AbortedError(signal?.reason);
    const emitUpTo = (end: number) => {
      if (end > emitted) onText?.(text.slice(emitted, end));
      emitted = Math.max(emitted, end);
    };
    for (const token of finishReason === 'aborted' ? [] : tokens) {
      if (completionTokens === maxTokens) {
        finishReason = 'length';
        break;
      }
      if (this.tokenDelayMs > 0) await sleep(this.tokenDelayMs, signal);
      else await Promise.resolve();
      if (signal?.aborted) {
        if (this.abortMode === 'reject') throw new AbortedError(signal.reason);
        finishReason = 'aborted';
        break;
      }
      text += token;
      completionTokens++;
      const cut = earliestStop(text, stops);
      if (cut !== undefined) {
        text = text.slice(0, cut);
        finishReason = 'stop';
        break;
      }
      emitUpTo(text.length - heldBack(text, stops));
    }
    if (finishReason !== 'aborted') emitUpTo(text.length);
    const result: GenerateResult = {
      text,
      tokenIds: fakeTokens(text).map(tokenId),
      promptTokens,
      completionTokens,
      finishReason,
      prefillMs: promptTokens,
      decodeMs: completionTokens * Math.max(1, this.tokenDelayMs),
    };
    call.result = result;
    return result;
  }

  async score(context: string, continuation: string): Promise<ScoreResult> {
    this.checkOpen();
    const tokens = fakeTokens(continuation);
    return { tokenIds: tokens.map(tokenId), logProbs: tokens.map((token) => -1 - (tokenId(token) % 100) / 100), entropies: tokens.map(() => 2), contextTokens: fakeTokens(context).length };
  }

  async embed(texts: readonly string[], options: { signal?: AbortSignal } = {}): Promise<number[][]> {
    this.checkOpen();
    if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
    this.embedCalls.push([...texts]);
    return texts.map((text) => hashVector(text, this.embeddingDimensions));
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  /** The prompts of every generate call so far, in order. */
  get prompts(): string[] {
    return this.generateCalls.map((call) => call.request.prompt ?? '');
  }

  private checkOpen(): void {
    if (this.disposed) throw new EngineError('fake engine: used after dispose()', 'create a new engine');
  }
}

function toScript(script: FakeLocalEngineOptions['script']): EngineScript {
  if (script === undefined) return ({ prompt, request }) => defaultReply(prompt, request);
  if (typeof script === 'string') return () => script;
  if (typeof script === 'function') return script;
  const replies = script as readonly string[];
  return ({ callIndex }) => replies[Math.min(callIndex, replies.length - 1)] ?? '';
}

/** Index where the first stop string begins, if any occurs. */
function earliestStop(text: string, stops: readonly string[]): number | undefined {
  let earliest: number | undefined;
  for (const stop of stops) {
    const index = text.indexOf(stop);
    if (index >= 0 && (earliest === undefined || index < earliest)) earliest = index;
  }
  return earliest;
}

/** Length of the longest tail of `text` that could still grow into a stop string (held back from onText). */
function heldBack(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const stop of stops) for (let length = Math.min(stop.length - 1, text.length); length > longest; length--) if (text.endsWith(stop.slice(0, length))) longest = length;
  return longest;
}

function tokenId(token: string): number {
  return createHash('sha256').update(token).digest().readUInt32BE(0) % 32000;
}

/** Components in [-1, 1] from a hash of (text, index): fixed per text, not normalized. */
function hashVector(text: string, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, index) => createHash('sha256').update(`${index}\u0000${text}`).digest().readUInt32BE(0) / 0x7fffffff - 1);
}

/** Resolves after `ms`, or at once when the signal aborts (the caller checks the signal). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
