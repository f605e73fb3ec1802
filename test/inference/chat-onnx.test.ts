import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage, type AIMessageChunk } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ChatOnnx, OnnxEmbeddings, type ChatOnnxCallOptions } from '../../inference/langchain/index.js';
import { TomeError } from '../../src/errors.js';
import { vectorNorm } from '../../src/embeddings/vectors.js';
import { FakeLocalEngine, fakeTokens, type FakeLocalEngineOptions } from '../helpers/fake-local-engine.js';
import { describeChatModelChecks, recordPrompts } from './chat-model-checks.js';

function harness(engineOptions: FakeLocalEngineOptions = {}) {
  const { engine, prompts } = recordPrompts(new FakeLocalEngine(engineOptions));
  return { model: new ChatOnnx({ engine }), dispose: () => engine.dispose(), prompts: () => prompts };
}

describeChatModelChecks('ChatOnnx on a fake engine', async () => harness(), { slowTokenModel: async () => harness({ tokenDelayMs: 20 }) });
describeChatModelChecks('ChatOnnx on a fake engine that rejects on abort', async () => harness({ onAbort: 'reject' }), {
  slowTokenModel: async () => harness({ tokenDelayMs: 20, onAbort: 'reject' }),
});

const isTomeError = (code: string) => (error: unknown) => TomeError.is(error) && error.code === code;

describe('ChatOnnx messages', () => {
  it('converts every LangChain message type to the ChatMessage the engine receives', async () => {
    const engine = new FakeLocalEngine();
    await new ChatOnnx({ engine }).invoke([
      new SystemMessage('Be brief.'),
      new HumanMessage({ content: [{ type: 'text', text: 'Part one, ' }, { type: 'text', text: 'part two.' }] }),
      new AIMessage('Noted.'),
      new ToolMessage({ content: '42', tool_call_id: 'call-1' }),
      new ChatMessage('From a generic user.', 'user'),
      new ChatMessage('From a generic assistant.', 'assistant'),
    ]);
    expect(engine.formatChatCalls).toEqual([
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Part one, part two.' },
        { role: 'assistant', content: 'Noted.' },
        { role: 'tool', content: '42' },
        { role: 'user', content: 'From a generic user.' },
        { role: 'assistant', content: 'From a generic assistant.' },
      ],
    ]);
    expect(engine.prompts[0]).toBe(await engine.formatChat(engine.formatChatCalls[0]!));
  });

  it('refuses an image part with InvalidOptionError before generating', async () => {
    const engine = new FakeLocalEngine();
    const image = new HumanMessage({ content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] });
    const error = await new ChatOnnx({ engine }).invoke([image]).catch((caught: unknown) => caught);
    expect(isTomeError('INVALID_OPTION')(error), String(error)).toBe(true);
    expect(String((error as Error).message)).toContain('messages[0].content[1].type');
    expect(engine.generateCalls).toHaveLength(0);
  });

  it('refuses a generic message with an unknown role', async () => {
    const error = await new ChatOnnx({ engine: new FakeLocalEngine() }).invoke([new ChatMessage('hi', 'narrator')]).catch((caught: unknown) => caught);
    expect(isTomeError('INVALID_OPTION')(error)).toBe(true);
  });
});

