import { InvalidOptionError, PipelineRegistryError } from '../errors.js';
import type { DocumentInput, Pipeline, PipelineSettings } from './pipeline.js';

/**
 * Builds a pipeline from the shared settings plus free-form options (`tome run <name> <file> --option key=value`
 * hands them over as strings; parse and validate them in the factory).
 */
export type PipelineFactory = (settings: PipelineSettings, options: Readonly<Record<string, string>>) => Pipeline<DocumentInput, unknown>;

export interface RegisteredPipeline {
  readonly name: string;
  readonly description: string;
  readonly create: PipelineFactory;
}

const registry = new Map<string, RegisteredPipeline>();

/**
 * Make a pipeline runnable by name from the CLI (`tome run <name>`) and, later, from queue workers.
 * @throws PipelineRegistryError PIPELINE_EXISTS when the name is taken (pass `{ replace: true }` to override).
 */
export function registerPipeline(name: string, description: string, create: PipelineFactory, options: { replace?: boolean } = {}): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new InvalidOptionError('pipeline name', name, 'lowercase letters, digits and dashes, starting with a letter or digit');
  }
  if (registry.has(name) && !options.replace) {
    throw new PipelineRegistryError('PIPELINE_EXISTS', `a pipeline named "${name}" is already registered`, 'choose another name, or pass { replace: true }');
  }
  registry.set(name, { name, description, create });
}

/** @throws PipelineRegistryError PIPELINE_NOT_FOUND, listing the names that exist. */
export function getPipeline(name: string): RegisteredPipeline {
  const found = registry.get(name);
  if (!found) {
    const known = [...registry.keys()].sort().join(', ') || '(none)';
    throw new PipelineRegistryError('PIPELINE_NOT_FOUND', `no pipeline named "${name}"`, `use one of: ${known}, or load yours with --plugin <module>`);
  }
  return found;
}

export function listPipelines(): RegisteredPipeline[] {
  return [...registry.values()].sort((a, b) => a.name.localeCompare(b.name));
}
