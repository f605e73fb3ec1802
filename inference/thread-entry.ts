import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** How to start one of the engine's worker threads: the file to run and the argv it gets. */
export interface ThreadEntry {
  filename: string;
  argv: string[];
}

/**
 * The thread running module `name` (a sibling of the module at `moduleUrl`). A built install runs the compiled
 * `name.js` itself. From the TypeScript sources (tests, `tsx`) worker threads do not inherit the tsx loader, so the
 * thread starts in tsx-thread.mjs, which registers it and imports `name.ts` (handed over as the thread's last argv).
 */
export function threadEntry(moduleUrl: string, name: string): ThreadEntry {
  const built = fileURLToPath(new URL(`./${name}.js`, moduleUrl));
  if (existsSync(built)) return { filename: built, argv: [] };
  return { filename: fileURLToPath(new URL('./tsx-thread.mjs', import.meta.url)), argv: [fileURLToPath(new URL(`./${name}.ts`, moduleUrl))] };
}
