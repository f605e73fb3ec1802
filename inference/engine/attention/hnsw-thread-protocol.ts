import type { MessagePort } from 'node:worker_threads';
import type { RetrievalIndexOptions } from './retrieval-index.js';

/** Messages to the index thread, handled strictly in the order sent. Those with a ticket are answered. */
export type ToIndexThread =
  | { op: 'create'; index: number; dimensions: number; options: RetrievalIndexOptions }
  | { op: 'add'; index: number; rows: Float32Array; count: number }
  | { op: 'drop'; index: number }
  | { op: 'search'; index: number; ticket: number; query: Float32Array; k: number; below: number | undefined }
  | { op: 'recall'; index: number; ticket: number; query: Float32Array; k: number };

export type FromIndexThread = { ticket: number; labels: number[] } | { ticket: number; recall: number } | { ticket: number; error: string };

/** Slots of the shared Int32Array the caller blocks on. */
export const SIGNAL = {
  /** The last ticket answered. */
  answered: 0,
  /** 1 once the thread has stopped (it will answer nothing more). */
  stopped: 1,
} as const;

export interface IndexThreadData {
  signal: SharedArrayBuffer;
  replies: MessagePort;
}
