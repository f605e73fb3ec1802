import { closeSync, mkdtempSync, openSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Per-layer key/value memory. Keys are stored UN-rotated — the source of truth, so that a later choice of positions
 * (streaming, block retrieval, position remapping, dynamic RoPE) never invalidates what is cached — and, derived
 * from them, rotated at their original positions (what plain attention shows), so that a decode step does not
 * re-rotate the whole context. A policy that shows keys elsewhere rotates the un-rotated ones itself.
 *
 * Layout per layer: [tokens, kvHeads·headDim], row-major, in buffers that grow by doubling, so the common
 * "everything so far" view is a zero-copy subarray.
 *
 * Past the window a policy may *offload* old tokens (all but the first `head` sinks): dropped for good (streaming)
 * or written to an unlinked temporary file and read back on demand (block retrieval on contexts larger than RAM).
 * The buffers then hold tokens [0, head) followed by [base, length):
 *
 *   tokens:  [ head | offloaded ......... | resident ........ ]
 *            0      head                base               length
 *   buffer:  [ head | resident ........ ]
 */
export class LayerKvMemory {
  keys: Float32Array;
  /** keys rotated at their original positions. */
  rotatedKeys: Float32Array;
  values: Float32Array;
  /** Rows written, including rows of a step whose other layers have not run yet. */
  length = 0;
  /** Tokens [head, base) are offloaded; head = base = 0 while nothing is. */
  private head = 0;
  private base = 0;
  private spill: SpillFile | null = null;
  private dropped = false;

  constructor(
    /** kvHeads × headDim. */
    readonly width: number,
    initialCapacity = 256,
  ) {
    this.keys = new Float32Array(initialCapacity * width);
    this.rotatedKeys = new Float32Array(initialCapacity * width);
    this.values = new Float32Array(initialCapacity * width);
  }

  get capacity(): number {
    return this.keys.length / this.width;
  }

  /** Tokens before this one (after the head) are not in RAM. */
  get residentFrom(): number {
    return this.base;
  }

  get offloaded(): boolean {
    return this.base > this.head;
  }

  /** Buffer row of a resident token. */
  private row(token: number): number {
    if (token < this.head) return token;
    if (token >= this.base) return this.head + token - this.base;
    throw new RangeError(`token ${token} is offloaded (resident: [0, ${this.head}) and [${this.base}, ${this.length}))`);
  }

  /**
   * Append `rows` tokens read from a fused projection [rows, stride] (k at column keyOffset, v right after it), and
   * their keys rotated by `rotate` (which receives the un-rotated rows and writes the rotated ones).
   */
  appendFused(projection: Float32Array, rows: number, stride: number, keyOffset: number, rotate: (source: Float32Array, target: Float32Array) => void): void {
    const first = this.head + this.length - this.base;
    this.reserve(first + rows);
    const width = this.width;
    for (let row = 0; row < rows; row++) {
      const from = row * stride + keyOffset;
      this.keys.set(projection.subarray(from, from + width), (first + row) * width);
      this.values.set(projection.subarray(from + width, from + 2 * width), (first + row) * width);
    }
    const span = [first * width, (first + rows) * width] as const;
    rotate(this.keys.subarray(...span), this.rotatedKeys.subarray(...span));
    this.length += rows;
  }

  /** Forget rows from `length` on (the buffers are kept). Cutting into offloaded tokens empties the layer. */
  truncate(length: number): void {
    if (length < this.base && this.offloaded) {
      this.length = 0;
      this.head = 0;
      this.base = 0;
      this.dropped = false;
      this.spill?.close();
      this.spill = null;
      return;
    }
    this.length = Math.min(this.length, length);
  }

  /** Views of rows [0, rows): no copy. Only while nothing is offloaded (full attention never offloads). */
  prefix(rows: number): { keys: Float32Array; rotatedKeys: Float32Array; values: Float32Array } {
    if (this.offloaded) throw new RangeError('prefix() needs every token resident; this layer has offloaded tokens');
    const end = rows * this.width;
    return { keys: this.keys.subarray(0, end), rotatedKeys: this.rotatedKeys.subarray(0, end), values: this.values.subarray(0, end) };
  }

  /** Zero-copy views of resident tokens [start, end) (all before `head`, or all from `base` on). */
  resident(kind: 'keys' | 'rotatedKeys' | 'values', start: number, end: number): Float32Array {
    if (end === start) return this[kind].subarray(0, 0);
    const first = this.row(start);
    if (this.row(end - 1) !== first + (end - 1 - start)) throw new RangeError(`tokens [${start}, ${end}) are not contiguous in memory`);
    return this[kind].subarray(first * this.width, (first + end - start) * this.width);
  }

  /** Copy un-rotated keys and values of tokens [start, start + count) into the targets, from RAM or from disk. */
  readRows(start: number, count: number, keysOut: Float32Array, valuesOut: Float32Array): void {
    const width = this.width;
    if (start >= this.base || start + count <= this.head) {
      keysOut.set(this.resident('keys', start, start + count));
      valuesOut.set(this.resident('values', start, start + count));
      return;
    }
    if (start < this.head || start + count > this.base) {
      for (let offset = 0; offset < count; offset++) this.readRows(start + offset, 1, keysOut.subarray(offset * width), valuesOut.subarray(offset * width));
      return;
    }
    if (!this.spill) throw new RangeError(`tokens [${start}, ${start + count}) were dropped (streaming keeps only the sinks and the window)`);
    this.spill.read(start - this.head, count, keysOut, valuesOut);
  }

  /**
   * Take tokens [head, upTo) out of RAM: `disk` writes them to the spill file first, `drop` forgets them. The first
   * `head` tokens (the sinks) always stay; so do tokens from `upTo` on, which move to the front of the buffers.
   */
  offload(upTo: number, head: number, how: 'disk' | 'drop'): void {
    if (!this.offloaded) {
      if (upTo <= head) return;
      this.head = head;
      this.base = head;
      if (how === 'disk') this.spill = new SpillFile(this.width);
      this.dropped = how === 'drop';
    }
    if (how === 'disk' && this.dropped) throw new RangeError('this layer already dropped tokens; it cannot spill them');
    const end = Math.min(upTo, this.length);
    if (end <= this.base) return;
    const width = this.width;
    const from = this.head;
    const count = end - this.base;
    this.spill?.append(this.base - this.head, this.keys.subarray(from * width, (from + count) * width), this.values.subarray(from * width, (from + count) * width));
    const keep = [(from + count) * width, (this.head + this.length - this.base) * width] as const;
    this.keys.copyWithin(from * width, ...keep);
    this.rotatedKeys.copyWithin(from * width, ...keep);
    this.values.copyWithin(from * width, ...keep);
    this.base = end;
  }

  /** Re-derive the rotated keys of every resident token (`rotate` gets un-rotated rows, target, first token, count). */
  rerotate(rotate: (source: Float32Array, target: Float32Array, firstToken: number, count: number) => void): void {
    const width = this.width;
    const headCount = Math.min(this.head, this.length);
    if (this.offloaded && headCount > 0) rotate(this.keys.subarray(0, headCount * width), this.rotatedKeys.subarray(0, headCount * width), 0, headCount);
    const first = this.offloaded ? this.head : 0;
    const firstToken = this.offloaded ? this.base : 0;
    const count = this.length - firstToken;
    if (count > 0) rotate(this.keys.subarray(first * width, (first + count) * width), this.rotatedKeys.subarray(first * width, (first + count) * width), firstToken, count);
  }

  close(): void {
    this.spill?.close();
    this.spill = null;
  }

  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, this.capacity * 2);
    const used = (this.head + this.length - this.base) * this.width;
    const grow = (buffer: Float32Array) => {
      const grown = new Float32Array(capacity * this.width);
      grown.set(buffer.subarray(0, used));
      return grown;
    };
    this.keys = grow(this.keys);
    this.rotatedKeys = grow(this.rotatedKeys);
    this.values = grow(this.values);
  }
}

