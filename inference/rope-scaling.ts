import { ModelLoadError } from '../src/errors.js';
import type { LlamaConfig } from './checkpoint/types.js';

/**
 * RoPE frequencies for every `rope_scaling` type Hugging Face transformers knows (default, linear, ntk, dynamic,
 * yarn, longrope, llama3), computed from a config.json object the way `modeling_rope_utils` does, so a checkpoint
 * runs here with the positions it was trained (or extended) for. Facts and formulas: docs/DESIGN.md, "RoPE scaling".
 *
 * Two types depend on how long the sequence is: `dynamic` (NTK base grows past the trained length) and `longrope`
 * (short factors up to the original length, long factors beyond). {@link RopeSchedule} tracks that; the engine
 * re-rotates its cached keys when the frequencies change, since it stores keys un-rotated.
 */
export interface RopeParameters {
  /** [rotaryDim / 2] inverse frequencies. */
  inverseFrequencies: Float32Array;
  /** Multiplies cos and sin (YaRN / LongRoPE's attention scaling); 1 for plain RoPE. */
  attentionFactor: number;
}

export const ROPE_TYPES = ['default', 'linear', 'ntk', 'dynamic', 'yarn', 'longrope', 'llama3'] as const;
export type RopeType = (typeof ROPE_TYPES)[number];

/** The config.json fields RoPE reads (snake_case, as Hugging Face writes them). */
export interface HfRopeConfig {
  rope_theta?: number;
  head_dim?: number | null;
  hidden_size?: number;
  num_attention_heads?: number;
  partial_rotary_factor?: number;
  max_position_embeddings?: number;
  /** Phi-3 style: the pre-extension length, outside rope_scaling. */
  original_max_position_embeddings?: number;
  rope_scaling?: Record<string, unknown> | null;
}

/** What every rope type needs, resolved once from either a config.json object or our normalized LlamaConfig. */
interface RopeSettings {
  base: number;
  dim: number;
  maxPositions: number;
  /** Top-level original_max_position_embeddings (Phi-3 style), if any. */
  topLevelOriginal: number | undefined;
  scaling: Record<string, unknown> | null;
}

export interface ComputeRopeOptions {
  /** Current sequence length (dynamic and longrope depend on it); default: none given, as at HF init time. */
  seqLen?: number;
}

/** `(inverse frequencies, attention factor)` for a config, like HF's `ROPE_INIT_FUNCTIONS[rope_type](config, seq_len)`. */
export function computeRope(config: HfRopeConfig | LlamaConfig, options: ComputeRopeOptions = {}): RopeParameters {
  const settings = ropeSettings(config);
  const type = ropeTypeOf(settings.scaling);
  validateRopeScaling(config);
  const { base, dim } = settings;
  const scaling = settings.scaling ?? {};
  const factor = typeof scaling['factor'] === 'number' ? scaling['factor'] : 1;
  switch (type) {
    case 'default':
      return { inverseFrequencies: defaultFrequencies(base, dim), attentionFactor: 1 };
    case 'linear':
      return { inverseFrequencies: defaultFrequencies(base, dim).map((value) => value / factor), attentionFactor: 1 };
    case 'ntk':
      return { inverseFrequencies: defaultFrequencies(base * factor ** (dim / (dim - 2)), dim), attentionFactor: 1 };
    case 'dynamic': {
      // The NTK base grows with the sequence once it passes the trained length (and only then).
      const trained = settings.maxPositions;
      const seqLen = options.seqLen !== undefined && options.seqLen > trained ? options.seqLen : trained;
      const grownBase = base * ((factor * seqLen) / trained - (factor - 1)) ** (dim / (dim - 2));
      return { inverseFrequencies: defaultFrequencies(grownBase, dim), attentionFactor: 1 };
    }
    case 'yarn':
      return yarn(settings, scaling, factor);
    case 'longrope':
      return longrope(settings, scaling, options.seqLen);
    case 'llama3':
      return llama3(settings, scaling, factor);
  }
}

