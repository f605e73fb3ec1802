import { describe, expect, it } from 'vitest';
import {
  IncrementalDecoder,
  SeededRandom,
  StopStringMatcher,
  argmax,
  createSampler,
  entropyAt,
  logSoftmaxAt,
  scoreFromLogits,
  validateSamplingOptions,
} from '../../inference/generation/index.js';
import { TomeError } from '../../src/errors.js';

function softmax(logits: readonly number[], temperature = 1): number[] {
  const max = logits.reduce((largest, value) => Math.max(largest, value), -Infinity);
  const exps = logits.map((value) => Math.exp((value - max) / temperature));
  const total = exps.reduce((sum, value) => sum + value, 0);
  return exps.map((value) => value / total);
}

function frequencies(sample: (logits: Float32Array) => number, logits: Float32Array, draws: number): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let draw = 0; draw < draws; draw++) counts[sample(logits)]!++;
  return counts.map((count) => count / draws);
}

function randomLogits(size: number, seed: number, scale = 3): Float32Array {
  const random = new SeededRandom(seed);
  return Float32Array.from({ length: size }, () => (random.next() - 0.5) * 2 * scale);
}

describe('SeededRandom', () => {
  it('is deterministic per seed, differs across seeds, and stays in [0, 1)', () => {
    const take = (seed: number): number[] => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 1000 }, () => random.next());
    };
    expect(take(42)).toEqual(take(42));
    expect(take(42)).not.toEqual(take(43));
    expect(take(2 ** 40)).not.toEqual(take(0));
    const values = take(7);
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });
});