describe('ChatOnnx options', () => {
  it('sends only temperature 0 by default, leaving other defaults to the engine', async () => {
    const engine = new FakeLocalEngine();
    await new ChatOnnx({ engine }).invoke('hi');
    expect(engine.generateCalls[0]!.request).toEqual({ prompt: engine.prompts[0], temperature: 0 });
    expect(engine.generateCalls[0]!.streamed).toBe(false);
  });

  it('call options override constructor defaults, field by field', async () => {
    const engine = new FakeLocalEngine();
    const model = new ChatOnnx({ engine, maxTokens: 10, temperature: 0.5, topK: 5, topP: 0.9, seed: 7, stop: ['END'] });
    await model.invoke('hi');
    await model.invoke('hi', { maxTokens: 4, temperature: 0, seed: 3, stop: ['x'] });
    const [first, second] = engine.generateCalls.map((call) => call.request);
    expect(first).toEqual({ prompt: engine.prompts[0], maxTokens: 10, temperature: 0.5, topK: 5, topP: 0.9, seed: 7, stop: ['END'] });
    expect(second).toEqual({ prompt: engine.prompts[1], maxTokens: 4, temperature: 0, topK: 5, topP: 0.9, seed: 3, stop: ['x'] });
    expect(model.getLsParams({ maxTokens: 4, stop: ['x'] })).toEqual({ ls_provider: 'tome-onnx', ls_model_name: 'fake/tiny-chat', ls_model_type: 'chat', ls_temperature: 0.5, ls_max_tokens: 4, ls_stop: ['x'] });
  });

  it('passes the signal to the engine, and the onText callback only when streaming', async () => {
    const engine = new FakeLocalEngine();
    const model = new ChatOnnx({ engine });
    await model.invoke('hi', { signal: new AbortController().signal });
    for await (const _chunk of await model.stream('hi')) void _chunk;
    expect(engine.generateCalls.map(({ hadSignal, streamed }) => ({ hadSignal, streamed }))).toEqual([
      { hadSignal: true, streamed: false },
      { hadSignal: true, streamed: true },
    ]);
  });

  it('rejects invalid settings with InvalidOptionError naming the option', async () => {
    const engine = new FakeLocalEngine();
    expect(() => new ChatOnnx({ engine, maxTokens: 0 })).toThrow(/maxTokens = 0/);
    expect(() => new ChatOnnx({ engine, temperature: -1 })).toThrow(/temperature/);
    const error = await new ChatOnnx({ engine }).invoke('hi', { topP: 2 }).catch((caught: unknown) => caught);
    expect(isTomeError('INVALID_OPTION')(error)).toBe(true);
    expect(engine.generateCalls).toHaveLength(0);
  });

  it('uses the engine for the model name, context window and token counts', async () => {
    const engine = new FakeLocalEngine({ info: { model: 'checkpoints/tiny', contextWindow: 2048 } });
    const model = new ChatOnnx({ engine });
    expect(model.modelName).toBe('checkpoints/tiny');
    expect(new ChatOnnx({ engine, modelName: 'tiny' }).modelName).toBe('tiny');
    expect(model.profile.maxInputTokens).toBe(2048);
    expect(model.profile.toolCalling).toBe(false);
    expect(model._llmType()).toBe('tome-onnx');
    expect(await model.getNumTokens([{ type: 'text', text: 'one two' }, { type: 'text', text: ' three' }])).toBe(3);
    expect(engine.countTokensCalls).toEqual(['one two three']);
  });

  it('refuses withStructuredOutput with InvalidOptionError (no tool calling)', () => {
    const model = new ChatOnnx({ engine: new FakeLocalEngine() });
    const asBase: BaseChatModel = model;
    expect(() => asBase.withStructuredOutput(z.object({ answer: z.string() }))).toThrow(/has no tool calling/);
    expect((model as { bindTools?: unknown }).bindTools).toBeUndefined();
  });
});

