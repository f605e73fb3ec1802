import { InvalidOptionError, ModelSpecError } from '../src/errors.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { resolveModel, type ResolveModelOptions } from '../src/models/model-spec.js';

/**
 * Model-level settings of one grid method, e.g. `{ attention: 'blocks', rope: 'yarn:4' }` from
 * `truncate@attention=blocks+rope=yarn:4`. Two keys every model takes are applied here: `window` (the context
 * window in tokens) and `temperature`. Every other key is an engine setting, handed to the resolver registered for
 * the spec's prefix (see {@link registerEngineSettings}).
 */
export type ModelSettings = Readonly<Record<string, string>>;

/**
 * Opens `<prefix>:<rest>` with engine settings. It must throw a {@link ModelSpecError} (or another TomeError) for a
 * setting its engine does not take, so the grid records the cell as failed instead of silently ignoring it.
 */
export type EngineSettingsResolver = (rest: string, settings: ModelSettings, options: ResolveModelOptions) => Promise<ModelHandle>;

const engineResolvers = new Map<string, EngineSettingsResolver>();

/**
 * The hook through which model-level variants reach an engine: the CLI registers one for `onnx:` (the local
 * engine's attention modes and RoPE scaling); tests register fakes. Later registrations replace earlier ones.
 */
export function registerEngineSettings(prefix: string, resolver: EngineSettingsResolver): void {
  engineResolvers.set(prefix, resolver);
}

/** Split off the settings every model takes (`window`, `temperature`) from the engine's own. */
export function splitModelSettings(settings: ModelSettings): { options: ResolveModelOptions; engine: ModelSettings } {
  const options: ResolveModelOptions = {};
  const engine: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'window') {
      const window = Number(value);
      if (!Number.isInteger(window) || window < 256) throw new InvalidOptionError('window', value, 'a whole number of tokens, at least 256 (e.g. truncate@window=32768)');
      options.contextWindow = window;
    } else if (key === 'temperature') {
      const temperature = Number(value);
      if (value.trim() === '' || !Number.isFinite(temperature) || temperature < 0) throw new InvalidOptionError('temperature', value, 'a number ≥ 0');
      options.temperature = temperature;
    } else engine[key] = value;
  }
  return { options, engine };
}

/**
 * `resolveModel` with model-level settings: without engine settings it is plain `resolveModel`; with them the
 * spec's prefix must have a resolver.
 * @throws ModelSpecError MODEL_SPEC_INVALID when the model takes no engine settings.
 */
export async function resolveModelWithSettings(spec: string, settings: ModelSettings, base: ResolveModelOptions = {}): Promise<ModelHandle> {
  const { options, engine } = splitModelSettings(settings);
  const merged = { ...base, ...options };
  const keys = Object.keys(engine);
  if (keys.length === 0) return resolveModel(spec, merged);
  const separator = spec.indexOf(':');
  const resolver = separator > 0 ? engineResolvers.get(spec.slice(0, separator)) : undefined;
  if (!resolver) {
    throw new ModelSpecError('MODEL_SPEC_INVALID', spec, `takes no engine settings (${keys.map((key) => `${key}=${engine[key]}`).join(', ')})`, 'engine settings such as attention= and rope= apply to local onnx: models; give them only with --model onnx:<dir>');
  }
  return resolver(spec.slice(separator + 1), engine, merged);
}

/** Canonical text of settings (sorted keys), for cache keys and labels. */
export function settingsKey(settings: ModelSettings): string {
  return Object.keys(settings)
    .sort()
    .map((key) => `${key}=${settings[key]}`)
    .join('+');
}
