import { afterAll, describe, expect, it } from 'vitest';
import { resolveModel } from '../../src/models/model-spec.js';
import { ChatOnnx, loadCheckpoint } from '../../inference/index.js'; // importing tome/inference registers `onnx:`
import { useTinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const checkpoint = useTinyCheckpoint();
const handles: { dispose(): Promise<void> }[] = [];
afterAll(async () => Promise.all(handles.map((handle) => handle.dispose())));

describe("resolveModel('onnx:<dir>')", () => {
  it('returns a ChatOnnx handle: the checkpoint window, its own tokenizer for budgets, the spec as name', async () => {
    const handle = await resolveModel(`onnx:${checkpoint.directory}`);
    const chat = handle.chatModel as ChatOnnx;
    handles.push(chat.engine);
    expect(chat).toBeInstanceOf(ChatOnnx);
    expect(handle.spec).toBe(`onnx:${checkpoint.directory}`);
    expect(handle.contextWindow).toBe(2048);
    const { tokenizer } = await loadCheckpoint(checkpoint.directory);
    const text = 'Call me Ishmael. Some years ago — never mind how long precisely.';
    expect(handle.tokenCounter.count(text)).toBe(tokenizer.encode(text).length);
    const reply = await chat.invoke('Hello', { maxTokens: 3 });
    expect(reply.usage_metadata?.output_tokens).toBeGreaterThan(0);
  });

  it('honours --context-window and temperature from the resolve options', async () => {
    const handle = await resolveModel(`onnx:${checkpoint.directory}`, { contextWindow: 512, temperature: 0.5 });
    handles.push((handle.chatModel as ChatOnnx).engine);
    expect(handle.contextWindow).toBe(512);
    expect((handle.chatModel as ChatOnnx).invocationParams().temperature).toBe(0.5);
  });

  it('a missing checkpoint is a typed error naming the spec, not a crash', async () => {
    await expect(resolveModel(`onnx:${checkpoint.directory}/nope`)).rejects.toMatchObject({ code: 'MODEL_FILE_MISSING' });
  });

  it('a query picks the attention mode and RoPE scaling: 100× the trained window with blocks, ×factor with a RoPE extension', async () => {
    const blocks = await resolveModel(`onnx:${checkpoint.directory}?attention=blocks&topK=4`);
    handles.push((blocks.chatModel as ChatOnnx).engine);
    expect(blocks.contextWindow).toBe(100 * 2048);
    const reply = await (blocks.chatModel as ChatOnnx).invoke('Hello', { maxTokens: 2 });
    expect(reply.usage_metadata?.output_tokens).toBeGreaterThan(0);
    const yarn = await resolveModel(`onnx:${checkpoint.directory}?rope=yarn:4`);
    handles.push((yarn.chatModel as ChatOnnx).engine);
    expect(yarn.contextWindow).toBe(4 * 2048);
  });

  it('a bad query option is a typed error naming it', async () => {
    await expect(resolveModel(`onnx:${checkpoint.directory}?attention=sideways`)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(resolveModel(`onnx:${checkpoint.directory}?attention=blocks&topk=4`)).rejects.toThrow(/one of sinks/);
    await expect(resolveModel(`onnx:${checkpoint.directory}?rope=warp:2`)).rejects.toMatchObject({ code: 'MODEL_CONFIG_INVALID' });
  });
});
