import { InvalidOptionError } from '../../../src/errors.js';

/**
 * Which keys each query sees once a sequence outgrows what the checkpoint was trained on, and every knob of it.
 * Defaults are derived from the trained context length L so that `--attention blocks` alone lets a model trained
 * on 256, 2k or 8k tokens read 100× further (see docs/DESIGN.md, "Attention past the window"):
 *
 * | setting          | default                                         | L = 256 | L = 2048 | L = 8192 |
 * |------------------|-------------------------------------------------|---------|----------|----------|
 * | sinks            | L/64 within [4, 128]                            | 4       | 32       | 128      |
 * | blockSize        | L/32 within [16, 128]                           | 16      | 64       | 128      |
 * | stepSize (cell)  | L/8 within [16, 512]                            | 32      | 256      | 512      |
 * | window (blocks, knn) | L/4                                         | 64      | 512      | 2048     |
 * | window (streaming)   | L − sinks − stepSize                        | 220     | 1760     | 7552     |
 * | topK (blocks)    | what fits in L: (L − sinks − window − blockSize − stepSize) / blockSize, at most 32 | 8 | 18 | 32 |
 * | topK (knn)       | L/4 tokens                                      | 64      | 512      | 2048     |
 * | efSearch         | 4 × topK (HNSW breadth; knn)                    |         |          |          |
 * | indexing         | background for knn (HNSW in a worker thread), else inline |  |          |          |
 * | maxDistance      | L                                               |         |          |          |
 */
export const ATTENTION_MODES = ['full', 'streaming', 'blocks', 'knn'] as const;
export type AttentionMode = (typeof ATTENTION_MODES)[number];

export interface AttentionSettings {
  mode: AttentionMode;
  /** First tokens always attended (attention sinks / LM-Infinite's global branch). */
  sinks: number;
  /** Most recent tokens attended at their true distance (the local window; it starts on a block boundary). */
  window: number;
  /** Tokens per memory block: the unit that leaves the window, is scored and is retrieved (blocks mode). */
  blockSize: number;
  /**
   * Queries per cell: prefill runs one cell per forward step and retrieval is decided once per cell (from the
   * cell's first query), on a grid of absolute positions, so any chunking of the same input gives the same result.
   */
  stepSize: number;
  /** Memory blocks (blocks mode) or memory tokens (knn mode) retrieved per cell and layer. */
  topK: number;
  /** Tokens per block whose keys are averaged into its representative key (blocks mode). */
  representatives: number;
  /**
   * `compressed`: the window keeps its true positions, sinks sit right before it and every retrieved memory token
   * at one position just before the window, so no distance exceeds maxDistance. `original`: every key at its true
   * position (for checking against full attention).
   */
  positions: 'compressed' | 'original';
  /** `hnsw` (hnswlib-node, per layer; knn's default) or `exact` (a scan; blocks' default) for retrieval. */
  search: 'hnsw' | 'exact';
  /** HNSW search breadth (at least topK). */
  efSearch: number;
  /** HNSW build breadth. */
  efConstruction: number;
  /**
   * `background`: HNSW indexes live in a worker thread that inserts keys while the model computes, and kNN hands
   * tokens over a cell ahead of their retrieval so the insertion is done by then (knn's default). `inline`: in the
   * calling thread. Results are identical either way.
   */
  indexing: 'background' | 'inline';
  /** The largest query–key distance the compressed layout may produce (default L, the trained length). */
  maxDistance: number;
  /**
   * Where tokens go once no cell reads them from RAM again: `keep` (stay in RAM; blocks' and knn's default),
   * `disk` (written to a temporary file, read back when retrieved: contexts larger than RAM), `drop` (forgotten;
   * streaming's default, since streaming never attends to them again).
   */
  offload: 'keep' | 'disk' | 'drop';
}

/** `k=v,k=v` (the CLI's --attention-opts) → a record; numbers stay strings until resolved. */
export function parseAttentionOptions(text: string | undefined): Record<string, string> {
  if (!text) return {};
  const options: Record<string, string> = {};
  for (const part of text.split(',').map((piece) => piece.trim()).filter(Boolean)) {
    const [key, value] = part.split('=');
    if (!key || value === undefined || value === '') throw new InvalidOptionError('--attention-opts', part, 'key=value pairs separated by commas, e.g. sinks=4,window=512,topK=8');
    options[key.trim()] = value.trim();
  }
  return options;
}

const NUMERIC_KEYS = ['sinks', 'window', 'blockSize', 'stepSize', 'topK', 'representatives', 'efSearch', 'efConstruction', 'maxDistance'] as const;
const TEXT_KEYS: readonly string[] = ['positions', 'search', 'offload', 'indexing'];

