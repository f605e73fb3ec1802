/**
 * Per-layer key/value memory. Keys are stored UN-rotated, so that a later choice of positions (streaming, block
 * retrieval, position remapping, dynamic RoPE) never invalidates what is cached: rotation happens in the attention
 * graph for exactly the keys chosen at that step.
 *
 * Layout per layer: keys and values [tokens, kvHeads·headDim], row-major, in buffers that grow by doubling, so
 * the common "everything so far" view is a zero-copy subarray.
 */
export class LayerKvMemory {
  keys: Float32Array;
  values: Float32Array;
  /** Rows written, including rows of a step whose other layers have not run yet. */
  length = 0;

  constructor(
    /** kvHeads × headDim. */
    readonly width: number,
    initialCapacity = 256,
  ) {
    this.keys = new Float32Array(initialCapacity * width);
    this.values = new Float32Array(initialCapacity * width);
  }

  get capacity(): number {
    return this.keys.length / this.width;
  }

  /** Append `rows` rows of k and v ([rows, width] each). */
  append(keys: Float32Array, values: Float32Array, rows: number): void {
    this.reserve(this.length + rows);
    this.keys.set(keys.subarray(0, rows * this.width), this.length * this.width);
    this.values.set(values.subarray(0, rows * this.width), this.length * this.width);
    this.length += rows;
  }

  /** Forget rows from `length` on (the buffers are kept). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }

  /** Views of rows [0, rows): no copy. */
  prefix(rows: number): { keys: Float32Array; values: Float32Array } {
    return { keys: this.keys.subarray(0, rows * this.width), values: this.values.subarray(0, rows * this.width) };
  }

  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, this.capacity * 2);
    const keys = new Float32Array(capacity * this.width);
    const values = new Float32Array(capacity * this.width);
    keys.set(this.keys.subarray(0, this.length * this.width));
    values.set(this.values.subarray(0, this.length * this.width));
    this.keys = keys;
    this.values = values;
  }
}

/** The KV memory of one sequence: one {@link LayerKvMemory} per layer and the token ids they hold. */
export class KvMemory {
  readonly layers: LayerKvMemory[];
  /** Token ids whose keys/values every layer holds (the committed sequence). */
  readonly tokenIds: number[] = [];

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
  }

  /** Bytes held by the buffers (capacity, not length). */
  get bytes(): number {
    return this.layers.reduce((sum, layer) => sum + layer.keys.byteLength + layer.values.byteLength, 0);
  }
}
