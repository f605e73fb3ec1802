import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, HumanMessage, SystemMessage, type BaseMessage } from '@langchain/core/messages';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalEngine } from '../../inference/engine/engine-contract.js';

/**
 * LangChain's chat-model standard tests, re-implemented for vitest (the official @langchain/standard-tests is not
 * on npm). They assert only what holds for any decent chat model under greedy decoding: never exact text, and
 * stop/maxTokens behaviour relative to the model's own unconstrained output. Assumption: the greedy reply to a
 * short question runs at least a few tokens (so it streams in ≥ 2 pieces and has a middle to stop at).
 */

/** A model to check, and how to release it. */
export interface ChatModelHarness {
  model: BaseChatModel;
  dispose(): Promise<void>;
  /** Rendered prompts the engine received, oldest first (see {@link recordPrompts}); enables the prompt check. */
  prompts?(): readonly string[];
}

export interface ChatModelCheckOptions {
  /** A model whose tokens arrive slowly enough to abort mid-stream; default: the model of `makeModel`. */
  slowTokenModel?: () => Promise<ChatModelHarness>;
  /** Call options for greedy decoding with at most `maxTokens` new tokens. Default `{ temperature: 0, maxTokens }`. */
  callOptions?: (maxTokens: number) => Record<string, unknown>;
  /** New tokens for ordinary calls. Default 24. */
  maxTokens?: number;
  /** How soon after an abort a stream must have ended, in ms. Default 2000. */
  abortLatencyMs?: number;
  /** Per-test timeout in ms (a real engine on a CPU is slower than a fake). Default 30000. */
  timeoutMs?: number;
}

/** Wraps an engine so that every prompt it is asked to generate from is recorded (for {@link ChatModelHarness.prompts}). */
export function recordPrompts(engine: LocalEngine): { engine: LocalEngine; prompts: string[] } {
  const prompts: string[] = [];
  // Delegation rather than a prototype chain: an engine with private fields needs itself as `this`.
  const recording: LocalEngine = {
    get info() {
      return engine.info;
    },
    countTokens: (text) => engine.countTokens(text),
    formatChat: (messages) => engine.formatChat(messages),
    generate: (request) => {
      prompts.push(request.prompt ?? '');
      return engine.generate(request);
    },
    score: (context, continuation, scoreOptions) => engine.score(context, continuation, scoreOptions),
    embed: (texts, embedOptions) => engine.embed(texts, embedOptions),
    dispose: () => engine.dispose(),
  };
  return { engine: recording, prompts };
}

type CallOptions = NonNullable<Parameters<BaseChatModel['invoke']>[1]>;

const isAbortError = (error: unknown) => {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  return (typeof name === 'string' && /abort/i.test(name)) || code === 'ABORTED' || code === 'ABORT_ERR';
};

const textOf = (message: BaseMessage) => (typeof message.content === 'string' ? message.content : message.text);