describe('createSampler', () => {
  it('is greedy at temperature 0 or undefined, the lowest id winning ties', () => {
    const logits = Float32Array.from([1, 5, 2, 5, -3]);
    expect(createSampler({})(logits)).toBe(1);
    expect(createSampler({ temperature: 0, topK: 3, topP: 0.5 })(logits)).toBe(1);
    expect(argmax(logits)).toBe(1);
    expect(argmax(Float32Array.from([-Infinity, -Infinity]))).toBe(0);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const logits = randomLogits(1000, 1, 1);
    const run = (seed: number): number[] => {
      const sample = createSampler({ temperature: 1, seed });
      return Array.from({ length: 200 }, () => sample(logits));
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });

  it('top-k = 1 and a tiny top-p both equal greedy', () => {
    for (let seed = 0; seed < 20; seed++) {
      const logits = randomLogits(5000, seed);
      logits[4000] = logits[argmax(logits)]!; // a tie: the lower id must win
      const greedy = argmax(logits);
      expect(createSampler({ temperature: 1.5, topK: 1, seed })(logits)).toBe(greedy);
      expect(createSampler({ temperature: 1.5, topP: 1e-9, seed })(logits)).toBe(greedy);
    }
  });

  it('draws from softmax(logits / T) over a 5-token vocabulary', () => {
    const logits = Float32Array.from([1.2, -0.3, 0.5, 2.0, 0.0]);
    for (const temperature of [0.7, 1, 2]) {
      const observed = frequencies(createSampler({ temperature, seed: 11 }), logits, 20_000);
      const expected = softmax([...logits], temperature);
      for (let id = 0; id < 5; id++) expect(Math.abs(observed[id]! - expected[id]!)).toBeLessThan(0.01);
    }
  });

  it('top-k restricts the support to the k most likely tokens, renormalized', () => {
    const logits = Float32Array.from([1.2, -0.3, 0.5, 2.0, 0.0]);
    const observed = frequencies(createSampler({ temperature: 1, topK: 2, seed: 3 }), logits, 20_000);
    const expected = softmax([1.2, 2.0]);
    expect(observed[1]).toBe(0);
    expect(observed[2]).toBe(0);
    expect(observed[4]).toBe(0);
    expect(Math.abs(observed[0]! - expected[0]!)).toBeLessThan(0.01);
    expect(Math.abs(observed[3]! - expected[1]!)).toBeLessThan(0.01);
  });

  it('top-p keeps the smallest most-likely-first set reaching p, renormalized', () => {
    const probabilities = [0.06, 0.3, 0.5, 0.04, 0.1];
    const logits = Float32Array.from(probabilities.map(Math.log));
    // sorted: 0.5 (id 2), 0.3 (id 1) → 0.8 ≥ 0.75: the nucleus is {2, 1}
    const observed = frequencies(createSampler({ temperature: 1, topP: 0.75, seed: 9 }), logits, 20_000);
    expect(observed[0]! + observed[3]! + observed[4]!).toBe(0);
    expect(Math.abs(observed[2]! - 0.625)).toBeLessThan(0.01);
    expect(Math.abs(observed[1]! - 0.375)).toBeLessThan(0.01);
  });

  it('top-p over equal logits keeps the lowest ids needed to reach p', () => {
    const logits = new Float32Array(10).fill(2);
    const observed = frequencies(createSampler({ temperature: 1, topP: 0.35, seed: 4 }), logits, 20_000);
    // 3 tokens reach 0.3 < 0.35, 4 reach 0.4: the nucleus is ids 0..3, uniform
    for (let id = 0; id < 10; id++) expect(Math.abs(observed[id]! - (id < 4 ? 0.25 : 0))).toBeLessThan(0.01);
  });

  it('on a 152k vocabulary, top-k and top-p only ever pick tokens of the exact sorted nucleus', () => {
    const vocab = 152_064;
    const logits = randomLogits(vocab, 21, 8);
    const sorted = Array.from({ length: vocab }, (_, id) => id).sort((a, b) => logits[b]! - logits[a]! || a - b);
    const top50 = new Set(sorted.slice(0, 50));
    const weights = softmax(sorted.map((id) => logits[id]!), 0.8);
    let cumulative = 0;
    const nucleus = new Set<number>();
    for (let rank = 0; cumulative < 0.9; rank++) {
      nucleus.add(sorted[rank]!);
      cumulative += weights[rank]!;
    }
    const topK = createSampler({ temperature: 0.8, topK: 50, seed: 1 });
    const topP = createSampler({ temperature: 0.8, topP: 0.9, seed: 1 });
    const both = createSampler({ temperature: 0.8, topK: 50, topP: 0.9, seed: 1 });
    const seen = new Set<number>();
    for (let draw = 0; draw < 100; draw++) {
      expect(top50.has(topK(logits))).toBe(true);
      const token = topP(logits);
      expect(nucleus.has(token)).toBe(true);
      seen.add(token);
      expect(top50.has(both(logits))).toBe(true);
    }
    expect(seen.size).toBeGreaterThan(5);
  });

  it('rejects invalid options with an InvalidOptionError naming the option', () => {
    const cases: [Record<string, number>, string][] = [
      [{ temperature: -0.1 }, 'temperature'],
      [{ temperature: Number.NaN }, 'temperature'],
      [{ topK: -1 }, 'topK'],
      [{ topK: 1.5 }, 'topK'],
      [{ topP: 0 }, 'topP'],
      [{ topP: 1.01 }, 'topP'],
      [{ maxTokens: 0 }, 'maxTokens'],
      [{ seed: Number.POSITIVE_INFINITY }, 'seed'],
    ];
    for (const [options, option] of cases) {
      let caught: unknown;
      try {
        createSampler(options);
      } catch (error) {
        caught = error;
      }
      expect(TomeError.is(caught), option).toBe(true);
      expect((caught as TomeError).code).toBe('INVALID_OPTION');
      expect((caught as Error).message.startsWith(`${option} =`)).toBe(true);
    }
    expect(() => validateSamplingOptions({ temperature: 0, topK: 0, topP: 1, maxTokens: 1, seed: 3 })).not.toThrow();
  });
});

describe('log-probs', () => {
  it('logSoftmaxAt and entropyAt match a direct computation', () => {
    const rows = [[0.5, -1, 2, 0.1], [3, 3, 3, 3]];
    const logits = Float32Array.from(rows.flat());
    for (const [row, values] of rows.entries()) {
      const probabilities = softmax(values.map(Math.fround));
      for (let token = 0; token < 4; token++) {
        expect(logSoftmaxAt(logits, row * 4, 4, token)).toBeCloseTo(Math.log(probabilities[token]!), 12);
      }
      const entropy = -probabilities.reduce((sum, p) => sum + p * Math.log(p), 0);
      expect(entropyAt(logits, row * 4, 4)).toBeCloseTo(entropy, 12);
    }
    expect(entropyAt(logits, 4, 4)).toBeCloseTo(Math.log(4), 12);
  });

  it('is stable for huge logits and -Infinity entries', () => {
    const logits = Float32Array.from([1e4, 1e4 - 1, -1e4, -Infinity]);
    const expected = softmax([0, -1, -2e4]);
    expect(logSoftmaxAt(logits, 0, 4, 0)).toBeCloseTo(Math.log(expected[0]!), 10);
    expect(logSoftmaxAt(logits, 0, 4, 3)).toBe(-Infinity);
    const entropy = entropyAt(logits, 0, 4);
    expect(Number.isNaN(entropy)).toBe(false);
    expect(entropy).toBeCloseTo(-expected.slice(0, 2).reduce((sum, p) => sum + p * Math.log(p), 0), 10);
    expect(entropyAt(Float32Array.from([1e4, 0]), 0, 2)).toBeCloseTo(0, 10);
  });

  it('scoreFromLogits reads row firstRow + i for token i', () => {
    const vocab = 3;
    const logits = Float32Array.from([9, 9, 9, 0, 1, 2, 2, 1, 0]);
    const { logProbs, entropies } = scoreFromLogits(logits, vocab, [2, 0], 1);
    expect(logProbs[0]).toBeCloseTo(logSoftmaxAt(logits, 3, vocab, 2), 12);
    expect(logProbs[1]).toBeCloseTo(logSoftmaxAt(logits, 6, vocab, 0), 12);
    expect(entropies).toEqual([entropyAt(logits, 3, vocab), entropyAt(logits, 6, vocab)]);
    expect(() => scoreFromLogits(logits, vocab, [0, 0, 0], 1)).toThrow(/firstRow/);
    expect(() => scoreFromLogits(logits, vocab, [3])).toThrow(/tokenId/);
  });
});

/** Pushes every delta and collects what is emitted, then flushes. */
function runMatcher(stops: string[], deltas: string[]): { text: string; stopped: boolean; emits: string[] } {
  const matcher = new StopStringMatcher(stops);
  const emits: string[] = [];
  let stopped = false;
  for (const delta of deltas) {
    const result = matcher.push(delta);
    emits.push(result.emit);
    stopped ||= result.stopped;
  }
  emits.push(matcher.flush());
  return { text: emits.join(''), stopped, emits };
}

describe('StopStringMatcher', () => {
  it('finds a stop string split over three deltas and emits the text before it', () => {
    const result = runMatcher(['</answer>'], ['The answer is 4.</an', 'sw', 'er> trailing']);
    expect(result).toEqual({ text: 'The answer is 4.', stopped: true, emits: ['The answer is 4.', '', '', ''] });
  });

  it('emits at once what cannot start a stop string and holds only a possible prefix', () => {
    const matcher = new StopStringMatcher(['STOP']);
    expect(matcher.push('hello S')).toEqual({ emit: 'hello ', stopped: false });
    expect(matcher.push('T')).toEqual({ emit: '', stopped: false });
    expect(matcher.push('ART')).toEqual({ emit: 'START', stopped: false });
    expect(matcher.push('!')).toEqual({ emit: '!', stopped: false });
    expect(matcher.flush()).toBe('');
  });

  it('stops at the earliest of overlapping candidates', () => {
    expect(runMatcher(['ab', 'bc'], ['abc'])).toMatchObject({ text: '', stopped: true });
    expect(runMatcher(['bc', 'ab'], ['xa', 'bc'])).toMatchObject({ text: 'x', stopped: true });
    expect(runMatcher(['abcd', 'bc'], ['ab', 'c'])).toMatchObject({ text: 'a', stopped: true });
  });

  it('releases held text on flush when no stop string completed', () => {
    const result = runMatcher(['<|end|>'], ['done <|e', 'n']);
    expect(result).toEqual({ text: 'done <|en', stopped: false, emits: ['done ', '', '<|en'] });
    expect(runMatcher([], ['a', 'b'])).toEqual({ text: 'ab', stopped: false, emits: ['a', 'b', ''] });
    expect(runMatcher([''], ['a'])).toMatchObject({ text: 'a', stopped: false });
  });

  it('emits nothing after a stop', () => {
    const matcher = new StopStringMatcher(['x']);
    expect(matcher.push('axb')).toEqual({ emit: 'a', stopped: true });
    expect(matcher.push('more')).toEqual({ emit: '', stopped: true });
    expect(matcher.stopped).toBe(true);
    expect(matcher.flush()).toBe('');
  });
});

describe('IncrementalDecoder', () => {
  // a fake byte-level vocabulary: each id is a byte sequence; decoding concatenates and decodes UTF-8
  const encoder = new TextEncoder();
  const emoji = encoder.encode('😀'); // 4 bytes
  const vocabulary: Uint8Array[] = [
    encoder.encode('Hi '), // 0
    emoji.slice(0, 1), // 1
    emoji.slice(1, 3), // 2
    emoji.slice(3), // 3
    encoder.encode('!'), // 4
    encoder.encode(' é'), // 5
  ];
  const calls: number[][] = [];
  const decode = (ids: number[]): string => {
    calls.push([...ids]);
    const bytes = ids.flatMap((id) => [...vocabulary[id]!]);
    return new TextDecoder().decode(Uint8Array.from(bytes));
  };

  it('holds a multi-byte character split across tokens until it completes', () => {
    const decoder = new IncrementalDecoder(decode);
    const deltas = [0, 1, 2, 3, 4, 5].map((id) => decoder.push(id));
    expect(deltas).toEqual(['Hi ', '', '', '😀', '!', ' é']);
    expect(decoder.flush()).toBe('');
  });

  it('decodes a short window of recent ids, not everything generated', () => {
    calls.length = 0;
    const decoder = new IncrementalDecoder(decode);
    let text = '';
    for (let step = 0; step < 200; step++) text += decoder.push(step % 2 === 0 ? 0 : 4);
    expect(text).toBe('Hi !'.repeat(100));
    expect(Math.max(...calls.map((ids) => ids.length))).toBeLessThanOrEqual(2);
  });

  it('uses context ids as left context and flushes an incomplete tail', () => {
    const decoder = new IncrementalDecoder(decode, [0, 0, 4]);
    expect(decoder.push(1)).toBe('');
    expect(decoder.flush()).toBe('\uFFFD');
  });
});
