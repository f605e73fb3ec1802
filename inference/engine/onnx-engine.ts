import { EngineError, InvalidOptionError, PromptOverflowError } from '../../src/errors.js';
import { loadCheckpoint } from '../checkpoint/load-checkpoint.js';
import type { LlamaConfig } from '../checkpoint/types.js';
import { applyRopeOverride, trainedContextLength } from '../rope-scaling.js';
import type { ChatMessage, ChatTokenizer, LoadedCheckpoint } from '../checkpoint/types.js';
import { createSampler, IncrementalDecoder, StopStringMatcher } from '../generation/index.js';
import type { EngineInfo, FinishReason, GenerateRequest, GenerateResult, LocalEngine, ScoreResult } from './engine-contract.js';
import { LlamaModel, type LlamaModelOptions } from './llama-model.js';

export interface OnnxEngineOptions extends LlamaModelOptions {
  /**
   * Tokens the engine accepts per sequence. Default: max_position_embeddings (× the factor of a `rope` override);
   * with a streaming / blocks / knn attention mode, 100× the trained length.
   */
  contextWindow?: number;
  /** `TYPE:FACTOR[,key=value…]` RoPE scaling in place of the checkpoint's (see applyRopeOverride). */
  ropeOverride?: string;
  /** Shown as EngineInfo.model (default: the checkpoint directory). */
  modelName?: string;
}

/**
 * How a caller outside this thread stops a running request: checked between decode steps and layers. In this
 * thread the AbortSignal does it (the loop yields to the event loop so the abort can be delivered); a worker
 * thread host passes a shared-memory flag instead.
 */
export interface StopControl {
  shouldStop(): boolean;
  /** Give the event loop a turn between steps (needed only when the stop comes from a timer or I/O here). */
  yieldBetweenSteps: boolean;
}

const DEFAULT_MAX_TOKENS = 256;

/** What lets this engine take a longer input. */
const LONGER_INPUT_FIX = 'shorten the input, read past the trained window with --attention streaming|blocks|knn or a RoPE extension (--rope yarn:4), or raise the context window (--context-window)';

/**
 * How far a configured model reads: the RoPE-extended length, or 100× the trained one past the window. `config`
 * is after any RoPE override; `attentionMode` is the engine's (absent: full).
 */
export function engineContextWindow(config: LlamaConfig, attentionMode: string | undefined): number {
  if (attentionMode !== undefined && attentionMode !== 'full') return 100 * trainedContextLength(config);
  const scaling = config.ropeScaling;
  const factor = typeof scaling?.['factor'] === 'number' && !('original_max_position_embeddings' in scaling) ? scaling['factor'] : 1;
  return Math.round(config.maxPositionEmbeddings * factor);
}

/**
 * A {@link LocalEngine} running in the calling thread. Requests run one at a time (one KV memory); a new prompt
 * that starts with the tokens already in memory (the next chat turn) reuses their keys and values.
 */
