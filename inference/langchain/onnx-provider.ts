import { registerModelProvider, type ResolveModelOptions } from '../../src/models/model-spec.js';
import { modelHandleFrom, type ModelHandle } from '../../src/models/model-handle.js';
import { resolveCheckpointDirectory } from '../checkpoint/hub.js';
import { openLocalEngine, type OpenEngineOptions } from '../engine/open-engine.js';
import { loadTokenizerCounter } from '../tokenizer-counter.js';
import { ChatOnnx } from './chat-onnx.js';

/**
 * `onnx:<dir | owner/repo>` model specs: a local checkpoint run by tome's ONNX Runtime engine (in a worker
 * thread), as a model handle whose prompts are budgeted with the checkpoint's own tokenizer.
 */
export async function resolveOnnxModel(rest: string, options: ResolveModelOptions = {}, engineOptions: OpenEngineOptions = {}): Promise<ModelHandle> {
  const directory = await resolveCheckpointDirectory(rest, engineOptions.hub);
  const [engine, tokenCounter] = await Promise.all([openLocalEngine(directory, { ...engineOptions, modelName: `onnx:${rest}` }), loadTokenizerCounter(directory)]);
  const chatModel = new ChatOnnx({ engine, temperature: options.temperature ?? 0, ...(options.providerFields ?? {}) });
  return modelHandleFrom(chatModel, { name: `onnx:${rest}`, contextWindow: options.contextWindow ?? engine.info.contextWindow, tokenCounter, scorer: engine });
}

/** Teach `resolveModel` the `onnx:` prefix (done when tome/inference is imported). */
export function registerOnnxProvider(engineOptions: OpenEngineOptions = {}): void {
  registerModelProvider('onnx', (rest, options) => resolveOnnxModel(rest, options, engineOptions));
}
