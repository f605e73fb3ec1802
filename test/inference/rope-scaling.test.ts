import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/errors.js';
import { applyRopeOverride, computeRope, RopeSchedule, validateRopeScaling, type HfRopeConfig } from '../../inference/rope-scaling.js';
import type { LlamaConfig } from '../../inference/checkpoint/types.js';

/**
 * Expected values ported from Hugging Face transformers' tests/utils/test_modeling_rope_utils.py (LlamaConfig()
 * defaults: hidden 4096, 32 heads → head_dim 128, theta 10000, 2048 positions), with torch.testing's float32
 * tolerances (rtol 1.3e-6, atol 1e-5).
 */
const LLAMA: HfRopeConfig = { hidden_size: 4096, num_attention_heads: 32, rope_theta: 10000, max_position_embeddings: 2048 };

const EXPECTED_DEFAULT = [
  1.0, 8.6596e-1, 7.4989e-1, 6.4938e-1, 5.6234e-1, 4.8697e-1, 4.217e-1, 3.6517e-1, 3.1623e-1, 2.7384e-1, 2.3714e-1, 2.0535e-1, 1.7783e-1, 1.5399e-1, 1.3335e-1, 1.1548e-1,
  1.0e-1, 8.6596e-2, 7.4989e-2, 6.4938e-2, 5.6234e-2, 4.8697e-2, 4.217e-2, 3.6517e-2, 3.1623e-2, 2.7384e-2, 2.3714e-2, 2.0535e-2, 1.7783e-2, 1.5399e-2, 1.3335e-2, 1.1548e-2,
  1.0e-2, 8.6596e-3, 7.4989e-3, 6.4938e-3, 5.6234e-3, 4.8697e-3, 4.217e-3, 3.6517e-3, 3.1623e-3, 2.7384e-3, 2.3714e-3, 2.0535e-3, 1.7783e-3, 1.5399e-3, 1.3335e-3, 1.1548e-3,
  1.0e-3, 8.6596e-4, 7.4989e-4, 6.4938e-4, 5.6234e-4, 4.8697e-4, 4.217e-4, 3.6517e-4, 3.1623e-4, 2.7384e-4, 2.3714e-4, 2.0535e-4, 1.7783e-4, 1.5399e-4, 1.3335e-4, 1.1548e-4,
];
const EXPECTED_DYNAMIC_10_AT_16384 = [
  1.0, 8.0931e-1, 6.5498e-1, 5.3008e-1, 4.29e-1, 3.472e-1, 2.8099e-1, 2.2741e-1, 1.8404e-1, 1.4895e-1, 1.2055e-1, 9.7558e-2, 7.8955e-2, 6.3899e-2, 5.1714e-2, 4.1853e-2,
  3.3872e-2, 2.7413e-2, 2.2185e-2, 1.7955e-2, 1.4531e-2, 1.176e-2, 9.5176e-3, 7.7027e-3, 6.2339e-3, 5.0451e-3, 4.0831e-3, 3.3045e-3, 2.6744e-3, 2.1644e-3, 1.7517e-3, 1.4176e-3,
  1.1473e-3, 9.2852e-4, 7.5146e-4, 6.0817e-4, 4.922e-4, 3.9834e-4, 3.2238e-4, 2.6091e-4, 2.1115e-4, 1.7089e-4, 1.383e-4, 1.1193e-4, 9.0585e-5, 7.3312e-5, 5.9332e-5, 4.8018e-5,
  3.8861e-5, 3.1451e-5, 2.5453e-5, 2.06e-5, 1.6672e-5, 1.3492e-5, 1.092e-5, 8.8374e-6, 7.1522e-6, 5.7883e-6, 4.6845e-6, 3.7912e-6, 3.0683e-6, 2.4832e-6, 2.0097e-6, 1.6265e-6,
];
const EXPECTED_YARN_10 = [
  1.0, 8.6596e-1, 7.4989e-1, 6.4938e-1, 5.6234e-1, 4.8697e-1, 4.217e-1, 3.6517e-1, 3.1623e-1, 2.7384e-1, 2.3714e-1, 2.0535e-1, 1.7783e-1, 1.5399e-1, 1.3335e-1, 1.1548e-1,
  1.0e-1, 8.3479e-2, 6.959e-2, 5.7925e-2, 4.8136e-2, 3.9931e-2, 3.3061e-2, 2.7315e-2, 2.2515e-2, 1.8512e-2, 1.5177e-2, 1.2403e-2, 1.0101e-2, 8.1924e-3, 6.6143e-3, 5.312e-3,
  4.24e-3, 3.3599e-3, 2.6396e-3, 2.052e-3, 1.5746e-3, 1.1882e-3, 8.7713e-4, 6.281e-4, 4.3007e-4, 2.7384e-4, 2.3714e-4, 2.0535e-4, 1.7783e-4, 1.5399e-4, 1.3335e-4, 1.1548e-4,
  1.0e-4, 8.6596e-5, 7.4989e-5, 6.4938e-5, 5.6234e-5, 4.8697e-5, 4.217e-5, 3.6517e-5, 3.1623e-5, 2.7384e-5, 2.3714e-5, 2.0535e-5, 1.7783e-5, 1.5399e-5, 1.3335e-5, 1.1548e-5,
];
const EXPECTED_LLAMA3_10 = [
  1.0, 8.6596e-1, 7.4989e-1, 6.4938e-1, 5.6234e-1, 4.8697e-1, 4.217e-1, 3.6517e-1, 3.1623e-1, 2.7384e-1, 2.3714e-1, 2.0535e-1, 1.7783e-1, 1.5399e-1, 1.3335e-1, 1.1548e-1,
  1.0e-1, 8.6596e-2, 7.4989e-2, 6.4938e-2, 5.6234e-2, 4.8697e-2, 4.217e-2, 3.6517e-2, 3.1623e-2, 2.7384e-2, 2.3714e-2, 2.0535e-2, 1.7783e-2, 1.5399e-2, 1.3335e-2, 1.073e-2,
  7.7785e-3, 5.6009e-3, 3.9991e-3, 2.8248e-3, 1.9675e-3, 1.3449e-3, 8.9549e-4, 5.7363e-4, 3.4539e-4, 2.7384e-4, 2.3714e-4, 2.0535e-4, 1.7783e-4, 1.5399e-4, 1.3335e-4, 1.1548e-4,
  1.0e-4, 8.6596e-5, 7.4989e-5, 6.4938e-5, 5.6234e-5, 4.8697e-5, 4.217e-5, 3.6517e-5, 3.1623e-5, 2.7384e-5, 2.3714e-5, 2.0535e-5, 1.7783e-5, 1.5399e-5, 1.3335e-5, 1.1548e-5,
];

