/**
 * Start a tome worker: it serves one model's calls (in worker threads) and runs document jobs, until Ctrl-C.
 * Start as many as you like, on as many machines as you like, against the same Redis.
 *
 *   npx tsx examples/queue-worker.ts [redis-url] [model-spec]
 */
import { resolveModel } from 'tome';
import { TomeWorker } from 'tome/queue';

const [url = 'redis://127.0.0.1:6379', spec = 'extractive'] = process.argv.slice(2);
const model = await resolveModel(spec);
const worker = await TomeWorker.start({ connection: { url }, model, concurrency: 4, threads: {} });
console.log(`worker serving ${model.spec} on ${url}; Ctrl-C to drain and stop`);
process.once('SIGINT', async () => {
  console.log('draining…');
  await worker.close();
  process.exit(0);
});
