/**
 * Per-layer key/value memory. Keys are stored UN-rotated — the source of truth, so that a later choice of positions
 * (streaming, block retrieval, position remapping, dynamic RoPE) never invalidates what is cached — and, derived
 * from them, rotated at their original positions (what plain attention shows), so that a decode step does not
 * re-rotate the whole context. A policy that shows keys elsewhere rotates the un-rotated ones itself.
 *
 * Layout per layer: [tokens, kvHeads·headDim], row-major, in buffers that grow by doubling, so the common
 * "everything so far" view is a zero-copy subarray.
 */
export class LayerKvMemory {
  keys: Float32Array;
  /** keys rotated at their original positions. */
  rotatedKeys: Float32Array;
  values: Float32Array;
  /** Rows written, including rows of a step whose other layers have not run yet. */
  length = 0;

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

  /**
   * Append `rows` tokens read from a fused projection [rows, stride] (k at column keyOffset, v right after it), and
   * their keys rotated by `rotate` (which receives the un-rotated rows and writes the rotated ones).
   */
  appendFused(projection: Float32Array, rows: number, stride: number, keyOffset: number, rotate: (source: Float32Array, target: Float32Array) => void): void {
    this.reserve(this.length + rows);
    const width = this.width;
    for (let row = 0; row < rows; row++) {
      const from = row * stride + keyOffset;
      this.keys.set(projection.subarray(from, from + width), (this.length + row) * width);
      this.values.set(projection.subarray(from + width, from + 2 * width), (this.length + row) * width);
    }
    const span = [this.length * width, (this.length + rows) * width] as const;
    rotate(this.keys.subarray(...span), this.rotatedKeys.subarray(...span));
    this.length += rows;
  }

  /** Forget rows from `length` on (the buffers are kept). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }

  /** Views of rows [0, rows): no copy. */
  prefix(rows: number): { keys: Float32Array; rotatedKeys: Float32Array; values: Float32Array } {
    const end = rows * this.width;
    return { keys: this.keys.subarray(0, end), rotatedKeys: this.rotatedKeys.subarray(0, end), values: this.values.subarray(0, end) };
  }

  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, this.capacity * 2);
    const grow = (buffer: Float32Array) => {
      const grown = new Float32Array(capacity * this.width);
      grown.set(buffer.subarray(0, this.length * this.width));
      return grown;
    };
    this.keys = grow(this.keys);
    this.rotatedKeys = grow(this.rotatedKeys);
    this.values = grow(this.values);
  }
}

/** The KV memory of one sequence: one {@link LayerKvMemory} per layer and the token ids they hold. */
export class KvMemory {
  readonly layers: LayerKvMemory[];
  /** Token ids whose keys/values every layer holds (the committed sequence). */
  readonly tokenIds: number[] = [];
  private readonly truncateListeners: Array<(length: number) => void> = [];

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
    this.tokenIds.length = Math.min(this.tokenIds.length, length);
    for (const layer of this.layers) layer.truncate(this.tokenIds.length);
    for (const listener of this.truncateListeners) listener(this.tokenIds.length);
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
