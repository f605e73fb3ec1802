import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { HnswIndex } from './retrieval-index.js';
import { SIGNAL, type FromIndexThread, type IndexThreadData, type ToIndexThread } from './hnsw-thread-protocol.js';

/**
 * The index thread: holds HNSW indexes (one per layer) and applies the caller's messages in order. An insertion
 * that fails is reported with the next answer, since nobody waits for an insertion.
 */
const { signal: signalBuffer, replies } = workerData as IndexThreadData;
const signal = new Int32Array(signalBuffer);
const indexes = new Map<number, HnswIndex>();
let failure: string | null = null;

/**
 * Run at the lowest priority: insert keys with the CPU the model leaves idle. At normal priority, on a machine whose
 * cores ORT's pool threads already fill, this thread would preempt one of them mid-operator and stall the whole
 * parallel region (smollm2 kNN decode: 29 → 41 ms/token). When the model does wait for the index (a search), this
 * thread has a core to itself anyway. Linux only (a thread's nice value via its tid); elsewhere it stays as it is.
 */
try {
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').at(-1)), 19);
} catch {
  // No /proc (not Linux) or not permitted: normal priority.
}

function answer(reply: FromIndexThread): void {
  replies.postMessage(reply);
  Atomics.store(signal, SIGNAL.answered, reply.ticket);
  Atomics.notify(signal, SIGNAL.answered);
}

function indexOf(id: number): HnswIndex {
  const index = indexes.get(id);
  if (!index) throw new Error(`index ${id} does not exist in the index thread`);
  return index;
}

function handle(message: ToIndexThread): void {
  switch (message.op) {
    case 'create':
      indexes.set(message.index, new HnswIndex(message.dimensions, message.options));
      return;
    case 'add':
      indexOf(message.index).addRows(message.rows, message.count);
      return;
    case 'drop':
      indexes.delete(message.index);
      return;
    case 'search':
      answer({ ticket: message.ticket, labels: indexOf(message.index).search(message.query, message.k, message.below) });
      return;
    case 'recall':
      answer({ ticket: message.ticket, recall: indexOf(message.index).recall(message.query, message.k) });
      return;
  }
}

parentPort!.on('message', (message: ToIndexThread) => {
  try {
    if (failure !== null && 'ticket' in message) {
      answer({ ticket: message.ticket, error: failure });
      return;
    }
    handle(message);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    if ('ticket' in message) answer({ ticket: message.ticket, error: text });
    else failure ??= text;
  }
});

process.on('exit', () => {
  Atomics.store(signal, SIGNAL.stopped, 1);
  Atomics.notify(signal, SIGNAL.answered);
});
