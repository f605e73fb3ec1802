/**
 * One tome worker in its own process, for the worker-scaling benchmark in bench/queue.ts:
 *
 *   node --conditions=source --import tsx bench/queue-worker-process.ts <redis url> <prefix> <spec> [concurrency=1]
 *
 * Serves `<spec>` — `bench-fixed:<ms>`, a fake model whose every call takes `<ms>` of setTimeout, or
 * `bench-instant:0`, one that answers at once — takes no document jobs, prints `ready` once it listens, and drains
 * (finishes the calls in flight, then exits) on SIGTERM or SIGINT.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerModelProvider, resolveModel } from '../src/models/model-spec.js';
import { modelHandleFrom } from '../src/models/model-handle.js';
import { TomeWorker } from '../src/queue/tome-worker.js';
import { InstantChatModel } from './instant-chat-model.js';

/** `bench-fixed:<ms>` and `bench-instant:<ms>`: the handle's spec is the full spec, so it matches the call queue. */
export function registerBenchProviders(): void {
  for (const prefix of ['bench-fixed', 'bench-instant']) {
    registerModelProvider(prefix, async (rest) => {
      const latencyMs = Number(rest);
      if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new Error(`${prefix}:<milliseconds> expected, got ${prefix}:${rest}`);
      return modelHandleFrom(new InstantChatModel(latencyMs), { name: `${prefix}:${rest}`, contextWindow: 8192 });
    });
  }
}

async function main(): Promise<void> {
  const [url, prefix, spec, concurrencyArgument = '1'] = process.argv.slice(2);
  if (!url || !prefix || !spec) {
    process.stderr.write('usage: queue-worker-process.ts <redis url> <prefix> <spec> [concurrency]\n');
    process.exit(2);
  }
  registerBenchProviders();
  const model = await resolveModel(spec);
  const worker = await TomeWorker.start({ connection: { url, prefix }, model, concurrency: Number(concurrencyArgument), documents: false });
  let closing = false;
  const drain = () => {
    if (closing) return;
    closing = true;
    worker.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`queue-worker-process: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', drain);
  process.on('SIGINT', drain);
  process.stdout.write('ready\n');
}

// Only when run as a process: bench/queue.ts imports registerBenchProviders from here.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
