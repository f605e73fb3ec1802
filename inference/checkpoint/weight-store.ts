/**
 * A checkpoint's weights: `model.safetensors`, or shards listed by `model.safetensors.index.json`, behind one
 * {@link WeightStore}; plus the check that every tensor the Llama layout needs is there with the shape config.json
 * implies, so a mismatched checkpoint fails at load time with a name instead of mid-forward with garbage.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ModelLoadError } from '../../src/errors.js';
import { openSafetensors, type SafetensorsFile } from './safetensors.js';
import type { LlamaConfig, SafetensorsDtype, WeightStore } from './types.js';

/** A {@link WeightStore} that also says which file it was opened from (model.safetensors or the shard index). */
export interface SafetensorsWeightStore extends WeightStore {
  /** model.safetensors, or model.safetensors.index.json for a sharded checkpoint: the file errors should name. */
  readonly source: string;
  /** The safetensors file that holds a tensor. */
  fileOf(name: string): string;
}

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';
const PICKLE_FILES = ['pytorch_model.bin', 'pytorch_model.bin.index.json'];

/**
 * Open a checkpoint directory's safetensors weights (single file or sharded).
 * @throws ModelLoadError MODEL_FILE_MISSING when there are no safetensors (pickle-only checkpoints included) or a
 * shard the index lists is absent; MODEL_FILE_INVALID for a corrupt index or safetensors file.
 */
export async function openWeightStore(directory: string): Promise<SafetensorsWeightStore> {
  const indexPath = join(directory, INDEX_FILE);
  const singlePath = join(directory, SINGLE_FILE);
  if (existsSync(indexPath)) return openSharded(indexPath);
  if (existsSync(singlePath)) {
    const file = await openSafetensors(singlePath);
    return new Store(singlePath, [file], new Map(file.names.map((name) => [name, file])));
  }
  const pickle = PICKLE_FILES.find((name) => existsSync(join(directory, name)));
  if (pickle !== undefined) {
    throw new ModelLoadError(
      'MODEL_FILE_MISSING',
      singlePath,
      undefined,
      `not found: the checkpoint only has PyTorch pickle weights (${pickle}), and only safetensors are loaded (pickles can run arbitrary code)`,
      'convert it once with transformers: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)',
    );
  }
  throw new ModelLoadError(
    'MODEL_FILE_MISSING',
    singlePath,
    undefined,
    `not found, and there is no ${INDEX_FILE} either`,
    'download the checkpoint completely (it needs model.safetensors or sharded model-*.safetensors with their index)',
  );
}

async function openSharded(indexPath: string): Promise<SafetensorsWeightStore> {
  const directory = dirname(indexPath);
  const invalidIndex = (problem: string, cause?: unknown): ModelLoadError =>
    new ModelLoadError('MODEL_FILE_INVALID', indexPath, 'weight_map', problem, 'download model.safetensors.index.json again', cause);
  let index: unknown;
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (cause) {
    throw invalidIndex('is not readable JSON', cause);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) throw invalidIndex('missing or not an object of tensor name → shard file');
  const shardOf = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    // A shard name with a path separator could point outside the checkpoint; real indexes only hold bare names.
    if (typeof shard !== 'string' || shard === '' || basename(shard) !== shard) throw invalidIndex(`entry for ${name} is not a shard file name: ${JSON.stringify(shard)}`);
    shardOf.set(name, shard);
  }
  if (shardOf.size === 0) throw invalidIndex('lists no tensors');

  const files = new Map<string, SafetensorsFile>();
  try {
    for (const shard of new Set(shardOf.values())) {
      const shardPath = join(directory, shard);
      if (!existsSync(shardPath)) {
        const example = [...shardOf].find(([, file]) => file === shard)?.[0];
        throw new ModelLoadError(
          'MODEL_FILE_MISSING',
          indexPath,
          shard,
          `shard ${shardPath} listed in weight_map (for ${example} and others) does not exist`,
          'download every model-*.safetensors shard the index lists',
        );
      }
      files.set(shard, await openSafetensors(shardPath));
    }
    const byName = new Map<string, SafetensorsFile>();
    for (const [name, shard] of shardOf) {
      const file = files.get(shard)!;
      if (!file.has(name)) {
        throw new ModelLoadError('MODEL_WEIGHTS_MISMATCH', file.path, name, `weight_map in ${INDEX_FILE} places this tensor here, but the shard does not contain it`, 'download the checkpoint again; index and shards disagree');
      }
      byName.set(name, file);
    }
    return new Store(indexPath, [...files.values()], byName);
  } catch (error) {
    await Promise.all([...files.values()].map((file) => file.close()));
    throw error;
  }
}

class Store implements SafetensorsWeightStore {
  readonly names: readonly string[];

