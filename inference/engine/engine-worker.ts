import { parentPort, workerData } from 'node:worker_threads';
import { OnnxEngine, type StopControl } from './onnx-engine.js';
import { serializeError } from '../thread-errors.js';
import type { FromWorker, ToWorker, WorkerCall, WorkerStartData } from './worker-protocol.js';

/**
 * The engine's worker thread: session.run blocks whatever thread calls it, so the model lives here and the main
 * thread (CLI, queue worker renewing its locks) stays responsive. A stop request arrives as a flag in shared
 * memory, readable between decode steps without waiting for this thread's event loop.
 */
const port = parentPort!;
const start = workerData as WorkerStartData;
const send = (message: FromWorker) => port.postMessage(message);

async function handle(engine: OnnxEngine, id: number, call: WorkerCall, control: StopControl): Promise<unknown> {
  switch (call.method) {
    case 'generate':
      return engine.doGenerate({ ...call.request, ...(call.streamText ? { onText: (delta: string) => send({ type: 'text', id, delta }) } : {}) }, control);
    case 'score':
      return engine.doScore(call.context, call.continuation, control);
    case 'embed':
      return engine.doEmbed(call.texts, control);
    case 'countTokens':
      return engine.countTokens(call.text);
    case 'formatChat':
      return engine.formatChat(call.messages);
  }
}

let engine: OnnxEngine;
try {
  engine = await OnnxEngine.open(start.directory, start.options);
  send({ type: 'ready', info: engine.info });
} catch (error) {
  send({ type: 'load-failed', error: serializeError(error) });
  process.exit(0);
}

// One request at a time: the KV memory belongs to one sequence.
let queue: Promise<void> = Promise.resolve();
port.on('message', (message: ToWorker) => {
  if (message.type === 'dispose') {
    queue = queue.then(async () => {
      await engine.dispose();
      send({ type: 'disposed' });
      port.close();
    });
    return;
  }
  const flag = new Int32Array(message.stopFlag);
  const control: StopControl = { shouldStop: () => Atomics.load(flag, 0) === 1, yieldBetweenSteps: false };
  queue = queue.then(async () => {
    try {
      send({ type: 'result', id: message.id, value: await handle(engine, message.id, message.call, control) });
    } catch (error) {
      send({ type: 'failure', id: message.id, error: serializeError(error) });
    }
  });
});
