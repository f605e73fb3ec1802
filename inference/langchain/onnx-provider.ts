import { registerModelProvider, type ResolveModelOptions } from '../../src/models/model-spec.js';
import { modelHandleFrom, type ModelHandle } from '../../src/models/model-handle.js';
import { resolveCheckpointDirectory } from '../checkpoint/hub.js';
import { openLocalEngine, type OpenEngineOptions } from '../engine/open-engine.js';
import { loadTokenizerCounter } from '../tokenizer-counter.js';
import { ChatOnnx } from './chat-onnx.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TokenCounter } from '../../src/tokens/token-counter.js';
import { parseModelConfig } from '../checkpoint/model-config.js';
import { resolveAttentionSettings } from '../engine/attention/attention-settings.js';
import { engineContextWindow } from '../engine/onnx-engine.js';
import { applyRopeOverride } from '../rope-scaling.js';

/**
 * `onnx:<dir | owner/repo>[?attention=MODE&rope=TYPE:FACTOR&<attention option>=VALUE…]` model specs: a local
 * checkpoint run by tome's ONNX Runtime engine (in a worker thread), as a model handle whose prompts are budgeted
 * with the checkpoint's own tokenizer. The query selects how the engine reads past its trained window, for every
 * command that takes a model (`tome ask --model "onnx:./m?attention=blocks&topK=8"`).
 */
export async function resolveOnnxModel(spec: string, options: ResolveModelOptions = {}, baseOptions: OpenEngineOptions = {}): Promise<ModelHandle> {
  const { location: rest, engineOptions: fromQuery } = parseOnnxSpec(spec);
  const engineOptions: OpenEngineOptions = { ...baseOptions, ...fromQuery };
  const directory = await resolveCheckpointDirectory(rest, engineOptions.hub);
  const [engine, tokenCounter] = await Promise.all([openLocalEngine(directory, { ...engineOptions, modelName: `onnx:${spec}` }), loadTokenizerCounter(directory)]);
  const chatModel = new ChatOnnx({ engine, temperature: options.temperature ?? 0, ...(options.providerFields ?? {}) });
  return modelHandleFrom(chatModel, { name: `onnx:${spec}`, contextWindow: options.contextWindow ?? engine.info.contextWindow, tokenCounter, scorer: engine });
}

/** Teach `resolveModel` the `onnx:` prefix (done when tome/inference is imported). */
export function registerOnnxProvider(engineOptions: OpenEngineOptions = {}): void {
  registerModelProvider('onnx', (rest, options) => resolveOnnxModel(rest, options, engineOptions));
}

/** `dir?attention=blocks&rope=yarn:4&topK=8` → the location and the engine options the query names. */
export function parseOnnxSpec(spec: string): { location: string; engineOptions: Pick<OpenEngineOptions, 'attention' | 'ropeOverride'> } {
  const mark = spec.lastIndexOf('?');
  if (mark < 0) return { location: spec, engineOptions: {} };
  const location = spec.slice(0, mark);
  let mode: string | undefined;
  let ropeOverride: string | undefined;
  const attentionOptions: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(spec.slice(mark + 1))) {
    if (key === 'attention') mode = value;
    else if (key === 'rope') ropeOverride = value;
    else attentionOptions[key] = value;
  }
  if (mode !== undefined || Object.keys(attentionOptions).length > 0) resolveAttentionSettings(mode ?? 'full', 1 << 30, attentionOptions); // names and values now; the layout against the checkpoint at load
  return {
    location,
    engineOptions: {
      ...(mode !== undefined || Object.keys(attentionOptions).length > 0 ? { attention: { mode: mode ?? 'full', options: attentionOptions } } : {}),
      ...(ropeOverride !== undefined ? { ropeOverride } : {}),
    },
  };
}

/**
 * What a producer needs to budget prompts for an `onnx:` model that runs elsewhere (on queue workers): the
 * checkpoint's own tokenizer and the engine's context window, read from config.json and tokenizer.json without
 * loading weights. Null when the checkpoint is not on this machine (a directory that is not here, a hub id not in
 * the cache): the caller falls back to approximate counting.
 */
export async function describeOnnxModel(spec: string): Promise<{ tokenCounter: TokenCounter; contextWindow: number } | null> {
  const { location, engineOptions } = parseOnnxSpec(spec);
  let directory: string;
  try {
    directory = await resolveCheckpointDirectory(location, { offline: true });
  } catch {
    return null;
  }
  const configPath = join(directory, 'config.json');
  const base = parseModelConfig(JSON.parse(await readFile(configPath, 'utf8')) as unknown, configPath);
  const config = engineOptions.ropeOverride ? applyRopeOverride(base, engineOptions.ropeOverride) : base;
  return { tokenCounter: await loadTokenizerCounter(directory), contextWindow: engineContextWindow(config, engineOptions.attention?.mode) };
}