export class OnnxEngine implements LocalEngine {
  readonly info: EngineInfo;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    readonly checkpoint: LoadedCheckpoint,
    readonly model: LlamaModel,
    options: OnnxEngineOptions,
  ) {
    const config = model.config;
    this.info = {
      model: options.modelName ?? checkpoint.directory,
      architecture: config.architecture,
      contextWindow: options.contextWindow ?? engineContextWindow(config, model.attentionSettings?.mode),
      vocabSize: config.vocabSize,
      hiddenSize: config.hiddenSize,
      numLayers: config.numLayers,
      executionProvider: model.executionProvider,
    };
  }

  static async open(directory: string, options: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const checkpoint = await loadCheckpoint(directory);
    try {
      const config = options.ropeOverride ? applyRopeOverride(checkpoint.config, options.ropeOverride) : checkpoint.config;
      const model = await LlamaModel.load(config, checkpoint.weights, options);
      return new OnnxEngine(checkpoint, model, options);
    } finally {
      // Weights now live in the graphs: the file handles are no longer needed.
      await checkpoint.weights.close();
    }
  }

  get tokenizer(): ChatTokenizer {
    return this.checkpoint.tokenizer;
  }

  async countTokens(text: string): Promise<number> {
    return this.tokenizer.encode(text).length;
  }

  async formatChat(messages: readonly ChatMessage[]): Promise<string> {
    return this.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
  }

  generate(request: GenerateRequest): Promise<GenerateResult> {
    return this.serialized(() => this.doGenerate(request, signalControl(request.signal)));
  }

  score(context: string, continuation: string, options: { signal?: AbortSignal } = {}): Promise<ScoreResult> {
    return this.serialized(() => this.doScore(context, continuation, signalControl(options.signal)));
  }

  embed(texts: readonly string[], options: { signal?: AbortSignal } = {}): Promise<number[][]> {
    return this.serialized(() => this.doEmbed(texts, signalControl(options.signal)));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue.catch(() => undefined);
    await this.model.dispose();
  }

  /**
   * The generation loop: prefill the prompt (reusing a cached prefix), then sample → detokenize → check stops →
   * decode one token, until EOS, a stop string, maxTokens, the context window, or a stop request.
   */
  async doGenerate(request: GenerateRequest, control: StopControl): Promise<GenerateResult> {
    const maxTokens = request.maxTokens ?? DEFAULT_MAX_TOKENS;
    const sample = createSampler(request); // validates temperature, topK, topP, seed
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new InvalidOptionError('maxTokens', maxTokens, 'a whole number ≥ 1');
    const promptIds = this.promptIds(request);
    if (promptIds.length >= this.info.contextWindow) throw new PromptOverflowError('generate', promptIds.length, 1, this.info.contextWindow, LONGER_INPUT_FIX);

    const prefillStart = performance.now();
    let logits = await this.prefillReusingPrefix(promptIds, control);
    const prefillMs = performance.now() - prefillStart;

    const decodeStart = performance.now();
    const eos = new Set(this.tokenizer.eosTokenIds);
    const sampleableVocabulary = Math.min(this.tokenizer.vocabularySize, this.info.vocabSize);
    const decoder = new IncrementalDecoder((ids) => this.tokenizer.decode(ids), promptIds);
    const stops = new StopStringMatcher(request.stop ?? []);
    const tokenIds: number[] = [];
    let text = '';
    const emit = (piece: string) => {
      if (piece.length === 0) return;
      text += piece;
      request.onText?.(piece);
    };
    let finishReason: FinishReason = 'length';
    for (;;) {
      if (control.shouldStop()) {
        finishReason = 'aborted';
        break;
      }
      // Ids past the tokenizer's vocabulary are padding rows of the embedding: never sample them.
      const next = sample(logits.subarray(0, sampleableVocabulary));
      if (eos.has(next)) {
        finishReason = 'eos';
        break;
      }
      tokenIds.push(next);
      const { emit: safe, stopped } = stops.push(decoder.push(next));
      emit(safe);
      if (stopped) {
        finishReason = 'stop';
        break;
      }
      if (tokenIds.length >= maxTokens || this.model.memory.length + 1 >= this.info.contextWindow) break;
      if (control.yieldBetweenSteps) await new Promise((resolve) => setImmediate(resolve));
      try {
        ({ logits } = await this.model.forward([next], { logitPositions: [this.model.memory.length], shouldStop: () => control.shouldStop() }));
      } catch (error) {
        if (!control.shouldStop()) throw error;
        finishReason = 'aborted';
        break;
      }
    }
    if (finishReason !== 'stop') emit(stops.push(decoder.flush()).emit + stops.flush());
    return { text, tokenIds, promptTokens: promptIds.length, completionTokens: tokenIds.length, finishReason, prefillMs, decodeMs: performance.now() - decodeStart };
  }

  /** Log-probabilities of the continuation from one pass over context + continuation. */
  async doScore(context: string, continuation: string, control: StopControl): Promise<ScoreResult> {
    const contextIds = this.tokenizer.encode(context);
    if (contextIds.length === 0) {
      if (this.tokenizer.bosTokenId === null) throw new InvalidOptionError('context', context, 'text of at least one token (this tokenizer has no BOS token to score the first token against)');
      contextIds.push(this.tokenizer.bosTokenId);
    }
    const tokenIds = this.tokenizer.encode(continuation);
    const sequence = [...contextIds, ...tokenIds];
    if (sequence.length > this.info.contextWindow) throw new PromptOverflowError('score', sequence.length, 0, this.info.contextWindow, LONGER_INPUT_FIX);
    if (tokenIds.length === 0) return { tokenIds, logProbs: [], entropies: [], contextTokens: contextIds.length };
    // Row i (position contextLength-1+i) predicts continuation token i.
    const positions = tokenIds.map((_, index) => contextIds.length - 1 + index);
    this.model.memory.truncate(0);
    const { logits } = await this.model.forward(sequence, { logitPositions: positions, shouldStop: () => control.shouldStop() });
    const vocab = this.info.vocabSize;
    const distributions = await this.model.tokenDistributions(logits, tokenIds.length);
    const logProbs = tokenIds.map((tokenId, row) => distributions.logProbs[row * vocab + tokenId]!);
    return { tokenIds, logProbs, entropies: Array.from(distributions.entropies), contextTokens: contextIds.length };
  }

  /** Mean of the final-normed hidden states over each text's tokens. */
  async doEmbed(texts: readonly string[], control: StopControl): Promise<number[][]> {
    const vectors: number[][] = [];
    const { hiddenSize } = this.info;
    for (const text of texts) {
      const ids = this.tokenizer.encode(text).slice(0, this.info.contextWindow);
      if (ids.length === 0) {
        vectors.push(new Array<number>(hiddenSize).fill(0));
        continue;
      }
      this.model.memory.truncate(0);
      const { normedHidden } = await this.model.forward(ids, { normedHidden: true, shouldStop: () => control.shouldStop() });
      const mean = new Array<number>(hiddenSize).fill(0);
      for (let row = 0; row < ids.length; row++) for (let column = 0; column < hiddenSize; column++) mean[column]! += normedHidden![row * hiddenSize + column]! / ids.length;
      vectors.push(mean);
    }
    this.model.memory.truncate(0);
    return vectors;
  }

  private promptIds(request: GenerateRequest): number[] {
    if ((request.prompt === undefined) === (request.promptTokenIds === undefined)) {
      throw new InvalidOptionError('prompt', request.prompt ?? null, 'exactly one of prompt (text) or promptTokenIds');
    }
    const ids = request.promptTokenIds ? [...request.promptTokenIds] : this.tokenizer.encode(request.prompt!);
    if (ids.length > 0) return ids;
    if (this.tokenizer.bosTokenId !== null) return [this.tokenizer.bosTokenId];
    throw new InvalidOptionError('prompt', request.prompt ?? '', 'a prompt of at least one token');
  }

  /** Keep the longest cached prefix of `promptIds` (at least one token must run to produce logits). */
  private async prefillReusingPrefix(promptIds: readonly number[], control: StopControl): Promise<Float32Array> {
    const cached = this.model.memory.tokenIds;
    let shared = 0;
    while (shared < cached.length && shared < promptIds.length - 1 && cached[shared] === promptIds[shared]) shared++;
    this.model.memory.truncate(shared);
    // Offloaded attention memory may not keep a prefix that reaches back into it: then it starts over.
    const kept = this.model.memory.length;
    const { logits } = await this.model.forward(promptIds.slice(kept), { logitPositions: [promptIds.length - 1], shouldStop: () => control.shouldStop() });
    return logits;
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new EngineError('the engine was disposed', 'open the engine again (openLocalEngine)'));
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function signalControl(signal: AbortSignal | undefined): StopControl {
  return { shouldStop: () => signal?.aborted === true, yieldBetweenSteps: signal !== undefined };
}
