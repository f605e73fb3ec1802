/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a
 * JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian data. Only the float
 * dtypes a Llama checkpoint uses (F32, F16, BF16) are read; everything is handed out as Float32Array.
 *
 * Typed arrays are used as little-endian views of the file bytes, which holds on every platform Node 20 ships for.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { ModelLoadError } from '../../src/errors.js';
import type { SafetensorsDtype, TensorToWrite } from './types.js';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** The reference implementation refuses headers over 100 MB; a larger length means a corrupt or foreign file. */
const MAX_HEADER_BYTES = 100_000_000;
/** Elements converted per step, so a 2 GB tensor never needs a second full-size scratch buffer. */
const CHUNK_ELEMENTS = 1 << 22;
/** Node refuses single reads over 2 GiB - 1; stay well below. */
const MAX_READ_BYTES = 1 << 28;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a number, rounding to nearest even; overflow gives ±inf, NaN stays NaN. */
export function float32ToFloat16(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200 | (mantissa >>> 13));
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: value = m × 2^-24. Below half the smallest subnormal everything rounds to zero.
    if (e < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    const rounded = (full + (1 << (shift - 1)) - 1 + ((full >>> shift) & 1)) >>> shift;
    return sign | rounded; // a carry into bit 10 is exactly the smallest normal, as it should be
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1; // a carry into 0x7c00 is +inf, correctly
  return sign | half;
}

/** The number an IEEE binary16 bit pattern encodes. */
export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** bfloat16 bits of a number (the top half of its float32 bits), rounding to nearest even; NaN stays NaN. */
export function float32ToBfloat16(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** The number a bfloat16 bit pattern encodes. */
export function bfloat16ToFloat32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

let halfTable: Float32Array | undefined;
/** All 65536 half values, built once: a lookup is several times faster than decoding a 2 GB checkpoint bit by bit. */
function float16Table(): Float32Array {
  if (halfTable === undefined) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i += 1) halfTable[i] = float16ToFloat32(i);
  }
  return halfTable;
}

/**
 * Write tensors in the safetensors format, tensor by tensor (never one file-sized buffer), converting the float32
 * data to each tensor's dtype. Tensors are laid out in the order given.
 * @throws ModelLoadError MODEL_WEIGHTS_MISMATCH when a tensor's data length is not the product of its shape.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    const elements = product(tensor.shape);
    if (elements !== tensor.data.length) {
      throw new ModelLoadError(
        'MODEL_WEIGHTS_MISMATCH',
        path,
        name,
        `shape [${tensor.shape.join(', ')}] holds ${elements} values but ${tensor.data.length} were given`,
        'pass data whose length is the product of the shape',
      );
    }
    const bytes = elements * DTYPE_BYTES[tensor.dtype];
    header[name] = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const padding = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(padding);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));

  const handle = await open(path, 'w');
  try {
    await handle.write(prefix);
    await handle.write(headerBytes);
    for (const tensor of Object.values(tensors)) {
      for (let start = 0; start < tensor.data.length; start += CHUNK_ELEMENTS) {
        const chunk = tensor.data.subarray(start, Math.min(start + CHUNK_ELEMENTS, tensor.data.length));
        await handle.write(encodeChunk(chunk, tensor.dtype));
      }
    }
  } finally {
    await handle.close();
  }
}

function encodeChunk(chunk: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const out = new Uint16Array(chunk.length);
  const convert = dtype === 'F16' ? float32ToFloat16 : float32ToBfloat16;
  for (let i = 0; i < chunk.length; i += 1) out[i] = convert(chunk[i]!);
  return new Uint8Array(out.buffer);
}

/** Where one tensor lives in a safetensors file. */
export interface SafetensorsEntry {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Absolute position of the first byte in the file. */
  readonly position: number;
  readonly byteLength: number;
}

/** An open safetensors file whose header has been validated; tensors are read on demand. */
export interface SafetensorsFile {
  readonly path: string;
  /** Tensor names in header order. */
  readonly names: readonly string[];
  /** `__metadata__` (string → string), empty when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  has(name: string): boolean;
  /** @throws ModelLoadError MODEL_WEIGHTS_MISMATCH when the file has no such tensor. */
  entry(name: string): SafetensorsEntry;
  /** A fresh Float32Array of the tensor's values (F16/BF16 converted), read with positioned reads. */
  float32(name: string): Float32Array;
  close(): Promise<void>;
}

