import type { ChatMessage } from '../checkpoint/types.js';
import type { EngineInfo, GenerateRequest } from './engine-contract.js';
import type { OnnxEngineOptions } from './onnx-engine.js';
import type { SerializedError } from '../thread-errors.js';

/** Messages between {@link WorkerEngine} (main thread) and the engine's worker thread. */

export interface WorkerStartData {
  directory: string;
  options: Omit<OnnxEngineOptions, 'attentionPolicy' | 'rope'>;
}

export type WorkerCall =
  | { method: 'generate'; request: Omit<GenerateRequest, 'signal' | 'onText'>; streamText: boolean }
  | { method: 'score'; context: string; continuation: string }
  | { method: 'embed'; texts: readonly string[] }
  | { method: 'countTokens'; text: string }
  | { method: 'formatChat'; messages: readonly ChatMessage[] };

export type ToWorker = { type: 'call'; id: number; call: WorkerCall; stopFlag: SharedArrayBuffer } | { type: 'dispose' };

export type FromWorker =
  | { type: 'ready'; info: EngineInfo }
  | { type: 'load-failed'; error: SerializedError }
  | { type: 'text'; id: number; delta: string }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'failure'; id: number; error: SerializedError }
  | { type: 'disposed' };
