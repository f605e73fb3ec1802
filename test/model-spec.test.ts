import { describe, expect, it } from 'vitest';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { HumanMessage } from '@langchain/core/messages';
import { resolveModel, registerModelProvider, modelHandleFrom, DEFAULT_CONTEXT_WINDOW, TomeError, ExtractiveChatModel } from 'tome';
import { ScriptedChatModel } from './helpers/scripted-chat-model.js';

async function resolveError(spec: string): Promise<TomeError> {
  try {
    await resolveModel(spec);
  } catch (error) {
    if (TomeError.is(error)) return error;
    throw error;
  }
  throw new Error(`resolveModel(${spec}) did not fail`);
}

describe('resolveModel', () => {
  it('defaults to the extractive engine, which says so in its output', async () => {
    const handle = await resolveModel();
    expect(handle.spec).toBe('extractive');
    expect(handle.extractive).toBe(true);
    expect(handle.chatModel).toBeInstanceOf(ExtractiveChatModel);
    expect(handle.contextWindow).toBe(DEFAULT_CONTEXT_WINDOW);
    const reply = await handle.chatModel.invoke([new HumanMessage('The ship sailed at dawn. The crew was tired. Nobody spoke of the whale.')]);
    expect(reply.response_metadata).toMatchObject({ engine: 'extractive' });
  });

  it('builds provider models through langchain initChatModel', async () => {
    const handle = await resolveModel('ollama:llama3.1', { contextWindow: 32768 });
    expect(handle.chatModel).toBeInstanceOf(BaseChatModel);
    expect(handle.spec).toBe('ollama:llama3.1');
    expect(handle.contextWindow).toBe(32768);
    expect(handle.extractive).toBe(false);
  });

  it('names the package to install when a provider package is missing', async () => {
    const error = await resolveError('openai:gpt-4o-mini');
    expect(error.code).toBe('MODEL_PROVIDER_MISSING');
    expect(error.message).toContain('@langchain/openai');
    expect(error.fix).toBe('npm install @langchain/openai');
  });

  it.each(['gpt-4o', 'nonsense:model', ':x', 'openai:'])('rejects the malformed or unknown spec %s', async (spec) => {
    const error = await resolveError(spec);
    expect(error.code).toBe('MODEL_SPEC_INVALID');
    expect(error.fix).toMatch(/openai/);
  });

  it('accepts new spec prefixes from packages that bring their own engine', async () => {
    const scripted = new ScriptedChatModel(() => 'ok.');
    registerModelProvider('scripted', async (rest, options) => modelHandleFrom(scripted, { name: `scripted:${rest}`, contextWindow: options.contextWindow ?? 2048 }));
    const handle = await resolveModel('scripted:tiny');
    expect(handle.chatModel).toBe(scripted);
    expect(handle.contextWindow).toBe(2048);
  });

  it('rejects a context window too small to budget anything', () => {
    expect(() => modelHandleFrom(new ScriptedChatModel(() => ''), { contextWindow: 100 })).toThrow(TomeError);
  });
});