/** Registers the checks as a vitest `describe(name)` block. */
export function describeChatModelChecks(name: string, makeModel: () => Promise<ChatModelHarness>, options: ChatModelCheckOptions = {}): void {
  const maxTokens = options.maxTokens ?? 24;
  const callOptions = options.callOptions ?? ((limit: number) => ({ temperature: 0, maxTokens: limit }));
  // Cast: the checks pass options (maxTokens, temperature) that the generic BaseChatModel type does not name.
  const greedy = (limit = maxTokens, extra: Record<string, unknown> = {}) => ({ ...callOptions(limit), ...extra }) as CallOptions;
  const timeout = options.timeoutMs ?? 30_000;
  const abortLatencyMs = options.abortLatencyMs ?? 2000;
  const question = 'Describe a river in one sentence.';

  describe(name, () => {
    let harness: ChatModelHarness;
    let model: BaseChatModel;
    beforeAll(async () => {
      harness = await makeModel();
      model = harness.model;
    }, timeout);
    afterAll(async () => harness?.dispose(), timeout);

    async function streamAll(input: string, extra: Record<string, unknown> = {}, limit = maxTokens): Promise<AIMessageChunk[]> {
      const chunks: AIMessageChunk[] = [];
      for await (const chunk of await model.stream(input, greedy(limit, extra))) chunks.push(chunk);
      return chunks;
    }

    it('constructs a chat model with a type name', () => {
      expect(typeof model._llmType()).toBe('string');
      expect(model._llmType().length).toBeGreaterThan(0);
    });

    it('invoke returns an AIMessage with non-empty text', { timeout }, async () => {
      const reply = await model.invoke(question, greedy());
      expect(AIMessage.isInstance(reply)).toBe(true);
      expect(typeof reply.content).toBe('string');
      expect(textOf(reply).length).toBeGreaterThan(0);
    });

    it('batch of 2 returns 2 messages', { timeout }, async () => {
      const replies = await model.batch([question, 'Name a colour.'], greedy());
      expect(replies).toHaveLength(2);
      for (const reply of replies) {
        expect(AIMessage.isInstance(reply)).toBe(true);
        expect(textOf(reply).length).toBeGreaterThan(0);
      }
    });

    it('streams ≥ 2 text chunks whose concatenation is the invoke text (greedy)', { timeout }, async () => {
      const chunks = await streamAll(question);
      for (const chunk of chunks) expect(AIMessageChunk.isInstance(chunk)).toBe(true);
      expect(chunks.filter((chunk) => textOf(chunk) !== '').length).toBeGreaterThanOrEqual(2);
      const invoked = await model.invoke(question, greedy());
      expect(chunks.map(textOf).join('')).toBe(textOf(invoked));
    });

    it('takes a conversation (system, human, ai, human) and passes every turn on', { timeout }, async () => {
      const turns = ['You answer briefly.', 'My name is Ishmael.', 'Hello Ishmael.', 'What is my name?'];
      const conversation = [new SystemMessage(turns[0]!), new HumanMessage(turns[1]!), new AIMessage(turns[2]!), new HumanMessage(turns[3]!)];
      const seen: BaseMessage[][] = [];
      const reply = await model.invoke(conversation, { ...greedy(), callbacks: [{ handleChatModelStart: (_llm: unknown, messages: BaseMessage[][]) => void seen.push(...messages) }] });
      expect(textOf(reply).length).toBeGreaterThan(0);
      expect(seen.at(-1)?.map((message) => message.getType())).toEqual(['system', 'human', 'ai', 'human']);
      const prompt = harness.prompts?.().at(-1);
      if (harness.prompts) for (const turn of turns) expect(prompt).toContain(turn);
    });

    it('reports usage on invoke and on the last stream chunk', { timeout }, async () => {
      const reply = await model.invoke(question, greedy());
      const chunks = await streamAll(question);
      for (const usage of [(reply as AIMessage).usage_metadata, chunks.at(-1)?.usage_metadata]) {
        expect(usage).toBeDefined();
        expect(usage!.input_tokens).toBeGreaterThan(0);
        expect(usage!.output_tokens).toBeGreaterThan(0);
        expect(usage!.total_tokens).toBe(usage!.input_tokens + usage!.output_tokens);
      }
    });

    it('has LangSmith params of the right types', () => {
      const params = model.getLsParams({});
      expect(typeof params.ls_provider).toBe('string');
      expect(params.ls_provider!.length).toBeGreaterThan(0);
      expect(typeof params.ls_model_name).toBe('string');
      expect(params.ls_model_name!.length).toBeGreaterThan(0);
      expect(params.ls_model_type).toBe('chat');
      expect(['number', 'undefined']).toContain(typeof params.ls_temperature);
      expect(['number', 'undefined']).toContain(typeof params.ls_max_tokens);
      expect(params.ls_stop === undefined || Array.isArray(params.ls_stop)).toBe(true);
      expect(model.getLsParams({ stop: ['\n\n'] }).ls_stop).toEqual(['\n\n']);
    });

    it('rejects invoke and stream with an already-aborted signal', { timeout }, async () => {
      const controller = new AbortController();
      controller.abort();
      const invoked = await model.invoke(question, { ...greedy(), signal: controller.signal }).then(() => undefined, (error: unknown) => error);
      expect(isAbortError(invoked), String(invoked)).toBe(true);
      const streamed = await streamAll(question, { signal: controller.signal }).then(() => undefined, (error: unknown) => error);
      expect(isAbortError(streamed), String(streamed)).toBe(true);
    });

    it('stops a stream early, and soon, when aborted mid-stream', { timeout }, async () => {
      const slow = options.slowTokenModel ? await options.slowTokenModel() : harness;
      try {
        const collect = async (signal?: AbortController) => {
          let chunks = 0;
          let abortedAt: number | undefined;
          try {
            for await (const _chunk of await slow.model.stream(question, greedy(maxTokens, signal ? { signal: signal.signal } : {}))) {
              chunks++;
              if (signal && abortedAt === undefined) {
                abortedAt = performance.now();
                signal.abort();
              }
            }
          } catch (error) {
            if (!signal || !isAbortError(error)) throw error;
          }
          return { chunks, latency: abortedAt === undefined ? 0 : performance.now() - abortedAt };
        };
        const full = await collect();
        const aborted = await collect(new AbortController());
        expect(full.chunks).toBeGreaterThan(2);
        expect(aborted.chunks).toBeLessThan(full.chunks);
        expect(aborted.latency).toBeLessThan(abortLatencyMs);
      } finally {
        if (slow !== harness) await slow.dispose();
      }
    });

    it('cuts the output at a stop sequence taken from the middle of its greedy output', { timeout }, async () => {
      const full = textOf(await model.invoke(question, greedy()));
      const stop = middleWord(full);
      expect(stop, `no word to stop at in ${JSON.stringify(full)}`).toBeDefined();
      const stopped = textOf(await model.invoke(question, greedy(maxTokens, { stop: [stop!] })));
      expect(stopped).toBe(full.slice(0, full.indexOf(stop!)));
    });

    it('bounds output_tokens by maxTokens', { timeout }, async () => {
      const reply = (await model.invoke(question, greedy(3))) as AIMessage;
      expect(reply.usage_metadata?.output_tokens).toBeLessThanOrEqual(3);
      expect(reply.usage_metadata?.output_tokens).toBeGreaterThan(0);
    });

    it('fires handleLLMNewToken once per streamed chunk, with the chunk text', { timeout }, async () => {
      const tokens: string[] = [];
      const chunks = await streamAll(question, { callbacks: [{ handleLLMNewToken: (token: string) => void tokens.push(token) }] });
      expect(tokens).toHaveLength(chunks.length);
      expect(tokens).toEqual(chunks.map(textOf));
    });

    it('counts tokens with getNumTokens, without the network', { timeout }, async () => {
      const fetchSpy = vi.spyOn(globalThis, 'fetch').mockRejectedValue(new Error('no network in this test'));
      try {
        const count = await model.getNumTokens('Call me Ishmael. Some years ago, never mind how long precisely.');
        expect(Number.isInteger(count)).toBe(true);
        expect(count).toBeGreaterThan(0);
        expect(fetchSpy).not.toHaveBeenCalled();
      } finally {
        fetchSpy.mockRestore();
      }
    });
  });
}

/**
 * A word of `text` near its middle whose first occurrence is past the start, so stopping at it leaves a
 * non-trivial prefix; undefined when the text has no such word.
 */
function middleWord(text: string): string | undefined {
  const words = [...text.matchAll(/\S+/g)].map((match) => ({ word: match[0], index: match.index }));
  const middle = text.length / 2;
  const byDistance = words.filter(({ index }) => index > 0).sort((first, second) => Math.abs(first.index - middle) - Math.abs(second.index - middle));
  return byDistance.find(({ word }) => text.indexOf(word) > 0)?.word;
}