describe('ChatOnnx results', () => {
  it('reports exactly the engine numbers as usage and response metadata', async () => {
    const engine = new FakeLocalEngine({ script: 'one two three four five six' });
    const model = new ChatOnnx({ engine });
    for (const [options, finishReason] of [
      [{}, 'stop'],
      [{ maxTokens: 3 }, 'length'],
      [{ stop: ['four'] }, 'stop'],
    ] as Array<[ChatOnnxCallOptions, string]>) {
      const reply = await model.invoke('hi', options);
      const result = engine.generateCalls.at(-1)!.result!;
      expect(reply.content).toBe(result.text);
      expect(reply.usage_metadata).toEqual({ input_tokens: result.promptTokens, output_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens });
      expect(reply.response_metadata).toMatchObject({ finish_reason: finishReason, model_name: 'fake/tiny-chat', prefill_ms: result.prefillMs, decode_ms: result.decodeMs });
    }
    expect(engine.generateCalls.map((call) => call.result!.finishReason)).toEqual(['eos', 'length', 'stop']);
  });

  it('streams one chunk per engine token, then a final chunk with usage and metadata', async () => {
    const engine = new FakeLocalEngine({ script: 'one two three four' });
    const chunks: AIMessageChunk[] = [];
    for await (const chunk of await new ChatOnnx({ engine }).stream('hi')) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.content)).toEqual([...fakeTokens('one two three four'), '']);
    const result = engine.generateCalls[0]!.result!;
    expect(chunks.at(-1)!.usage_metadata).toEqual({ input_tokens: result.promptTokens, output_tokens: 4, total_tokens: result.promptTokens + 4 });
    expect(chunks.at(-1)!.response_metadata).toMatchObject({ finish_reason: 'stop', model_name: 'fake/tiny-chat' });
  });

  it('never streams a stop string, even one that spans tokens', async () => {
    const engine = new FakeLocalEngine({ script: 'alpha beta gamma delta' });
    const chunks: string[] = [];
    for await (const chunk of await new ChatOnnx({ engine }).stream('hi', { stop: ['a gam'] })) chunks.push(String(chunk.content));
    expect(chunks.join('')).toBe('alpha bet');
  });

  for (const onAbort of ['finish', 'reject'] as const) {
    it(`rejects invoke aborted midway with AbortedError (engine that ${onAbort === 'finish' ? 'finishes' : 'rejects'} on abort)`, async () => {
      const engine = new FakeLocalEngine({ tokenDelayMs: 20, onAbort });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const error = await new ChatOnnx({ engine }).invoke('hi', { signal: controller.signal }).catch((caught: unknown) => caught);
      expect(isTomeError('ABORTED')(error), String(error)).toBe(true);
    });

    it(`ends the chunk stream with AbortedError when aborted midway (engine that ${onAbort === 'finish' ? 'finishes' : 'rejects'} on abort)`, async () => {
      const engine = new FakeLocalEngine({ tokenDelayMs: 10, onAbort });
      const controller = new AbortController();
      const model = new ChatOnnx({ engine });
      const seen: string[] = [];
      const error = await (async () => {
        for await (const chunk of model._streamResponseChunks([new HumanMessage('hi')], { signal: controller.signal })) {
          seen.push(chunk.text);
          if (seen.length === 2) controller.abort();
        }
      })().catch((caught: unknown) => caught);
      expect(isTomeError('ABORTED')(error), String(error)).toBe(true);
      expect(seen).toHaveLength(2);
    });
  }

  it('stops the engine when the reader leaves the stream early', async () => {
    const engine = new FakeLocalEngine({ tokenDelayMs: 5 });
    for await (const _chunk of await new ChatOnnx({ engine }).stream('hi')) break;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(engine.generateCalls[0]!.result?.finishReason).toBe('aborted');
  });
});

describe('OnnxEmbeddings', () => {
  const texts = ['first', 'second', 'third', 'fourth', 'fifth'];

  it('embeds queries and documents as unit vectors of the engine dimension, deterministically', async () => {
    const embeddings = new OnnxEmbeddings({ engine: new FakeLocalEngine({ embeddingDimensions: 12 }) });
    const query = await embeddings.embedQuery('harbour code');
    expect(query).toHaveLength(12);
    expect(vectorNorm(query)).toBeCloseTo(1, 10);
    const documents = await embeddings.embedDocuments(texts);
    expect(documents).toHaveLength(texts.length);
    for (const vector of documents) expect(vectorNorm(vector)).toBeCloseTo(1, 10);
    expect(await embeddings.embedDocuments(texts)).toEqual(documents);
    expect(await embeddings.embedQuery('third')).toEqual(documents[2]);
    expect(documents[0]).not.toEqual(documents[1]);
  });

  it('returns the engine vectors unchanged when normalize is false', async () => {
    const engine = new FakeLocalEngine();
    const raw = await engine.embed(['plain']);
    expect(await new OnnxEmbeddings({ engine, normalize: false }).embedQuery('plain')).toEqual(raw[0]);
    expect(vectorNorm(raw[0]!)).not.toBeCloseTo(1, 3);
  });

  it('splits documents into batches of batchSize, in order', async () => {
    const engine = new FakeLocalEngine();
    await new OnnxEmbeddings({ engine, batchSize: 2 }).embedDocuments(texts);
    expect(engine.embedCalls).toEqual([['first', 'second'], ['third', 'fourth'], ['fifth']]);
    const defaults = new FakeLocalEngine();
    await new OnnxEmbeddings({ engine: defaults }).embedDocuments(Array.from({ length: 20 }, (_, index) => `text ${index}`));
    expect(defaults.embedCalls.map((batch) => batch.length)).toEqual([16, 4]);
    expect(await new OnnxEmbeddings({ engine }).embedDocuments([])).toEqual([]);
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => new OnnxEmbeddings({ engine: new FakeLocalEngine(), batchSize: 0 })).toThrow(/batchSize/);
  });
});
