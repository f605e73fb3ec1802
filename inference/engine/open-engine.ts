import { resolveCheckpointDirectory, type ResolveCheckpointOptions } from '../checkpoint/hub.js';
import type { LocalEngine } from './engine-contract.js';
import { OnnxEngine, type OnnxEngineOptions } from './onnx-engine.js';
import { WorkerEngine } from './worker-engine.js';

export interface OpenEngineOptions extends Omit<OnnxEngineOptions, 'attentionPolicy' | 'rope'> {
  /**
   * 'worker' (default): the model runs in a worker thread so the caller's event loop stays free.
   * 'current': in this thread (debugging, or code that is itself already in a worker).
   */
  thread?: 'worker' | 'current';
  /** Where and how a hub repo id is fetched. */
  hub?: ResolveCheckpointOptions;
}

/**
 * Open a local model from a checkpoint directory or a hub repo id (`HuggingFaceTB/SmolLM2-135M-Instruct`, fetched
 * once into the Hugging Face cache).
 */
export async function openLocalEngine(spec: string, options: OpenEngineOptions = {}): Promise<LocalEngine> {
  const { thread = 'worker', hub, ...engineOptions } = options;
  const directory = await resolveCheckpointDirectory(spec, hub);
  const modelName = engineOptions.modelName ?? spec;
  return thread === 'worker' ? WorkerEngine.open(directory, { ...engineOptions, modelName }) : OnnxEngine.open(directory, { ...engineOptions, modelName });
}
