import { Worker } from 'node:worker_threads';
import { AbortedError, EngineError } from '../../src/errors.js';
import type { ChatMessage } from '../checkpoint/types.js';
import type { EngineInfo, GenerateRequest, GenerateResult, LocalEngine, ScoreResult } from './engine-contract.js';
import { threadEntry } from '../thread-entry.js';
import { reviveError } from '../thread-errors.js';
import type { FromWorker, ToWorker, WorkerCall, WorkerStartData } from './worker-protocol.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onText?: (delta: string) => void;
}

/**
 * A {@link LocalEngine} whose model runs in a worker thread. Calls queue in the worker (one sequence, one KV
 * memory); aborting a call raises a flag in shared memory that the worker checks between decode steps.
 */
export class WorkerEngine implements LocalEngine {
  private readonly pending = new Map<number, Pending>();
  private readonly stopFlags = new WeakMap<AbortSignal, SharedArrayBuffer>();
  private nextId = 1;
  private exited: Error | null = null;
  /** Set by the first dispose(): later calls are refused, and the worker stays referenced until it has exited. */
  private disposing: Promise<void> | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly info: EngineInfo,
  ) {
    worker.on('message', (message: FromWorker) => this.receive(message));
    worker.on('error', (error) => this.fail(new EngineError(`the engine thread crashed: ${error.message}`, 'rerun; if it repeats, run with --threads 1 and report the model\'s config.json', error)));
    worker.on('exit', (code) => this.fail(new EngineError(`the engine thread exited (code ${code})`, 'open the engine again')));
    worker.unref();
  }

  /** Start a worker thread, load the checkpoint there, and resolve once it is ready (or reject with its load error). */
  static open(directory: string, options: WorkerStartData['options'] = {}): Promise<WorkerEngine> {
    const { filename, argv } = threadEntry(import.meta.url, 'engine-worker');
    const worker = new Worker(filename, { argv, workerData: { directory, options } satisfies WorkerStartData });
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        if (message.type === 'ready') resolve(new WorkerEngine(worker, message.info));
        else if (message.type === 'load-failed') reject(reviveError(message.error));
        else reject(new EngineError(`unexpected first message from the engine thread: ${message.type}`, 'report this bug'));
      };
      const onError = (error: Error) => reject(new EngineError(`the engine thread failed to start: ${error.message}`, 'check that onnxruntime-node is installed (npm install)', error));
      // A thread that dies before saying anything (out of memory while loading) must not leave open() pending.
      const onExit = (code: number) => reject(new EngineError(`the engine thread exited (code ${code}) while loading ${directory}`, 'check free memory for the checkpoint size; rerun with TOME_DEBUG=1'));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.once('exit', onExit);
      const settled = () => worker.off('exit', onExit);
      worker.once('message', settled);
    });
  }

  countTokens(text: string): Promise<number> {
    return this.call({ method: 'countTokens', text }) as Promise<number>;
  }

  formatChat(messages: readonly ChatMessage[]): Promise<string> {
    return this.call({ method: 'formatChat', messages }) as Promise<string>;
  }

  generate(request: GenerateRequest): Promise<GenerateResult> {
    const { signal, onText, ...serializable } = request;
    return this.call({ method: 'generate', request: serializable, streamText: onText !== undefined }, signal, onText) as Promise<GenerateResult>;
  }

  score(context: string, continuation: string, options: { signal?: AbortSignal } = {}): Promise<ScoreResult> {
    return this.call({ method: 'score', context, continuation }, options.signal) as Promise<ScoreResult>;
  }

  embed(texts: readonly string[], options: { signal?: AbortSignal } = {}): Promise<number[][]> {
    return this.call({ method: 'embed', texts }, options.signal) as Promise<number[][]>;
  }

  dispose(): Promise<void> {
    if (this.exited) return Promise.resolve();
    this.disposing ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      // Referenced until the exit: a call settling in the meantime must not unref it, or a process with nothing
      // else to do would end with this promise unsettled.
      this.worker.ref();
      this.worker.postMessage({ type: 'dispose' } satisfies ToWorker);
    });
    return this.disposing;
  }

  private call(call: WorkerCall, signal?: AbortSignal, onText?: (delta: string) => void): Promise<unknown> {
    if (this.disposing) return Promise.reject(new EngineError('the engine was disposed', 'open the engine again'));
    if (this.exited) return Promise.reject(this.exited);
    if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason));
    const id = this.nextId++;
    const stopFlag = signal ? this.stopFlagFor(signal) : new SharedArrayBuffer(4);
    return new Promise((resolve, reject) => {
      const settle = () => {
        this.pending.delete(id);
        if (this.pending.size === 0 && !this.disposing) this.worker.unref();
      };
      this.pending.set(id, {
        resolve: (value) => (settle(), resolve(value)),
        reject: (error) => (settle(), reject(error)),
        ...(onText ? { onText } : {}),
      });
      // Keep the process alive while a call is in flight, not while the engine merely exists.
      this.worker.ref();
      this.worker.postMessage({ type: 'call', id, call, stopFlag } satisfies ToWorker);
    });
  }

  /**
   * One shared stop flag (and one abort listener) per signal, however many calls use it: a pipeline fanning out
   * dozens of calls under one run signal would otherwise pile a listener per call onto it.
   */
  private stopFlagFor(signal: AbortSignal): SharedArrayBuffer {
    let flag = this.stopFlags.get(signal);
    if (!flag) {
      const created = new SharedArrayBuffer(4);
      signal.addEventListener('abort', () => Atomics.store(new Int32Array(created), 0, 1), { once: true });
      this.stopFlags.set(signal, created);
      flag = created;
    }
    return flag;
  }

  private receive(message: FromWorker): void {
    if (message.type === 'text') this.pending.get(message.id)?.onText?.(message.delta);
    else if (message.type === 'result') this.pending.get(message.id)?.resolve(message.value);
    else if (message.type === 'failure') this.pending.get(message.id)?.reject(reviveError(message.error));
  }

  private fail(error: Error): void {
    this.exited ??= error;
    for (const pending of [...this.pending.values()]) pending.reject(error);
  }
}