  constructor(
    readonly source: string,
    private readonly files: readonly SafetensorsFile[],
    private readonly byName: ReadonlyMap<string, SafetensorsFile>,
  ) {
    this.names = [...byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  private file(name: string): SafetensorsFile {
    const file = this.byName.get(name);
    if (file === undefined) {
      throw new ModelLoadError('MODEL_WEIGHTS_MISMATCH', this.source, name, 'no such tensor in the checkpoint', 'use a complete checkpoint of a supported architecture');
    }
    return file;
  }

  fileOf(name: string): string {
    return this.file(name).path;
  }

  shape(name: string): readonly number[] {
    return this.file(name).entry(name).shape;
  }

  dtype(name: string): SafetensorsDtype {
    return this.file(name).entry(name).dtype;
  }

  float32(name: string): Float32Array {
    return this.file(name).float32(name);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((file) => file.close()));
  }
}

/** A tensor the Llama layout needs, as {@link expectedTensors} lists it. */
export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** The config.json fields that imply the shape (or the tensor's presence). */
  because: string;
}

/** Every tensor the Llama layout needs for this config, with the shape config.json implies. */
export function expectedTensors(config: LlamaConfig): ExpectedTensor[] {
  const { hiddenSize: hidden, intermediateSize: inter, vocabSize: vocab, headDim } = config;
  const qDim = config.numHeads * headDim;
  const kvDim = config.numKvHeads * headDim;
  // Spelled with config.json's field names and values, so the user sees which field disagrees with the weights.
  const heads = `num_attention_heads ${config.numHeads} × head_dim ${headDim}`;
  const kvHeads = `num_key_value_heads ${config.numKvHeads} × head_dim ${headDim}`;
  const h = `hidden_size ${hidden}`;
  const i = `intermediate_size ${inter}`;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [vocab, hidden], because: `vocab_size ${vocab}, ${h}` }];
  for (let layer = 0; layer < config.numLayers; layer += 1) {
    const p = `model.layers.${layer}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [hidden], because: h },
      { name: `${p}.post_attention_layernorm.weight`, shape: [hidden], because: h },
      { name: `${p}.self_attn.q_proj.weight`, shape: [qDim, hidden], because: `${heads}, ${h}` },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kvDim, hidden], because: `${kvHeads}, ${h}` },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kvDim, hidden], because: `${kvHeads}, ${h}` },
      { name: `${p}.self_attn.o_proj.weight`, shape: [hidden, qDim], because: `${h}, ${heads}` },
      { name: `${p}.mlp.gate_proj.weight`, shape: [inter, hidden], because: `${i}, ${h}` },
      { name: `${p}.mlp.up_proj.weight`, shape: [inter, hidden], because: `${i}, ${h}` },
      { name: `${p}.mlp.down_proj.weight`, shape: [hidden, inter], because: `${h}, ${i}` },
    );
    const biasReason = config.architecture === 'Qwen2ForCausalLM' ? 'architectures (Qwen2 always has q/k/v biases)' : 'attention_bias';
    if (config.qkvBias) {
      out.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [qDim], because: `${biasReason}; ${heads}` },
        { name: `${p}.self_attn.k_proj.bias`, shape: [kvDim], because: `${biasReason}; ${kvHeads}` },
        { name: `${p}.self_attn.v_proj.bias`, shape: [kvDim], because: `${biasReason}; ${kvHeads}` },
      );
    }
    if (config.outputBias) out.push({ name: `${p}.self_attn.o_proj.bias`, shape: [hidden], because: `attention_bias; ${h}` });
  }
  out.push({ name: 'model.norm.weight', shape: [hidden], because: h });
  if (!config.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [vocab, hidden], because: `tie_word_embeddings false; vocab_size ${vocab}, ${h}` });
  return out;
}

/**
 * Check that every tensor the Llama layout needs exists with exactly the shape the config implies, and that the
 * checkpoint has no biases the config does not announce (they would be silently ignored).
 * @param file the file errors name when the store cannot say which file is at fault (e.g. config.json).
 * @throws ModelLoadError MODEL_WEIGHTS_MISMATCH naming the tensor, expected and actual shape, and the config field.
 */
export function validateWeights(config: LlamaConfig, weights: WeightStore, file: string): void {
  const where = (name: string): string => {
    const store = weights as Partial<SafetensorsWeightStore>;
    if (weights.has(name) && typeof store.fileOf === 'function') return store.fileOf(name);
    return typeof store.source === 'string' ? store.source : file;
  };
  const fix = 'use the config.json that belongs to these weights, or download the checkpoint again';
  for (const tensor of expectedTensors(config)) {
    if (!weights.has(tensor.name)) {
      throw new ModelLoadError(
        'MODEL_WEIGHTS_MISMATCH',
        where(tensor.name),
        tensor.name,
        `tensor is missing; ${file} implies it with shape [${tensor.shape.join(', ')}] (${tensor.because})`,
        fix,
      );
    }
    const actual = weights.shape(tensor.name);
    if (actual.length !== tensor.shape.length || actual.some((size, i) => size !== tensor.shape[i])) {
      throw new ModelLoadError(
        'MODEL_WEIGHTS_MISMATCH',
        where(tensor.name),
        tensor.name,
        `shape [${actual.join(', ')}] does not match [${tensor.shape.join(', ')}] expected from ${file} (${tensor.because})`,
        fix,
      );
    }
  }
  // Biases the config does not announce would be dropped by the engine and give wrong outputs without an error.
  const unexpected = weights.names.find((name) =>
    /\.self_attn\.[qkv]_proj\.bias$/.test(name) ? !config.qkvBias : /\.self_attn\.o_proj\.bias$/.test(name) ? !config.outputBias : /\.mlp\.\w+_proj\.bias$/.test(name),
  );
  if (unexpected !== undefined) {
    const field = unexpected.includes('.mlp.') ? 'mlp_bias' : 'attention_bias';
    throw new ModelLoadError('MODEL_WEIGHTS_MISMATCH', where(unexpected), unexpected, `the checkpoint has this bias but ${file} does not enable ${field}`, fix);
  }
}
