/**
 * Tiny hand-made checkpoints for the checkpoint loader tests: a 2-layer Llama with hidden size 8, a byte-level
 * BPE tokenizer of 256 byte symbols plus a few merges and special tokens, written to a temp directory.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { TomeError } from '../../src/errors.js';
import { writeSafetensors } from '../../inference/checkpoint/safetensors.js';
import type { SafetensorsDtype, TensorToWrite } from '../../inference/checkpoint/types.js';

export const TINY_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  vocab_size: 264,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 128,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  bos_token_id: 260,
  eos_token_id: 261,
  torch_dtype: 'bfloat16',
};

export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/** GPT-2's byte → printable character table, which ByteLevel pre-tokenizers and decoders use. */
export function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b += 1) out.push(String.fromCharCode(printable(b) ? b : 256 + extra++));
  return out;
}

export function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  byteLevelAlphabet().forEach((symbol, id) => (vocab[symbol] = id));
  Object.assign(vocab, { he: 256, ll: 257, hell: 258, hello: 259 });
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(260, '<s>'), special(261, '</s>'), special(262, '<|im_start|>'), special(263, '<|im_end|>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [260], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: ['h e', 'l l', 'he ll', 'hell o'] },
  };
}

/** Deterministic small values (a linear congruential generator), so tests never depend on Math.random. */
export function values(count: number, seed = 1): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

/** Every tensor the Llama layout needs for `config` (snake_case config.json), with deterministic values. */
export function tinyTensors(config: Record<string, unknown> = TINY_CONFIG, dtype: SafetensorsDtype = 'BF16'): Record<string, TensorToWrite> {
  const n = (key: string) => config[key] as number;
  const hidden = n('hidden_size');
  const headDim = (config.head_dim as number | undefined) ?? hidden / n('num_attention_heads');
  const q = n('num_attention_heads') * headDim;
  const kv = ((config.num_key_value_heads as number | undefined) ?? n('num_attention_heads')) * headDim;
  const inter = n('intermediate_size');
  const vocab = n('vocab_size');
  const tensors: Record<string, TensorToWrite> = {};
  let seed = 1;
  const add = (name: string, shape: number[]) => (tensors[name] = { dtype, shape, data: values(shape.reduce((a, b) => a * b, 1), seed++) });
  add('model.embed_tokens.weight', [vocab, hidden]);
  for (let layer = 0; layer < n('num_hidden_layers'); layer += 1) {
    const p = `model.layers.${layer}`;
    add(`${p}.input_layernorm.weight`, [hidden]);
    add(`${p}.self_attn.q_proj.weight`, [q, hidden]);
    add(`${p}.self_attn.k_proj.weight`, [kv, hidden]);
    add(`${p}.self_attn.v_proj.weight`, [kv, hidden]);
    add(`${p}.self_attn.o_proj.weight`, [hidden, q]);
    if (config.architectures && (config.architectures as string[])[0] === 'Qwen2ForCausalLM') {
      add(`${p}.self_attn.q_proj.bias`, [q]);
      add(`${p}.self_attn.k_proj.bias`, [kv]);
      add(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    add(`${p}.post_attention_layernorm.weight`, [hidden]);
    add(`${p}.mlp.gate_proj.weight`, [inter, hidden]);
    add(`${p}.mlp.up_proj.weight`, [inter, hidden]);
    add(`${p}.mlp.down_proj.weight`, [hidden, inter]);
  }
  add('model.norm.weight', [hidden]);
  if (config.tie_word_embeddings !== true) add('lm_head.weight', [vocab, hidden]);
  return tensors;
}

export function tempDir(prefix = 'tome-checkpoint-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}

export interface TinyCheckpointOptions {
  config?: Record<string, unknown>;
  tensors?: Record<string, TensorToWrite>;
  /** Split the tensors over this many shards with model.safetensors.index.json. */
  shards?: number;
  tokenizer?: unknown;
  tokenizerConfig?: unknown;
  generationConfig?: unknown;
}

/** Write a complete tiny checkpoint into `directory` (a new temp directory by default) and return it. */
export async function writeTinyCheckpoint(options: TinyCheckpointOptions = {}, directory = tempDir()): Promise<string> {
  const config = options.config ?? TINY_CONFIG;
  writeJson(join(directory, 'config.json'), config);
  const tensors = options.tensors ?? tinyTensors(config);
  const shards = options.shards ?? 1;
  if (shards === 1) {
    await writeSafetensors(join(directory, 'model.safetensors'), tensors, { format: 'pt' });
  } else {
    const names = Object.keys(tensors);
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s += 1) {
      const file = `model-0000${s + 1}-of-0000${shards}.safetensors`;
      const part: Record<string, TensorToWrite> = {};
      names.filter((_, i) => i % shards === s).forEach((name) => ((part[name] = tensors[name]!), (weightMap[name] = file)));
      await writeSafetensors(join(directory, file), part, { format: 'pt' });
    }
    writeJson(join(directory, 'model.safetensors.index.json'), { metadata: { total_size: 0 }, weight_map: weightMap });
  }
  writeJson(join(directory, 'tokenizer.json'), options.tokenizer ?? tinyTokenizerJson());
  const tokenizerConfig = options.tokenizerConfig ?? { bos_token: '<s>', eos_token: '<|im_end|>', chat_template: CHAT_TEMPLATE, clean_up_tokenization_spaces: false };
  if (tokenizerConfig !== null) writeJson(join(directory, 'tokenizer_config.json'), tokenizerConfig);
  if (options.generationConfig !== undefined) writeJson(join(directory, 'generation_config.json'), options.generationConfig);
  return directory;
}

/** Await `promise` (or call `fn`) and assert it fails with `code`, and that its message matches every pattern. */
export async function expectLoadError(run: Promise<unknown> | (() => unknown), code: string, ...patterns: Array<string | RegExp>): Promise<TomeError> {
  let error: unknown;
  try {
    await (typeof run === 'function' ? run() : run);
  } catch (caught) {
    error = caught;
  }
  expect(TomeError.is(error), `expected a TomeError ${code}, got ${String(error)}`).toBe(true);
  const tome = error as TomeError;
  expect(tome.code, tome.message).toBe(code);
  for (const pattern of patterns) {
    if (typeof pattern === 'string') expect(tome.message).toContain(pattern);
    else expect(tome.message).toMatch(pattern);
  }
  expect(tome.fix.length).toBeGreaterThan(10);
  return tome;
}