/** The settings for `mode` on a checkpoint trained on `trainedLength` tokens, with `overrides` applied and checked. */
export function resolveAttentionSettings(mode: string, trainedLength: number, overrides: Record<string, string | number> = {}): AttentionSettings {
  if (!(ATTENTION_MODES as readonly string[]).includes(mode)) throw new InvalidOptionError('attention', mode, `one of ${ATTENTION_MODES.join(', ')}`);
  const attentionMode = mode as AttentionMode;
  const clamp = (value: number, low: number, high: number) => Math.max(low, Math.min(high, Math.round(value)));
  const length = trainedLength;
  const read = (key: (typeof NUMERIC_KEYS)[number], fallback: number, minimum = 1): number => {
    if (overrides[key] === undefined) return fallback;
    const value = Number(overrides[key]);
    if (!Number.isInteger(value) || value < minimum) throw new InvalidOptionError(`attention option ${key}`, overrides[key], `an integer ≥ ${minimum}`);
    return value;
  };
  for (const key of Object.keys(overrides)) {
    if (!(NUMERIC_KEYS as readonly string[]).includes(key) && !TEXT_KEYS.includes(key)) {
      throw new InvalidOptionError('attention option', key, `one of ${[...NUMERIC_KEYS, ...TEXT_KEYS].join(', ')}`);
    }
  }
  const sinks = read('sinks', clamp(length / 64, 4, 128), 0);
  const blockSize = read('blockSize', clamp(length / 32, 16, 128));
  const stepSize = read('stepSize', clamp(length / 8, 16, 512));
  const window = read('window', attentionMode === 'streaming' ? Math.max(1, length - sinks - stepSize) : Math.max(1, Math.floor(length / 4)));
  const maxDistance = read('maxDistance', length);
  const fittingBlocks = Math.floor((length - sinks - window - blockSize - stepSize) / blockSize);
  const topK = read('topK', attentionMode === 'knn' ? Math.max(1, Math.floor(length / 4)) : clamp(fittingBlocks, 1, 32));
  const representatives = read('representatives', Math.min(4, blockSize));
  // knn: ef 4×k keeps recall ≥ 0.95 up to 1M keys on the fixtures (1×k: 0.89 at 1M, 2×k: 0.955 at 128k).
  const efSearch = read('efSearch', Math.max(64, 4 * topK));
  const efConstruction = read('efConstruction', attentionMode === 'knn' ? 100 : 200);
  const positions = overrides['positions'] ?? 'compressed';
  if (positions !== 'compressed' && positions !== 'original') throw new InvalidOptionError('attention option positions', positions, 'compressed or original');
  // Blocks are few (context / blockSize) and searched once per cell: a scan is exact and cheap. Tokens are many.
  const search = overrides['search'] ?? (attentionMode === 'knn' ? 'hnsw' : 'exact');
  if (search !== 'hnsw' && search !== 'exact') throw new InvalidOptionError('attention option search', search, 'hnsw or exact');
  const indexing = overrides['indexing'] ?? (attentionMode === 'knn' && search === 'hnsw' ? 'background' : 'inline');
  if (indexing !== 'background' && indexing !== 'inline') throw new InvalidOptionError('attention option indexing', indexing, 'background or inline');
  if (indexing === 'background' && search !== 'hnsw') throw new InvalidOptionError('attention option indexing', indexing, 'inline with search=exact (a scan has nothing to build in the background)');
  const offload = overrides['offload'] ?? (attentionMode === 'streaming' ? 'drop' : 'keep');
  if (offload !== 'keep' && offload !== 'disk' && offload !== 'drop') throw new InvalidOptionError('attention option offload', offload, 'keep, disk or drop');
  if (offload === 'drop' && (attentionMode === 'blocks' || attentionMode === 'knn')) throw new InvalidOptionError('attention option offload', offload, `keep or disk for ${attentionMode} (retrieved tokens must be readable)`);
  // A block is scored by the blockSize queries after it; they must all exist when it leaves the window.
  if (attentionMode === 'blocks' && window < blockSize) throw new InvalidOptionError('attention option window', window, `at least blockSize (${blockSize}) in blocks mode`);
  if (representatives > blockSize) throw new InvalidOptionError('attention option representatives', representatives, `at most blockSize (${blockSize})`);
  const settings: AttentionSettings = { mode: attentionMode, sinks, window, blockSize, stepSize, topK, representatives, positions, search, efSearch: Math.max(efSearch, topK), efConstruction, indexing, maxDistance, offload };
  if (attentionMode !== 'full' && positions === 'compressed') {
    // The farthest a query can be from a key it sees: the sinks before the window, the window (which starts on a
    // block boundary, so up to blockSize longer) and the cell the query sits in.
    const farthest = sinks + window + (attentionMode === 'streaming' ? 0 : blockSize) + stepSize;
    if (farthest > maxDistance) {
      throw new InvalidOptionError('attention options', `sinks=${sinks},window=${window},blockSize=${blockSize},stepSize=${stepSize}`, `a layout whose farthest distance (sinks + window + blockSize + stepSize = ${farthest}) stays within maxDistance ${maxDistance}; shrink the window or raise maxDistance`);
    }
  }
  return settings;
}
