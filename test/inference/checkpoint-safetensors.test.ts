import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  openSafetensors,
  writeSafetensors,
} from '../../inference/checkpoint/safetensors.js';
import { expectLoadError, tempDir, values } from './checkpoint-helpers.js';

/** The float32 whose bit pattern is `bits`. */
const fromBits = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0]!;

describe('float16 conversion', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [65504, 0x7bff], // largest finite half
    [65519, 0x7bff], // just below the rounding midpoint to infinity
    [65520, 0x7c00], // the midpoint rounds to even: infinity
    [1e6, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [-0, 0x8000],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -25, 0x0000], // half the smallest subnormal: tie, rounds to even (zero)
    [1.5 * 2 ** -25, 0x0001], // above the tie
    [3 * 2 ** -25, 0x0002], // 1.5 subnormal units: tie, rounds to even (2)
    [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01: even
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02: even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above a tie
    [2 ** -30, 0x0000], // underflow
  ])('%d → %i', (value, bits) => {
    expect(float32ToFloat16(value)).toBe(bits);
  });

  it('keeps NaN a NaN', () => {
    const bits = float32ToFloat16(NaN);
    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x3ff).not.toBe(0);
    expect(float16ToFloat32(bits)).toBeNaN();
  });

  it.each([
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('%i → %d', (bits, value) => {
    expect(float16ToFloat32(bits)).toBe(value);
  });

  it('decodes -0 and NaN', () => {
    expect(Object.is(float16ToFloat32(0x8000), -0)).toBe(true);
    expect(float16ToFloat32(0x7e00)).toBeNaN();
  });

  it('round-trips every finite half exactly', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits += 1) {
      if ((bits & 0x7c00) !== 0x7c00 && float32ToFloat16(float16ToFloat32(bits)) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });
});

describe('bfloat16 conversion', () => {
  it.each([
    [0x3f800000, 0x3f80], // 1
    [0x40490fdb, 0x4049], // pi: remainder below half, truncates
    [0x3f808000, 0x3f80], // tie, lsb 0: stays
    [0x3f818000, 0x3f82], // tie, lsb 1: rounds up to even
    [0x3f808001, 0x3f81], // above the tie
    [0x7f7fffff, 0x7f80], // float32 max rounds to infinity
    [0x7f800000, 0x7f80], // +inf
    [0xff800000, 0xff80], // -inf
    [0x80000000, 0x8000], // -0
    [0x00000001, 0x0000], // tiny subnormal
    [0x00018000, 0x0002], // subnormal tie, lsb 1: up
    [0x00008000, 0x0000], // subnormal tie, lsb 0: down
  ])('bits %i → %i', (bits, expected) => {
    expect(float32ToBfloat16(fromBits(bits))).toBe(expected);
  });

  it('keeps NaN a NaN (never rounding it into infinity)', () => {
    const bits = float32ToBfloat16(fromBits(0x7f800001));
    expect(bits & 0x7f80).toBe(0x7f80);
    expect(bits & 0x7f).not.toBe(0);
    expect(bfloat16ToFloat32(bits)).toBeNaN();
  });

  it('decodes known patterns', () => {
    expect(bfloat16ToFloat32(0x3f80)).toBe(1);
    expect(bfloat16ToFloat32(0xc000)).toBe(-2);
    expect(bfloat16ToFloat32(0x4049)).toBe(3.140625);
    expect(bfloat16ToFloat32(0x7f80)).toBe(Infinity);
    expect(bfloat16ToFloat32(0xff80)).toBe(-Infinity);
    expect(bfloat16ToFloat32(0x0001)).toBe(fromBits(0x00010000));
  });
});

