/**
 * Tiny Llama-layout checkpoints in memory for tests: a config with small dimensions and a Map-backed WeightStore
 * filled with seeded normal weights under the Hugging Face tensor names and shapes (biases and an untied lm_head
 * when the config says so). Shared by the reference forward tests and the engine parity tests.
 */
import { ModelLoadError } from '../../src/errors.js';
import type { LlamaConfig, SafetensorsDtype, WeightStore } from '../../inference/checkpoint/types.js';
import { SeededRandom } from '../../inference/generation/random.js';

/** A small Llama config (hidden 32, 4 heads over 2 KV heads, 2 layers, vocab 64); headDim follows hidden/heads unless given. */
export function randomLlamaConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  const hiddenSize = overrides.hiddenSize ?? 32;
  const numHeads = overrides.numHeads ?? 4;
  return {
    architecture: 'LlamaForCausalLM',
    modelType: 'llama',
    hiddenSize,
    intermediateSize: 64,
    numLayers: 2,
    numHeads,
    numKvHeads: 2,
    headDim: hiddenSize / numHeads,
    vocabSize: 64,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    ropeScaling: null,
    partialRotaryFactor: 1,
    maxPositionEmbeddings: 256,
    tieWordEmbeddings: false,
    qkvBias: false,
    outputBias: false,
    slidingWindow: null,
    bosTokenId: null,
    eosTokenIds: [],
    torchDtype: 'float32',
    ...overrides,
  };
}

/** What the initializer draws for a tensor. */
type Initializer = 'embedding' | 'linear' | 'norm' | 'bias';

interface TensorSpec {
  shape: number[];
  initializer: Initializer;
}

/** Every tensor a Llama-layout checkpoint with this config holds, Hugging Face name → shape, in checkpoint order. */
export function llamaWeightShapes(config: LlamaConfig): Map<string, number[]> {
  return new Map([...llamaTensorSpecs(config)].map(([name, spec]) => [name, spec.shape]));
}

function llamaTensorSpecs(config: LlamaConfig): Map<string, TensorSpec> {
  const { hiddenSize: D, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: Dh, vocabSize: V } = config;
  const specs = new Map<string, TensorSpec>();
  const add = (name: string, shape: number[], initializer: Initializer): void => void specs.set(name, { shape, initializer });
  add('model.embed_tokens.weight', [V, D], 'embedding');
  for (let layer = 0; layer < config.numLayers; layer++) {
    const prefix = `model.layers.${layer}.`;
    add(`${prefix}input_layernorm.weight`, [D], 'norm');
    for (const [projection, rows] of [['q_proj', H * Dh], ['k_proj', KV * Dh], ['v_proj', KV * Dh]] as const) {
      add(`${prefix}self_attn.${projection}.weight`, [rows, D], 'linear');
      if (config.qkvBias) add(`${prefix}self_attn.${projection}.bias`, [rows], 'bias');
    }
    add(`${prefix}self_attn.o_proj.weight`, [D, H * Dh], 'linear');
    if (config.outputBias) add(`${prefix}self_attn.o_proj.bias`, [D], 'bias');
    add(`${prefix}post_attention_layernorm.weight`, [D], 'norm');
    add(`${prefix}mlp.gate_proj.weight`, [I, D], 'linear');
    add(`${prefix}mlp.up_proj.weight`, [I, D], 'linear');
    add(`${prefix}mlp.down_proj.weight`, [D, I], 'linear');
  }
  add('model.norm.weight', [D], 'norm');
  if (!config.tieWordEmbeddings) add('lm_head.weight', [V, D], 'linear');
  return specs;
}

/** One tensor held in memory. */
export interface InMemoryTensor {
  shape: readonly number[];
  data: Float32Array;
  /** Reported dtype (the data is float32 regardless); default F32. */
  dtype?: SafetensorsDtype;
}

/** A WeightStore over a Map; `tensor`/`set` give tests direct access to edit weights. */
export class InMemoryWeightStore implements WeightStore {
  constructor(private readonly tensors: Map<string, InMemoryTensor> = new Map()) {}

  get names(): readonly string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  shape(name: string): readonly number[] {
    return this.tensor(name).shape;
  }

  dtype(name: string): SafetensorsDtype {
    return this.tensor(name).dtype ?? 'F32';
  }

  float32(name: string): Float32Array {
    return this.tensor(name).data.slice();
  }

  async close(): Promise<void> {}

  /** The stored tensor itself (not a copy): edit `data` in place to change the weights. */
  tensor(name: string): InMemoryTensor {
    const tensor = this.tensors.get(name);
    if (tensor === undefined) throw new ModelLoadError('MODEL_WEIGHTS_MISMATCH', 'in-memory weights', name, 'tensor is missing', 'add it');
    return tensor;
  }

  /** Add or replace a tensor. */
  set(name: string, tensor: InMemoryTensor): void {
    if (tensor.data.length !== tensor.shape.reduce((product, size) => product * size, 1)) {
      throw new Error(`${name}: ${tensor.data.length} values for shape [${tensor.shape.join(', ')}]`);
    }
    this.tensors.set(name, tensor);
  }

  delete(name: string): void {
    this.tensors.delete(name);
  }

  /** A deep copy (edits to the copy leave this store alone). */
  clone(): InMemoryWeightStore {
    return new InMemoryWeightStore(new Map([...this.tensors].map(([name, tensor]) => [name, { ...tensor, data: tensor.data.slice() }])));
  }
}

/**
 * Seeded normal weights for every tensor of `config` (see {@link llamaWeightShapes}), scaled so activations stay
 * O(1) and logits are informative: embeddings N(0, 1), Linear weights N(0, 1/fan_in), norms 1 + N(0, 0.1²),
 * biases N(0, 0.1²). Same config + seed = same weights.
 */
export function randomWeightStore(config: LlamaConfig, seed = 0): InMemoryWeightStore {
  const random = new SeededRandom(seed);
  const normal = (): number => {
    // Box-Muller; 1 - next() is in (0, 1] so the log is finite
    const radius = Math.sqrt(-2 * Math.log(1 - random.next()));
    return radius * Math.cos(2 * Math.PI * random.next());
  };
  const store = new InMemoryWeightStore();
  for (const [name, { shape, initializer }] of llamaTensorSpecs(config)) {
    const size = shape.reduce((product, dimension) => product * dimension, 1);
    const data = new Float32Array(size);
    const fanIn = shape[shape.length - 1]!;
    for (let index = 0; index < size; index++) {
      const value = normal();
      data[index] =
        initializer === 'embedding' ? value
        : initializer === 'linear' ? value / Math.sqrt(fanIn)
        : initializer === 'norm' ? 1 + 0.1 * value
        : 0.1 * value;
    }
    store.set(name, { shape, data });
  }
  return store;
}