/**
 * Open a safetensors file and validate its header against the file size.
 * @throws ModelLoadError MODEL_FILE_MISSING when it cannot be opened, MODEL_FILE_INVALID when the header is corrupt,
 * a dtype is not F32/F16/BF16, byte ranges overlap, leave gaps or disagree with the shape, or the file is truncated.
 */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw new ModelLoadError('MODEL_FILE_MISSING', path, undefined, 'cannot be opened', 'check that the checkpoint was downloaded completely', cause);
  }
  try {
    const entries = readHeader(fd, path);
    return new OpenSafetensors(path, fd, entries.entries, entries.metadata);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function invalid(path: string, field: string | undefined, problem: string): ModelLoadError {
  return new ModelLoadError('MODEL_FILE_INVALID', path, field, problem, 'download the checkpoint again; the file is corrupt or not a safetensors file');
}

function readHeader(fd: number, path: string): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8) throw invalid(path, 'header length', `file is ${fileSize} bytes, too short to hold the 8-byte header length`);
  const prefix = Buffer.alloc(8);
  readFully(fd, prefix, 0, path, 'header length');
  const headerLength = prefix.readBigUInt64LE();
  if (headerLength > BigInt(fileSize - 8)) {
    throw invalid(path, 'header length', `header length ${headerLength} exceeds the ${fileSize - 8} bytes after it in the file`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw invalid(path, 'header length', `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerBytes = Buffer.alloc(Number(headerLength));
  readFully(fd, headerBytes, 8, path, 'header');
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch (cause) {
    throw invalid(path, 'header', `header is not valid JSON (${(cause as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw invalid(path, 'header', 'header is not a JSON object');

  const dataStart = 8 + Number(headerLength);
  const dataBytes = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const parsed: Array<{ name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }> = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw === 'object' && raw !== null) {
        for (const [key, value] of Object.entries(raw)) if (typeof value === 'string') metadata[key] = value;
      }
      continue;
    }
    parsed.push(parseEntry(path, name, raw));
  }
  // Byte ranges must tile the data section from 0 without overlap or holes, as the reference writer produces.
  const byBegin = [...parsed].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const tensor of byBegin) {
    if (tensor.begin < expected) throw invalid(path, tensor.name, `data_offsets [${tensor.begin}, ${tensor.end}] overlap the previous tensor, which ends at ${expected}`);
    if (tensor.begin > expected) throw invalid(path, tensor.name, `data_offsets [${tensor.begin}, ${tensor.end}] leave a gap after byte ${expected}`);
    if (tensor.end > dataBytes) {
      throw invalid(path, tensor.name, `data_offsets [${tensor.begin}, ${tensor.end}] run past the end of the file: the data section holds only ${dataBytes} bytes (truncated download?)`);
    }
    expected = tensor.end;
  }
  const entries = new Map<string, SafetensorsEntry>();
  for (const tensor of parsed) {
    entries.set(tensor.name, { dtype: tensor.dtype, shape: tensor.shape, position: dataStart + tensor.begin, byteLength: tensor.end - tensor.begin });
  }
  return { entries, metadata };
}

function parseEntry(path: string, name: string, raw: unknown): { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number } {
  if (typeof raw !== 'object' || raw === null) throw invalid(path, name, 'header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') throw invalid(path, name, 'header entry has no dtype');
  if (!(dtype in DTYPE_BYTES)) {
    throw new ModelLoadError(
      'MODEL_FILE_INVALID',
      path,
      name,
      `dtype ${dtype} is not supported (only F32, F16 and BF16 are)`,
      'convert the checkpoint to float16, bfloat16 or float32 safetensors (quantized checkpoints are not supported)',
    );
  }
  const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) throw invalid(path, name, 'shape is not a list of non-negative integers');
  const [begin, end] = Array.isArray(offsets) && offsets.length === 2 ? (offsets as unknown[]) : [];
  if (!isCount(begin) || !isCount(end) || begin > end) {
    throw invalid(path, name, `data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair with begin <= end`);
  }
  const typed = dtype as SafetensorsDtype;
  const expectedBytes = product(shape) * DTYPE_BYTES[typed];
  if (end - begin !== expectedBytes) {
    throw invalid(path, name, `data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expectedBytes}`);
  }
  return { name, dtype: typed, shape, begin, end };
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Fill `target` from `position`, looping over short reads and Node's per-read size limit. */
function readFully(fd: number, target: Uint8Array, position: number, path: string, field: string): void {
  let done = 0;
  while (done < target.length) {
    const length = Math.min(target.length - done, MAX_READ_BYTES);
    const read = readSync(fd, target, done, length, position + done);
    if (read === 0) throw invalid(path, field, `file ends after ${position + done} bytes while reading ${field} (truncated download?)`);
    done += read;
  }
}

class OpenSafetensors implements SafetensorsFile {
  readonly names: readonly string[];
  private closed = false;

  constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly entries: ReadonlyMap<string, SafetensorsEntry>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.names = [...entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): SafetensorsEntry {
    const entry = this.entries.get(name);
    if (entry === undefined) {
      throw new ModelLoadError('MODEL_WEIGHTS_MISMATCH', this.path, name, 'no such tensor in this file', 'use a checkpoint that contains this tensor');
    }
    return entry;
  }

  float32(name: string): Float32Array {
    const entry = this.entry(name);
    if (this.closed) throw invalid(this.path, name, 'file was already closed');
    const count = entry.byteLength / DTYPE_BYTES[entry.dtype];
    const out = new Float32Array(count);
    if (entry.dtype === 'F32') {
      readFully(this.fd, new Uint8Array(out.buffer), entry.position, this.path, name);
      return out;
    }
    // Half-width data is converted in chunks through one scratch buffer instead of a second full-size copy.
    const scratch = new Uint16Array(Math.min(count, CHUNK_ELEMENTS));
    const scratchBytes = new Uint8Array(scratch.buffer);
    const outBits = new Uint32Array(out.buffer);
    const table = entry.dtype === 'F16' ? float16Table() : undefined;
    for (let start = 0; start < count; start += CHUNK_ELEMENTS) {
      const n = Math.min(CHUNK_ELEMENTS, count - start);
      readFully(this.fd, scratchBytes.subarray(0, n * 2), entry.position + start * 2, this.path, name);
      if (table !== undefined) {
        for (let i = 0; i < n; i += 1) out[start + i] = table[scratch[i]!]!;
      } else {
        for (let i = 0; i < n; i += 1) outBits[start + i] = scratch[i]! << 16;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