/**
 * Offloaded keys and values of one layer on disk: rows of [key | value] float32 at (token − head) × row bytes, in an
 * unlinked temporary file (the OS frees it when the descriptor closes, also on a crash).
 */
class SpillFile {
  private readonly fd: number;
  private readonly rowBytes: number;
  private scratch = new Float32Array(0);

  constructor(private readonly width: number) {
    const directory = mkdtempSync(join(tmpdir(), 'tome-kv-'));
    const path = join(directory, 'layer.kv');
    this.fd = openSync(path, 'w+');
    unlinkSync(path);
    rmdirSync(directory);
    this.rowBytes = 2 * width * 4;
  }

  append(index: number, keys: Float32Array, values: Float32Array): void {
    const rows = keys.length / this.width;
    const interleaved = this.buffer(rows);
    for (let row = 0; row < rows; row++) {
      interleaved.set(keys.subarray(row * this.width, (row + 1) * this.width), row * 2 * this.width);
      interleaved.set(values.subarray(row * this.width, (row + 1) * this.width), (row * 2 + 1) * this.width);
    }
    writeSync(this.fd, new Uint8Array(interleaved.buffer, interleaved.byteOffset, rows * this.rowBytes), 0, rows * this.rowBytes, index * this.rowBytes);
  }

  read(index: number, rows: number, keysOut: Float32Array, valuesOut: Float32Array): void {
    const interleaved = this.buffer(rows);
    readSync(this.fd, new Uint8Array(interleaved.buffer, interleaved.byteOffset, rows * this.rowBytes), 0, rows * this.rowBytes, index * this.rowBytes);
    for (let row = 0; row < rows; row++) {
      keysOut.set(interleaved.subarray(row * 2 * this.width, (row * 2 + 1) * this.width), row * this.width);
      valuesOut.set(interleaved.subarray((row * 2 + 1) * this.width, (row * 2 + 2) * this.width), row * this.width);
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private buffer(rows: number): Float32Array {
    if (this.scratch.length < rows * 2 * this.width) this.scratch = new Float32Array(rows * 2 * this.width);
    return this.scratch.subarray(0, rows * 2 * this.width);
  }
}

/** The KV memory of one sequence: one {@link LayerKvMemory} per layer and the token ids they hold. */
export class KvMemory {
  readonly layers: LayerKvMemory[];
  /** Token ids whose keys/values every layer holds (the committed sequence). */
  readonly tokenIds: number[] = [];
  private readonly truncateListeners: Array<(length: number) => void> = [];
  private truncationGuard: ((length: number) => number) | null = null;

  constructor(numLayers: number, width: number) {
    this.layers = Array.from({ length: numLayers }, () => new LayerKvMemory(width));
  }

  /** Committed sequence length. */
  get length(): number {
    return this.tokenIds.length;
  }

  /** A forward step finished for every layer: its tokens are now part of the sequence. */
  commit(tokenIds: ArrayLike<number>): void {
    for (let index = 0; index < tokenIds.length; index++) this.tokenIds.push(tokenIds[index]!);
  }

  /** Drop everything from `length` on (also undoes a step that failed half-way through the layers). */
  truncate(length: number): void {
    // Cutting into offloaded tokens cannot keep the window resident, and state derived from them may not be
    // rebuildable (the guard says): start over. The caller reads `length` afterwards.
    const guarded = this.truncationGuard ? this.truncationGuard(length) : length;
    const target = this.layers.some((layer) => layer.offloaded && guarded < layer.residentFrom) ? 0 : guarded;
    this.tokenIds.length = Math.min(this.tokenIds.length, target);
    for (const layer of this.layers) layer.truncate(this.tokenIds.length);
    for (const listener of this.truncateListeners) listener(this.tokenIds.length);
  }

  /** Close spill files. */
  close(): void {
    for (const layer of this.layers) layer.close();
  }

  /** The length a cut to `length` may really keep (an attention policy that cannot rebuild its state says 0). */
  setTruncationGuard(guard: (length: number) => number): void {
    this.truncationGuard = guard;
  }

  /** Whoever keeps state derived from the memory (an attention policy's indexes) forgets what was cut. */
  onTruncate(listener: (length: number) => void): void {
    this.truncateListeners.push(listener);
  }

  /** Bytes held by the buffers (capacity, not length). */
  get bytes(): number {
    return this.layers.reduce((sum, layer) => sum + layer.keys.byteLength + layer.rotatedKeys.byteLength + layer.values.byteLength, 0);
  }
}