/** 1 / base^(i/dim) for i = 0, 2, …, dim − 2. */
function defaultFrequencies(base: number, dim: number): Float32Array {
  const frequencies = new Float32Array(dim / 2);
  for (let pair = 0; pair < dim / 2; pair++) frequencies[pair] = 1 / base ** ((2 * pair) / dim);
  return frequencies;
}

/**
 * YaRN: high-frequency pairs (many rotations inside the trained length) are kept, low-frequency pairs are
 * interpolated by `factor`, with a linear ramp between the dimensions where beta_fast and beta_slow rotations fit.
 */
function yarn(settings: RopeSettings, scaling: Record<string, unknown>, configFactor: number): RopeParameters {
  const { base, dim } = settings;
  let factor = configFactor;
  let original = settings.maxPositions;
  // DeepSeek-V3 style: max_position_embeddings was already extended; the ratio to the original is the factor.
  if (typeof scaling['original_max_position_embeddings'] === 'number') {
    original = scaling['original_max_position_embeddings'];
    factor = settings.maxPositions / original;
  }
  const mscale = (scale: number, weight = 1) => (scale <= 1 ? 1 : 0.1 * weight * Math.log(scale) + 1);
  let attentionFactor = numberOr(scaling['attention_factor'], undefined);
  if (attentionFactor === undefined) {
    const weight = numberOr(scaling['mscale'], undefined);
    const allDims = numberOr(scaling['mscale_all_dim'], undefined);
    attentionFactor = weight && allDims ? mscale(factor, weight) / mscale(factor, allDims) : mscale(factor);
  }
  const betaFast = numberOr(scaling['beta_fast'], undefined) || 32;
  const betaSlow = numberOr(scaling['beta_slow'], undefined) || 1;
  const truncate = scaling['truncate'] !== false;
  // Dimension at which a pair makes `rotations` full turns over the original length.
  const correctionDim = (rotations: number) => (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // as HF: avoid a zero-width ramp
  const extrapolated = defaultFrequencies(base, dim);
  const frequencies = new Float32Array(dim / 2);
  for (let pair = 0; pair < dim / 2; pair++) {
    const ramp = Math.min(1, Math.max(0, (pair - low) / (high - low)));
    const keep = 1 - ramp; // share of the un-scaled (extrapolated) frequency
    frequencies[pair] = (extrapolated[pair]! / factor) * (1 - keep) + extrapolated[pair]! * keep;
  }
  return { inverseFrequencies: frequencies, attentionFactor };
}

/** LongRoPE: per-pair rescale factors, the short set up to the original length and the long set beyond it. */
function longrope(settings: RopeSettings, scaling: Record<string, unknown>, seqLen: number | undefined): RopeParameters {
  const { base, dim } = settings;
  let original: number;
  let factor: number;
  if (settings.topLevelOriginal !== undefined) {
    original = settings.topLevelOriginal;
    factor = settings.maxPositions / original;
  } else {
    original = typeof scaling['original_max_position_embeddings'] === 'number' ? scaling['original_max_position_embeddings'] : settings.maxPositions;
    factor = numberOr(scaling['factor'], 1)!;
  }
  let attentionFactor = numberOr(scaling['attention_factor'], undefined);
  if (attentionFactor === undefined) attentionFactor = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  const useLong = seqLen !== undefined && seqLen > original;
  const rescale = (useLong ? scaling['long_factor'] : scaling['short_factor']) as number[];
  const defaults = defaultFrequencies(base, dim);
  return { inverseFrequencies: defaults.map((value, pair) => value / rescale[pair]!), attentionFactor };
}

/** Llama 3.1: long wavelengths divided by `factor`, short ones kept, a smooth blend in between. */
function llama3(settings: RopeSettings, scaling: Record<string, unknown>, factor: number): RopeParameters {
  const low = scaling['low_freq_factor'] as number;
  const high = scaling['high_freq_factor'] as number;
  const original = scaling['original_max_position_embeddings'] as number;
  const lowFrequencyWavelength = original / low;
  const highFrequencyWavelength = original / high;
  const frequencies = defaultFrequencies(settings.base, settings.dim).map((frequency) => {
    const wavelength = (2 * Math.PI) / frequency;
    if (wavelength < highFrequencyWavelength) return frequency;
    if (wavelength > lowFrequencyWavelength) return frequency / factor;
    const smooth = (original / wavelength - low) / (high - low);
    return (1 - smooth) * (frequency / factor) + smooth * frequency;
  });
  return { inverseFrequencies: frequencies, attentionFactor: 1 };
}

function numberOr<T extends number | undefined>(value: unknown, fallback: T): number | T {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function isLlamaConfig(config: HfRopeConfig | LlamaConfig): config is LlamaConfig {
  return 'ropeTheta' in config;
}

function ropeSettings(config: HfRopeConfig | LlamaConfig): RopeSettings {
  if (isLlamaConfig(config)) {
    return {
      base: config.ropeTheta,
      dim: Math.floor(config.headDim * config.partialRotaryFactor),
      maxPositions: config.maxPositionEmbeddings,
      topLevelOriginal: config.originalMaxPositionEmbeddings ?? undefined,
      scaling: config.ropeScaling,
    };
  }
  const headDim = config.head_dim ?? (config.hidden_size !== undefined && config.num_attention_heads ? config.hidden_size / config.num_attention_heads : undefined);
  if (headDim === undefined || !Number.isFinite(headDim)) throw ropeError('head_dim', 'is missing and cannot be derived (no hidden_size / num_attention_heads)', 'add head_dim to config.json');
  return {
    base: config.rope_theta ?? 10000,
    dim: Math.floor(headDim * (config.partial_rotary_factor ?? 1)),
    maxPositions: config.max_position_embeddings ?? 2048,
    topLevelOriginal: config.original_max_position_embeddings,
    scaling: config.rope_scaling ?? null,
  };
}

/** `rope_type`, or the legacy `type` (older configs), or default. */
export function ropeTypeOf(scaling: Record<string, unknown> | null): RopeType {
  if (scaling === null) return 'default';
  const type = scaling['rope_type'] ?? scaling['type'] ?? 'default';
  if (typeof type !== 'string' || !(ROPE_TYPES as readonly string[]).includes(type)) {
    throw ropeError('rope_scaling.rope_type', `is ${JSON.stringify(type)}, which is not a RoPE type`, `use one of ${ROPE_TYPES.join(', ')}`);
  }
  return type as RopeType;
}

const REQUIRED_KEYS: Record<RopeType, readonly string[]> = {
  default: [],
  linear: ['factor'],
  ntk: ['factor'],
  dynamic: ['factor'],
  yarn: ['factor'],
  longrope: ['short_factor', 'long_factor'],
  llama3: ['factor', 'original_max_position_embeddings', 'low_freq_factor', 'high_freq_factor'],
};

const OPTIONAL_KEYS: Record<RopeType, readonly string[]> = {
  default: [],
  linear: [],
  ntk: [],
  dynamic: ['original_max_position_embeddings'],
  yarn: ['attention_factor', 'beta_fast', 'beta_slow', 'original_max_position_embeddings', 'mscale', 'mscale_all_dim', 'truncate'],
  longrope: ['attention_factor', 'factor', 'original_max_position_embeddings'],
  llama3: [],
};

/**
 * Checks `rope_scaling` the way HF's `rope_config_validation` does. What HF rejects (a missing required key) and
 * what would make the numbers meaningless (a non-number factor, factor lists of the wrong length, beta_fast below
 * beta_slow, llama3's high ≤ low) throw a ModelLoadError naming the field; what HF only warns about (unknown keys,
 * an original length not below max_position_embeddings) is returned as warnings.
 */
export function validateRopeScaling(config: HfRopeConfig | LlamaConfig): string[] {
  const settings = ropeSettings(config);
  const scaling = settings.scaling;
  const type = ropeTypeOf(scaling);
  if (scaling === null || type === 'default') return [];
  const keys = new Set(Object.keys(scaling).map((key) => (key === 'type' ? 'rope_type' : key)));
  const missing = REQUIRED_KEYS[type].filter((key) => !keys.has(key));
  if (missing.length > 0) throw ropeError(`rope_scaling.${missing[0]}`, `is required for rope_type "${type}" (missing: ${missing.join(', ')})`, `add ${missing.join(', ')} to rope_scaling`);
  const warnings: string[] = [];
  const known = new Set(['rope_type', ...REQUIRED_KEYS[type], ...OPTIONAL_KEYS[type]]);
  const unknown = [...keys].filter((key) => !known.has(key));
  if (unknown.length > 0) warnings.push(`rope_scaling has keys that rope_type "${type}" does not use: ${unknown.join(', ')}`);
  const requireNumber = (key: string, minimum?: number) => {
    const value = scaling[key];
    if (value === undefined || value === null) return;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw ropeError(`rope_scaling.${key}`, `must be a number, got ${JSON.stringify(value)}`, `set ${key} to a number`);
    if (minimum !== undefined && value < minimum) throw ropeError(`rope_scaling.${key}`, `must be ≥ ${minimum}, got ${value}`, `set ${key} to at least ${minimum}`);
  };
  if (type !== 'longrope') requireNumber('factor', 1);
  else if (settings.topLevelOriginal === undefined) requireNumber('factor', 1);
  requireNumber('attention_factor', 0);
  requireNumber('beta_fast');
  requireNumber('beta_slow');
  if ((numberOr(scaling['beta_fast'], undefined) || 32) < (numberOr(scaling['beta_slow'], undefined) || 1)) {
    throw ropeError('rope_scaling.beta_fast', `must be greater than beta_slow (got beta_fast=${String(scaling['beta_fast'] ?? 32)}, beta_slow=${String(scaling['beta_slow'] ?? 1)})`, 'swap them or use the defaults 32 / 1');
  }
  if (type === 'longrope') {
    for (const key of ['short_factor', 'long_factor']) {
      const list = scaling[key];
      if (!Array.isArray(list) || !list.every((value) => typeof value === 'number' && Number.isFinite(value))) throw ropeError(`rope_scaling.${key}`, 'must be a list of numbers', `give ${key} as [${settings.dim / 2} numbers]`);
      if (list.length !== settings.dim / 2) throw ropeError(`rope_scaling.${key}`, `must have ${settings.dim / 2} entries (rotary dim / 2), got ${list.length}`, `give ${key} as ${settings.dim / 2} numbers`);
    }
  }
  if (type === 'llama3') {
    requireNumber('low_freq_factor');
    requireNumber('high_freq_factor');
    requireNumber('original_max_position_embeddings', 1);
    if ((scaling['high_freq_factor'] as number) <= (scaling['low_freq_factor'] as number)) {
      throw ropeError('rope_scaling.high_freq_factor', `must be greater than low_freq_factor (got ${String(scaling['high_freq_factor'])} ≤ ${String(scaling['low_freq_factor'])})`, 'use e.g. low_freq_factor 1, high_freq_factor 4');
    }
    if ((scaling['original_max_position_embeddings'] as number) >= settings.maxPositions) {
      warnings.push(`rope_scaling.original_max_position_embeddings (${String(scaling['original_max_position_embeddings'])}) is not below max_position_embeddings (${settings.maxPositions})`);
    }
  }
  return warnings;
}

/** The length the checkpoint was trained on: the original length of a RoPE extension, else max_position_embeddings. */
export function trainedContextLength(config: LlamaConfig): number {
  const original = config.ropeScaling?.['original_max_position_embeddings'];
  if (typeof original === 'number' && original > 0) return Math.min(original, config.maxPositionEmbeddings);
  if (config.originalMaxPositionEmbeddings) return Math.min(config.originalMaxPositionEmbeddings, config.maxPositionEmbeddings);
  return config.maxPositionEmbeddings;
}

/**
 * `--rope TYPE:FACTOR[,key=value…]` (e.g. `yarn:4`, `dynamic:2`, `llama3:8,high_freq_factor=8`) applied to a
 * config: the checkpoint's own trained length becomes the original one, so the model reads FACTOR× further.
 * `default` removes any scaling; `longrope` needs per-dimension factor lists and only comes from config.json.
 */
export function applyRopeOverride(config: LlamaConfig, override: string): LlamaConfig {
  const [head, ...extras] = override.split(',');
  const [typeText, factorText] = (head ?? '').split(':');
  const type = typeText?.trim() ?? '';
  if (!(ROPE_TYPES as readonly string[]).includes(type)) throw ropeError('--rope', `"${override}" names no RoPE type`, `use TYPE:FACTOR with TYPE one of ${ROPE_TYPES.filter((name) => name !== 'longrope').join(', ')}, e.g. yarn:4`);
  if (type === 'default') return { ...config, ropeScaling: null };
  if (type === 'longrope') throw ropeError('--rope', 'longrope needs short_factor and long_factor lists', 'put rope_scaling with rope_type "longrope" in config.json instead');
  const factor = Number(factorText);
  if (!Number.isFinite(factor) || factor < 1) throw ropeError('--rope', `"${override}" needs a factor ≥ 1 after the colon`, `e.g. ${type}:4`);
  const trained = trainedContextLength(config);
  const scaling: Record<string, unknown> = { rope_type: type, factor };
  let maxPositionEmbeddings = config.maxPositionEmbeddings;
  if (type === 'llama3') {
    Object.assign(scaling, { low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: trained });
    maxPositionEmbeddings = Math.round(trained * factor);
  }
  for (const extra of extras) {
    const [key, value] = extra.split('=');
    if (!key || value === undefined) throw ropeError('--rope', `"${extra}" is not key=value`, 'write extra parameters as key=value, e.g. yarn:4,beta_fast=16');
    scaling[key.trim()] = value === 'true' ? true : value === 'false' ? false : Number(value);
  }
  const overridden: LlamaConfig = { ...config, ropeScaling: scaling, maxPositionEmbeddings, originalMaxPositionEmbeddings: null };
  validateRopeScaling(overridden);
  return overridden;
}

function ropeError(field: string, problem: string, fix: string): ModelLoadError {
  return new ModelLoadError('MODEL_CONFIG_INVALID', 'config.json', field, problem, fix);
}

/**
 * The RoPE parameters for the current sequence length. Static types compute once; `dynamic` changes whenever the
 * sequence grows past the trained length, `longrope` once when it crosses the original length.
 */
export class RopeSchedule {
  private readonly type: RopeType;
  private current: RopeParameters;
  private currentLength: number;

  constructor(
    private readonly config: LlamaConfig,
    /** A fixed override (tests, callers with their own frequencies): never changes. */
    fixed?: RopeParameters,
  ) {
    this.type = fixed ? 'default' : ropeTypeOf(config.ropeScaling);
    this.current = fixed ?? computeRope(config);
    this.currentLength = 0;
  }

  /** Whether the parameters can change with the length. */
  get lengthDependent(): boolean {
    return this.type === 'dynamic' || this.type === 'longrope';
  }

  /** Parameters for a sequence of `seqLen` tokens; the same object as long as nothing changes. */
  forLength(seqLen: number): RopeParameters {
    if (!this.lengthDependent || seqLen === this.currentLength) return this.current;
    const next = computeRope(this.config, { seqLen });
    this.currentLength = seqLen;
    if (!sameParameters(next, this.current)) this.current = next;
    return this.current;
  }
}

function sameParameters(a: RopeParameters, b: RopeParameters): boolean {
  if (a.attentionFactor !== b.attentionFactor || a.inverseFrequencies.length !== b.inverseFrequencies.length) return false;
  return a.inverseFrequencies.every((value, index) => value === b.inverseFrequencies[index]);
}
