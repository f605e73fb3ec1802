import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { PipelineRegistryError } from './errors.js';

/**
 * Import modules that register pipelines (`registerPipeline(...)` at import time). TypeScript modules load
 * through tsx, so `tome run mine book.txt --plugin ./my-pipelines.ts` works without a build step.
 */
export async function loadPlugins(specifiers: readonly string[]): Promise<void> {
  if (specifiers.some((specifier) => /\.[cm]?tsx?$/.test(specifier))) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  for (const specifier of specifiers) {
    const path = resolve(specifier);
    const target = existsSync(path) ? pathToFileURL(path).href : specifier;
    try {
      await import(target);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      throw new PipelineRegistryError('PLUGIN_LOAD_FAILED', `plugin ${specifier} failed to load: ${reason}`, 'check the module path (relative to the current directory) and that it imports tome by name', cause);
    }
  }
}