describe('safetensors round trip', () => {
  it('writes and reads F32 exactly, F16/BF16 rounded, with metadata and an 8-byte aligned header', async () => {
    const path = join(tempDir(), 'model.safetensors');
    const a = values(6 * 5, 7);
    const b = values(33, 8);
    const c = new Float32Array([1, -2, 0.1, 65520, Infinity, 2 ** -24, 1 + 2 ** -11, NaN]);
    await writeSafetensors(
      path,
      { 'w.f32': { dtype: 'F32', shape: [6, 5], data: a }, 'w.f16': { dtype: 'F16', shape: [3, 11], data: b }, 'w.bf16': { dtype: 'BF16', shape: [8], data: c }, scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) } },
      { format: 'pt' },
    );
    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header['w.f16']).toEqual({ dtype: 'F16', shape: [3, 11], data_offsets: [120, 186] });
    // The BF16 data is the little-endian bit patterns.
    const bf16Start = 8 + headerLength + header['w.bf16'].data_offsets[0];
    expect(bytes.readUInt16LE(bf16Start)).toBe(0x3f80);
    expect(bytes.readUInt16LE(bf16Start + 2)).toBe(0xc000);

    const file = await openSafetensors(path);
    try {
      expect(file.names).toEqual(['w.f32', 'w.f16', 'w.bf16', 'scalar']);
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(file.entry('w.f16')).toMatchObject({ dtype: 'F16', shape: [3, 11], byteLength: 66 });
      expect(file.float32('w.f32')).toEqual(a);
      expect(file.float32('w.f16')).toEqual(Float32Array.from(b, (v) => float16ToFloat32(float32ToFloat16(v))));
      expect(Array.from(file.float32('w.bf16'))).toEqual(Array.from(c, (v) => bfloat16ToFloat32(float32ToBfloat16(v))));
      expect(file.float32('scalar')).toEqual(new Float32Array([42]));
      await expectLoadError(() => file.entry('nope'), 'MODEL_WEIGHTS_MISMATCH', path, '[nope]');
    } finally {
      await file.close();
    }
  });

  it('refuses data whose length disagrees with the shape', async () => {
    const path = join(tempDir(), 'bad.safetensors');
    await expectLoadError(writeSafetensors(path, { t: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }), 'MODEL_WEIGHTS_MISMATCH', path, '[t]', 'shape [2, 2]');
  });
});

/** A safetensors file with a hand-made header (object or raw text) and `dataBytes` bytes of data. */
function rawFile(header: unknown, dataBytes: number, headerLength?: bigint): string {
  const path = join(tempDir(), 'model.safetensors');
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  writeFileSync(path, Buffer.concat([prefix, json, Buffer.alloc(dataBytes)]));
  return path;
}

describe('malformed safetensors', () => {
  it('truncated file: names the tensor that runs past the end', async () => {
    const path = join(tempDir(), 'model.safetensors');
    await writeSafetensors(path, { first: { dtype: 'F32', shape: [4], data: values(4) }, last: { dtype: 'F32', shape: [16], data: values(16) } });
    truncateSync(path, readFileSync(path).length - 10);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[last]', 'run past the end of the file');
  });

  it('file shorter than the header length field', async () => {
    const path = join(tempDir(), 'tiny.safetensors');
    writeFileSync(path, Buffer.from([1, 2, 3]));
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[header length]');
  });

  it('header length larger than the file', async () => {
    const path = rawFile({}, 0, 1n << 40n);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[header length]', 'exceeds');
  });

  it('header that is not JSON', async () => {
    const path = rawFile('{"t": {"dtype": "F32", ', 0);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[header]', 'not valid JSON');
  });

  it('header that is JSON but not an object', async () => {
    const path = rawFile('[1, 2]', 0);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[header]', 'not a JSON object');
  });

  it('offsets beyond the end of the data', async () => {
    const path = rawFile({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[t]', 'data_offsets [0, 16]', 'holds only 8 bytes');
  });

  it('overlapping tensors', async () => {
    const path = rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[b]', 'overlap');
  });

  it('a hole between tensors', async () => {
    const path = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[b]', 'gap');
  });

  it('begin after end, or not a pair', async () => {
    const reversed = rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, 8);
    await expectLoadError(openSafetensors(reversed), 'MODEL_FILE_INVALID', reversed, '[a]', 'data_offsets');
    const single = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4] } }, 8);
    await expectLoadError(openSafetensors(single), 'MODEL_FILE_INVALID', single, '[a]', 'data_offsets');
  });

  it('unsupported dtype names the tensor and the dtype', async () => {
    const path = rawFile({ 'model.embed_tokens.weight': { dtype: 'I8', shape: [4], data_offsets: [0, 4] } }, 4);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[model.embed_tokens.weight]', 'dtype I8 is not supported');
  });

  it('byte length that disagrees with shape × dtype size', async () => {
    const path = rawFile({ t: { dtype: 'BF16', shape: [3], data_offsets: [0, 8] } }, 8);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[t]', 'needs 6');
  });

  it('a shape that is not a list of counts', async () => {
    const path = rawFile({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4);
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_INVALID', path, '[t]', 'shape');
  });

  it('a file that does not exist', async () => {
    const path = join(tempDir(), 'absent.safetensors');
    await expectLoadError(openSafetensors(path), 'MODEL_FILE_MISSING', path);
  });
});
