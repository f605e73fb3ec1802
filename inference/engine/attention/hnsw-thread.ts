import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { EngineError } from '../../../src/errors.js';
import type { RetrievalIndex, RetrievalIndexOptions } from './retrieval-index.js';
import { SIGNAL, type FromIndexThread, type IndexThreadData, type ToIndexThread } from './hnsw-thread-protocol.js';
import { threadEntry } from '../../thread-entry.js';

/**
 * HNSW indexes kept in a background thread. Inserting a key into a large graph is bound by memory latency (here
 * ~40 µs per key at 4k keys, 130–230 µs at 1M), and kNN attention inserts every token's key; inline, that cost
 * lands on the decode step that evicts the tokens, and grows with the context. In the thread, insertions run
 * while the model computes, and a search blocks only until the insertions sent before it are done.
 *
 *   caller:  add ─┐  add ─┐  …forward steps…   search ──wait──▶ labels
 *   thread:       └─ insert ─ insert ───────────────┘ search ──┘
 *
 * Messages are handled strictly in order, so each index sees the same insertions in the same order as an inline
 * HnswIndex would (same seed): the graph, and so every search result, is identical. A search answers through a
 * MessagePort read synchronously (receiveMessageOnPort) after Atomics.wait on a shared ticket counter, so the
 * synchronous attention step needs no event-loop turn.
 */
export class HnswThread {
  private readonly worker: Worker;
  private readonly replies: MessagePort;
  private readonly signal: Int32Array;
  private ticket = 0;
  private nextIndex = 0;
  private closed = false;

  constructor() {
    const signal = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
    const { port1, port2 } = new MessageChannel();
    this.signal = new Int32Array(signal);
    this.replies = port1;
    const { filename, argv } = threadEntry(import.meta.url, 'hnsw-thread-entry');
    this.worker = new Worker(filename, { argv, workerData: { signal, replies: port2 } satisfies IndexThreadData, transferList: [port2] });
    // Neither keeps the process alive: a model nobody disposed must not hang the exit.
    this.worker.unref();
    this.replies.unref();
  }

  createIndex(dimensions: number, options: RetrievalIndexOptions): RetrievalIndex {
    const index = this.nextIndex++;
    this.send({ op: 'create', index, dimensions, options });
    return new BackgroundHnswIndex(this, index, dimensions);
  }

  /** Queue a message; nothing waits for it. */
  send(message: ToIndexThread, transfer: ArrayBuffer[] = []): void {
    if (this.closed) throw new EngineError('the retrieval index thread was closed', 'do not use a model after dispose()');
    this.worker.postMessage(message, transfer);
  }

  /** Send a message that is answered, and block until the answer (every earlier message is handled by then). */
  ask(message: ToIndexThread & { ticket: number }): FromIndexThread {
    this.send(message);
    const ticket = message.ticket;
    for (;;) {
      const answered = Atomics.load(this.signal, SIGNAL.answered);
      if (answered >= ticket) break;
      if (Atomics.load(this.signal, SIGNAL.stopped) === 1) throw new EngineError('the retrieval index thread stopped', 'rerun; if it repeats, run with --attention-opts indexing=inline and report the error it prints');
      Atomics.wait(this.signal, SIGNAL.answered, answered, 1000);
    }
    // The answer is queued on the port before the counter moves; read it without an event-loop turn.
    let reply = receiveMessageOnPort(this.replies);
    while (!reply) {
      Atomics.wait(this.signal, SIGNAL.stopped, 0, 1);
      reply = receiveMessageOnPort(this.replies);
    }
    const answer = reply.message as FromIndexThread;
    if (answer.ticket !== ticket) throw new EngineError(`the retrieval index thread answered request ${answer.ticket} instead of ${ticket}`, 'report this bug');
    if ('error' in answer) throw new EngineError(`the retrieval index failed: ${answer.error}`, 'report this bug with the attention options used');
    return answer;
  }

  /** Forget an index (a no-op once the thread is closed). */
  drop(index: number): void {
    if (!this.closed) this.send({ op: 'drop', index });
  }

  nextTicket(): number {
    return ++this.ticket;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.replies.close();
    void this.worker.terminate();
  }
}

/** One index in the thread. `size` is tracked here, so reading it never waits. */
class BackgroundHnswIndex implements RetrievalIndex {
  size = 0;

  constructor(
    private readonly thread: HnswThread,
    private readonly index: number,
    private readonly dimensions: number,
  ) {}

  addRows(rows: Float32Array, count: number): void {
    const copy = rows.slice(0, count * this.dimensions);
    this.thread.send({ op: 'add', index: this.index, rows: copy, count }, [copy.buffer]);
    this.size += count;
  }

  search(query: Float32Array, k: number, below?: number): number[] {
    const answer = this.thread.ask({ op: 'search', index: this.index, ticket: this.thread.nextTicket(), query: query.slice(0, this.dimensions), k, below });
    return 'labels' in answer ? answer.labels : [];
  }

  recall(query: Float32Array, k: number): number {
    const answer = this.thread.ask({ op: 'recall', index: this.index, ticket: this.thread.nextTicket(), query: query.slice(0, this.dimensions), k });
    return 'recall' in answer ? answer.recall : 0;
  }

  close(): void {
    this.thread.drop(this.index);
  }
}
