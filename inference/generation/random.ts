/**
 * A small seeded pseudo-random generator (xoshiro128**, seeded through splitmix32): the same seed gives the same
 * sequence on every run and platform, which makes sampled generations reproducible.
 */
import { InvalidOptionError } from '../../src/errors.js';

const TWO_TO_THE_32 = 4294967296;

/** splitmix32 step: a well-mixed 32-bit value from a 32-bit counter (used only to seed the main generator). */
function splitmix32(state: number): number {
  let z = (state + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

/** Deterministic xoshiro128** generator. Not for cryptography. */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** @param seed any finite number (default 0); integers up to 2^53 all give distinct streams. */
  constructor(seed = 0) {
    if (!Number.isFinite(seed)) throw new InvalidOptionError('seed', seed, 'a finite number');
    const integer = Math.trunc(seed);
    const low = integer >>> 0;
    const high = Math.floor(integer / TWO_TO_THE_32) >>> 0;
    let state = low ^ splitmix32(high ^ 0x5bd1e995);
    const nextSeed = (): number => {
      state = (state + 0x9e3779b9) | 0;
      return splitmix32(state);
    };
    this.a = nextSeed();
    this.b = nextSeed();
    this.c = nextSeed();
    this.d = nextSeed();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // the all-zero state would stay zero forever
  }

  /**
   * A generator started from four explicit state words (callers with their own seeding scheme, e.g. fixtures seeded
   * per tensor name). An all-zero state is nudged, as xoshiro cannot leave it.
   */
  static fromState(words: readonly [number, number, number, number]): SeededRandom {
    const random = new SeededRandom(0);
    [random.a, random.b, random.c, random.d] = words.map((word) => word >>> 0) as [number, number, number, number];
    if ((random.a | random.b | random.c | random.d) === 0) random.a = 1;
    return random;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.b, 5), 7), 9) >>> 0;
    const shifted = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= shifted;
    this.d = rotateLeft(this.d, 11);
    return result;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.nextUint32() / TWO_TO_THE_32;
  }
}
