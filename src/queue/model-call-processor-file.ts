import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** How a sandbox thread learns which model to serve (worker threads get their own environment). */
export const THREAD_MODEL_ENV = 'TOME_WORKER_MODEL';
export const THREAD_CONTEXT_WINDOW_ENV = 'TOME_WORKER_CONTEXT_WINDOW';
export const THREAD_PLUGINS_ENV = 'TOME_WORKER_PLUGINS';

/**
 * Path of the sandboxed processor module: the built .js next to this file, or — running from the TypeScript
 * sources — a small .mjs entry that registers tsx in the thread first.
 */
export function modelCallProcessorFile(): string {
  const built = fileURLToPath(new URL('./model-call-processor.js', import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL('./model-call-processor-source.mjs', import.meta.url));
}