/** torch.testing.assert_close for float32. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1.3e-6, atol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let index = 0; index < expected.length; index++) {
    const difference = Math.abs(actual[index]! - expected[index]!);
    expect(difference, `index ${index}: ${actual[index]} vs ${expected[index]}`).toBeLessThanOrEqual(atol + rtol * Math.abs(expected[index]!));
  }
}

const withScaling = (rope_scaling: Record<string, unknown>, extra: Partial<HfRopeConfig> = {}): HfRopeConfig => ({ ...LLAMA, ...extra, rope_scaling });
const defaults = computeRope(LLAMA).inverseFrequencies;

describe('computeRope matches transformers modeling_rope_utils', () => {
  it('default', () => {
    const rope = computeRope(LLAMA);
    expect(rope.attentionFactor).toBe(1);
    expectClose(rope.inverseFrequencies, EXPECTED_DEFAULT);
  });

  it('linear divides the default frequencies by the factor', () => {
    for (const factor of [2, 10, 20]) {
      const rope = computeRope(withScaling({ rope_type: 'linear', factor }));
      expect(rope.attentionFactor).toBe(1);
      expectClose(rope.inverseFrequencies, Array.from(defaults, (value) => value / factor));
    }
  });

  it('dynamic is plain RoPE up to the trained length and NTK-scaled past it', () => {
    for (const factor of [2, 10, 20]) {
      const config = withScaling({ rope_type: 'dynamic', factor });
      expect(computeRope(config).attentionFactor).toBe(1);
      expectClose(computeRope(config).inverseFrequencies, defaults);
      expectClose(computeRope(config, { seqLen: 1 }).inverseFrequencies, defaults);
    }
    const scaled = computeRope(withScaling({ rope_type: 'dynamic', factor: 10 }), { seqLen: 16384 }).inverseFrequencies;
    expectClose(scaled, EXPECTED_DYNAMIC_10_AT_16384);
    expect(() => expectClose(scaled, Array.from(defaults, (value) => value / 10))).toThrow(); // not linear
  });

  it('ntk scales the base once: base · factor^(d/(d−2))', () => {
    const rope = computeRope(withScaling({ rope_type: 'ntk', factor: 4 }));
    const base = 10000 * 4 ** (128 / 126);
    expectClose(rope.inverseFrequencies, Array.from({ length: 64 }, (_, pair) => 1 / base ** ((2 * pair) / 128)));
  });

  it('yarn: attention factor default, bounds and numeric snapshot', () => {
    for (const factor of [2, 10, 20]) {
      expect(computeRope(withScaling({ rope_type: 'yarn', factor })).attentionFactor).toBe(0.1 * Math.log(factor) + 1);
      expect(computeRope(withScaling({ rope_type: 'yarn', factor, attention_factor: 0.5 }), { seqLen: 1 }).attentionFactor).toBe(0.5);
    }
    const bounded = computeRope(withScaling({ rope_type: 'yarn', factor: 10, beta_fast: 32, beta_slow: 1 })).inverseFrequencies;
    bounded.forEach((value, pair) => {
      expect(value).toBeGreaterThanOrEqual(defaults[pair]! / 10 - 1e-8);
      expect(value).toBeLessThanOrEqual(defaults[pair]! + 1e-8);
    });
    const interpolating = computeRope(withScaling({ rope_type: 'yarn', factor: 10, beta_fast: 1000, beta_slow: 1 })).inverseFrequencies;
    // HF compares in float32, where 1 + 1e-8 is 1: the first pair is exactly extrapolated, every other one scaled.
    expect(interpolating[0]! < Math.fround(defaults[0]! + 1e-8)).toBe(false);
    for (let pair = 1; pair < 64; pair++) expect(interpolating[pair]!).toBeLessThan(Math.fround(defaults[pair]! + 1e-8));
    expectClose(interpolating.slice(-20), Array.from(defaults.slice(-20), (value) => value / 10));
    expectClose(bounded, EXPECTED_YARN_10);
  });

  it('yarn: mscale / mscale_all_dim, original length from rope_scaling, and truncate=false', () => {
    const mscale = (scale: number, weight: number) => 0.1 * weight * Math.log(scale) + 1;
    expect(computeRope(withScaling({ rope_type: 'yarn', factor: 40, mscale: 1, mscale_all_dim: 0.707 })).attentionFactor).toBeCloseTo(mscale(40, 1) / mscale(40, 0.707), 12);
    // DeepSeek-V3 style: the factor is max / original, whatever `factor` says.
    const extended = computeRope(withScaling({ rope_type: 'yarn', factor: 99, original_max_position_embeddings: 512 }));
    expect(extended.attentionFactor).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
    const truncated = computeRope(withScaling({ rope_type: 'yarn', factor: 10 })).inverseFrequencies;
    const smooth = computeRope(withScaling({ rope_type: 'yarn', factor: 10, truncate: false })).inverseFrequencies;
    expect(Array.from(smooth)).not.toEqual(Array.from(truncated));
    smooth.forEach((value, pair) => expect(value).toBeLessThanOrEqual(defaults[pair]! + 1e-8));
  });

  it('longrope: attention factor, short factors up to the original length, long factors past it', () => {
    const short = Array.from({ length: 64 }, () => 2);
    const long = Array.from({ length: 64 }, (_, index) => index + 1);
    for (const factor of [2, 10, 20]) {
      const config = withScaling({ rope_type: 'longrope', factor, short_factor: short, long_factor: long });
      expect(computeRope(config).attentionFactor).toBe(Math.sqrt(1 + Math.log(factor) / Math.log(2048)));
      expect(computeRope(withScaling({ rope_type: 'longrope', factor, short_factor: short, long_factor: long, attention_factor: 0.5 }), { seqLen: 1 }).attentionFactor).toBe(0.5);
      expect(validateRopeScaling(config)).toEqual([]);
    }
    const config = withScaling({ rope_type: 'longrope', factor: 10, short_factor: short, long_factor: long });
    expectClose(computeRope(config, { seqLen: 2048 }).inverseFrequencies, Array.from(defaults, (value, pair) => value / short[pair]!));
    expectClose(computeRope(config, { seqLen: 2049 }).inverseFrequencies, Array.from(defaults, (value, pair) => value / long[pair]!));
    // Phi-3 style: the original length lives at the top level and the factor is max / original.
    const phi = computeRope({ ...LLAMA, max_position_embeddings: 131072, original_max_position_embeddings: 4096, rope_scaling: { rope_type: 'longrope', short_factor: short, long_factor: long } });
    expect(phi.attentionFactor).toBeCloseTo(Math.sqrt(1 + Math.log(32) / Math.log(4096)), 12);
  });

  it('llama3: attention factor 1, bounds, all-scaled with a huge high_freq_factor, numeric snapshot', () => {
    const llama3 = (high_freq_factor: number, factor = 10) => withScaling({ rope_type: 'llama3', factor, original_max_position_embeddings: 2048, low_freq_factor: 1, high_freq_factor }, { max_position_embeddings: 2048 * factor });
    for (const factor of [2, 10, 20]) expect(computeRope(llama3(4, factor)).attentionFactor).toBe(1);
    const bounded = computeRope(llama3(4)).inverseFrequencies;
    bounded.forEach((value, pair) => {
      expect(value).toBeGreaterThanOrEqual(Math.fround(defaults[pair]! / 10) * (1 - 1e-6));
      expect(value).toBeLessThanOrEqual(defaults[pair]!);
    });
    computeRope(llama3(1000)).inverseFrequencies.forEach((value, pair) => expect(value).toBeLessThan(defaults[pair]!));
    expectClose(bounded, EXPECTED_LLAMA3_10);
  });

  it('honours head_dim and partial_rotary_factor', () => {
    expect(computeRope({ ...LLAMA, head_dim: 64 }).inverseFrequencies.length).toBe(32);
    expect(computeRope({ ...LLAMA, partial_rotary_factor: 0.5 }).inverseFrequencies.length).toBe(32);
  });
});

describe('rope_scaling validation (HF rope_config_validation, in our words)', () => {
  const invalid = (rope_scaling: Record<string, unknown>, field: RegExp) => {
    let caught: unknown;
    try {
      computeRope(withScaling(rope_scaling));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ModelLoadError);
    expect(String((caught as Error).message)).toMatch(field);
  };

  it('every non-default type without its required keys is refused, naming the key', () => {
    for (const type of ['linear', 'dynamic', 'ntk', 'yarn', 'llama3']) invalid({ rope_type: type }, /rope_scaling\.factor/);
    invalid({ rope_type: 'longrope' }, /short_factor/);
    invalid({ rope_type: 'llama3', factor: 8 }, /original_max_position_embeddings/);
  });

  it('the legacy "type" key works like rope_type', () => {
    expectClose(computeRope(withScaling({ type: 'linear', factor: 2 })).inverseFrequencies, Array.from(defaults, (value) => value / 2));
  });

  it('bad values are refused; parameters of another type are only warned about', () => {
    invalid({ rope_type: 'sideways', factor: 2 }, /rope_type/);
    invalid({ rope_type: 'linear', factor: 0.5 }, /factor/);
    invalid({ rope_type: 'linear', factor: 'two' }, /factor/);
    invalid({ rope_type: 'yarn', factor: 4, beta_fast: 1, beta_slow: 32 }, /beta_fast/);
    invalid({ rope_type: 'longrope', factor: 2, short_factor: [1, 2], long_factor: [1, 2] }, /short_factor.*64/);
    invalid({ rope_type: 'llama3', factor: 8, original_max_position_embeddings: 1024, low_freq_factor: 4, high_freq_factor: 1 }, /high_freq_factor/);
    expect(validateRopeScaling(withScaling({ rope_type: 'linear', factor: 2, beta_fast: 3 }))[0]).toMatch(/beta_fast/);
    expect(validateRopeScaling(withScaling({ rope_type: 'llama3', factor: 8, original_max_position_embeddings: 4096, low_freq_factor: 1, high_freq_factor: 4 }))[0]).toMatch(/not below max_position_embeddings/);
  });
});

describe('RoPE overrides and schedules', () => {
  const base = { ropeTheta: 10000, headDim: 16, partialRotaryFactor: 1, maxPositionEmbeddings: 256, ropeScaling: null } as unknown as LlamaConfig;

  it('--rope TYPE:FACTOR turns the trained length into the original one', () => {
    expect(applyRopeOverride(base, 'yarn:4').ropeScaling).toEqual({ rope_type: 'yarn', factor: 4 });
    const llama3 = applyRopeOverride(base, 'llama3:8,high_freq_factor=8');
    expect(llama3.ropeScaling).toEqual({ rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 8, original_max_position_embeddings: 256 });
    expect(llama3.maxPositionEmbeddings).toBe(2048);
    expect(applyRopeOverride({ ...base, ropeScaling: { rope_type: 'linear', factor: 2 } }, 'default').ropeScaling).toBeNull();
    for (const bad of ['warp:2', 'yarn', 'yarn:0.5', 'longrope:2', 'yarn:4,beta_fast']) expect(() => applyRopeOverride(base, bad)).toThrow(ModelLoadError);
  });

  it('dynamic changes with every length past the trained one; longrope switches once; static types never', () => {
    const dynamic = new RopeSchedule(applyRopeOverride(base, 'dynamic:4'));
    const atTrained = dynamic.forLength(256);
    expect(dynamic.forLength(100)).toBe(atTrained);
    const past = dynamic.forLength(300);
    expect(past).not.toBe(atTrained);
    expect(past.inverseFrequencies[1]!).toBeLessThan(atTrained.inverseFrequencies[1]!);
    const short = Array.from({ length: 8 }, () => 1);
    const long = Array.from({ length: 8 }, () => 3);
    const longrope = new RopeSchedule({ ...base, ropeScaling: { rope_type: 'longrope', factor: 4, original_max_position_embeddings: 256, short_factor: short, long_factor: long } });
    const before = longrope.forLength(256);
    expect(longrope.forLength(10)).toBe(before);
    expect(longrope.forLength(257).inverseFrequencies[1]).toBeCloseTo(before.inverseFrequencies[1]! / 3, 7);
    const yarn = new RopeSchedule(applyRopeOverride(base, 'yarn:4'));
    expect(yarn.lengthDependent).toBe(false);
    expect(yarn.forLength(100000)).toBe(yarn.forLength(1));
  });
});
