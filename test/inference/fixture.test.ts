import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Command } from 'commander';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { loadCheckpoint } from '../../inference/checkpoint/load-checkpoint.js';
import { openSafetensors } from '../../inference/checkpoint/safetensors.js';
import type { LoadedCheckpoint } from '../../inference/checkpoint/types.js';
import {
  buildTokenizerFiles,
  DEFAULT_SYSTEM_MESSAGE,
  resolveFixture,
  FixtureRandom,
  SPECIAL_TOKENS,
  trainByteLevelBpe,
  trainFixtureBpe,
  writeFixture,
  type FixtureOptions,
} from '../../inference/fixture/index.js';
import { addModelCommands } from '../../src/cli/model-commands.js';
import { reportError } from '../../src/cli/report-error.js';

const root = mkdtempSync(join(tmpdir(), 'tome-fixture-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let directoryCount = 0;
const freshDirectory = () => join(root, `fixture-${directoryCount++}`);

const opened: LoadedCheckpoint[] = [];
async function writeAndLoad(options: FixtureOptions): Promise<LoadedCheckpoint> {
  const directory = freshDirectory();
  await writeFixture(directory, options);
  const checkpoint = await loadCheckpoint(directory);
  opened.push(checkpoint);
  return checkpoint;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((checkpoint) => checkpoint.weights.close()));
});

const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** Text that exercises every byte-level path: multi-byte UTF-8, emoji with joiners, CJK, control whitespace. */
const AWKWARD_TEXTS = [
  'Hello, world! It\'s 2024 and we\'ll see.',
  'naïve café, déjà vu, Ærøskøbing, São Paulo',
  'emoji: 😀 👩‍👩‍👧 🇫🇷 ❤️',
  '日本語のテキスト、中文文本，한국어 텍스트',
  'multiple   spaces,\ttabs\t\tand\nnewlines\n\n\r\n  leading and trailing  ',
  ' ',
  '\u0000\u0001 control \u007f bytes \u00ad soft hyphen',
  'code: if (x <= 10) { return a[i] * 2; } // done',
];

describe('byte-level BPE trainer', () => {
  it('learns the requested merges deterministically: same merges every run, bytes first', () => {
    const first = trainByteLevelBpe({ mergeCount: 250 });
    const second = trainByteLevelBpe({ mergeCount: 250 });
    expect(first.merges).toEqual(second.merges);
    expect(first.merges).toHaveLength(250);
    expect(first.vocab.get('Ġ')).toBe(32);
    expect(first.vocab.get('a')).toBe(97);
    // The most frequent English pairs come first, as in any real byte-level BPE.
    expect(first.merges[0]).toEqual(['Ġ', 't']);
    expect(trainFixtureBpe(2000).merges).toHaveLength(2000);
  });

  it('writes a tokenizer.json that @huggingface/tokenizers round-trips on arbitrary UTF-8', () => {
    const files = buildTokenizerFiles(trainFixtureBpe(250), { modelMaxLength: 2048 });
    expect(files.vocabularySize).toBe(509);
    const tokenizer = new Tokenizer(files.tokenizerJson, files.tokenizerConfig);
    for (const text of AWKWARD_TEXTS) {
      const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
      expect(ids.every((id: number) => id < files.vocabularySize)).toBe(true);
      expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(text);
    }
    // Merges make English cheaper than one token per byte.
    const english = 'The market stalls were open by seven o\'clock.';
    expect(tokenizer.encode(english, { add_special_tokens: false }).ids.length).toBeLessThan(english.length / 2);
  });

  it('encodes each special token to its single id, after the BPE vocabulary', () => {
    const files = buildTokenizerFiles(trainFixtureBpe(250), { modelMaxLength: 2048 });
    const tokenizer = new Tokenizer(files.tokenizerJson, files.tokenizerConfig);
    SPECIAL_TOKENS.forEach((token, index) => {
      expect(tokenizer.encode(token, { add_special_tokens: false }).ids).toEqual([506 + index]);
    });
    expect(files.specialTokenIds).toEqual({ endOfText: 506, imStart: 507, imEnd: 508 });
    const ids = tokenizer.encode('<|im_start|>user\nhi<|im_end|>', { add_special_tokens: false }).ids;
    expect(ids[0]).toBe(507);
    expect(ids.at(-1)).toBe(508);
    expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe('user\nhi');
    expect(tokenizer.decode(ids, { skip_special_tokens: false })).toBe('<|im_start|>user\nhi<|im_end|>');
  });

  it('encodes identically whether merges are written as pairs or as "a b" strings', () => {
    const files = buildTokenizerFiles(trainFixtureBpe(250), { modelMaxLength: 2048 });
    const model = files.tokenizerJson.model as { merges: Array<[string, string]> };
    const legacy = { ...files.tokenizerJson, model: { ...model, merges: model.merges.map((pair) => pair.join(' ')) } };
    const pairs = new Tokenizer(files.tokenizerJson, files.tokenizerConfig);
    const strings = new Tokenizer(legacy, files.tokenizerConfig);
    for (const text of AWKWARD_TEXTS) expect(pairs.encode(text).ids).toEqual(strings.encode(text).ids);
  });
});

describe('FixtureRandom', () => {
  it('draws standard normals: mean 0, variance 1, normal kurtosis; streams differ by seed and name', () => {
    const values = new FixtureRandom(0, 'stats').fillNormal(new Float32Array(200_000), 0, 1);
    let sum = 0;
    let squares = 0;
    let fourths = 0;
    for (const value of values) {
      sum += value;
      squares += value * value;
      fourths += value ** 4;
    }
    expect(Math.abs(sum / values.length)).toBeLessThan(0.01);
    expect(squares / values.length).toBeCloseTo(1, 1);
    expect(fourths / values.length).toBeCloseTo(3, 0);
    const head = (seed: number, name: string) => Array.from(new FixtureRandom(seed, name).fillNormal(new Float32Array(4), 0, 1));
    expect(head(0, 'a')).toEqual(head(0, 'a'));
    expect(head(0, 'a')).not.toEqual(head(1, 'a'));
    expect(head(0, 'a')).not.toEqual(head(0, 'b'));
    expect(head(0, 'a')).not.toEqual(head(2 ** 32, 'a'));
  });
});

describe('writeFixture: tiny', () => {
  it('writes the Hugging Face layout with the tiny shape, loadable by loadCheckpoint', async () => {
    const directory = freshDirectory();
    const result = await writeFixture(directory, { preset: 'tiny' });
    expect(readdirSync(directory).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    const config = readJson(join(directory, 'config.json'));
    expect(config).toEqual(result.config);
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_act: 'silu',
      hidden_size: 64,
      intermediate_size: 160,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
      vocab_size: 512,
      rope_theta: 10000,
      rms_norm_eps: 1e-5,
      max_position_embeddings: 2048,
      tie_word_embeddings: true,
      torch_dtype: 'float32',
      attention_bias: false,
      bos_token_id: 506,
      eos_token_id: 508,
    });
    expect(readJson(join(directory, 'generation_config.json'))).toMatchObject({ eos_token_id: [508, 506] });
    expect(readJson(join(directory, 'tokenizer_config.json'))).toMatchObject({ bos_token: null, eos_token: '<|im_end|>', pad_token: '<|endoftext|>', model_max_length: 2048 });
    const fileBytes = readdirSync(directory).reduce((sum, name) => sum + statSync(join(directory, name)).size, 0);
    expect(result.bytesWritten).toBe(fileBytes);

    const file = await openSafetensors(join(directory, 'model.safetensors'));
    expect(file.metadata).toEqual({ format: 'pt' });
    const names = [...file.names].sort();
    await file.close();
    const perLayer = ['input_layernorm', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'post_attention_layernorm', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];
    const expected = ['model.embed_tokens.weight', 'model.norm.weight', ...[0, 1].flatMap((layer) => perLayer.map((part) => `model.layers.${layer}.${part}.weight`))];
    expect(names).toEqual(expected.sort());

    const checkpoint = await loadCheckpoint(directory);
    opened.push(checkpoint);
    const { weights } = checkpoint;
    expect(weights.shape('model.embed_tokens.weight')).toEqual([512, 64]);
    expect(weights.shape('model.layers.0.self_attn.q_proj.weight')).toEqual([64, 64]);
    expect(weights.shape('model.layers.0.self_attn.k_proj.weight')).toEqual([32, 64]);
    expect(weights.shape('model.layers.0.mlp.down_proj.weight')).toEqual([64, 160]);
    expect(result.parameterCount).toBe(weights.names.reduce((sum, name) => sum + weights.shape(name).reduce((a, b) => a * b, 1), 0));
    expect(weights.dtype('model.norm.weight')).toBe('F32');
  });

  it('initialises norms near (not exactly) 1 and Linear weights with the preset std', async () => {
    const { weights } = await writeAndLoad({ preset: 'tiny' });
    const stats = (values: Float32Array) => {
      const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
      const std = Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length);
      return { mean, std };
    };
    const norm = stats(weights.float32('model.layers.1.input_layernorm.weight'));
    expect(norm.mean).toBeCloseTo(1, 1);
    expect(norm.std).toBeGreaterThan(0.02);
    expect(norm.std).toBeLessThan(0.1);
    const embedding = stats(weights.float32('model.embed_tokens.weight'));
    expect(embedding.mean).toBeCloseTo(0, 2);
    expect(embedding.std).toBeCloseTo(0.15, 2);
  });

  it('tokenizes and renders the ChatML template through loadCheckpoint', async () => {
    const { tokenizer, config } = await writeAndLoad({ preset: 'tiny' });
    expect(tokenizer.vocabularySize).toBe(509);
    expect(tokenizer.vocabularySize).toBeLessThanOrEqual(config.vocabSize);
    expect(tokenizer.eosTokenIds).toContain(508);
    for (const text of AWKWARD_TEXTS) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    expect(tokenizer.encode('<|im_end|>')).toEqual([508]);
    expect(tokenizer.hasChatTemplate).toBe(true);
    expect(tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi there' }], { addGenerationPrompt: true })).toBe(
      `<|im_start|>system\n${DEFAULT_SYSTEM_MESSAGE}<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n`,
    );
    const withSystem = tokenizer.applyChatTemplate([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
    ]);
    expect(withSystem).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n');
    const ids = tokenizer.encode(withSystem);
    expect(ids.filter((id) => id === 507)).toHaveLength(3);
    expect(ids.filter((id) => id === 508)).toHaveLength(3);
  });
});

describe('writeFixture: determinism', () => {
  it('same seed → byte-identical files; different seed → different weights, same tokenizer and config', async () => {
    const [first, second, other] = [freshDirectory(), freshDirectory(), freshDirectory()];
    await writeFixture(first, { preset: 'tiny', seed: 7, dtype: 'BF16' });
    await writeFixture(second, { preset: 'tiny', seed: 7, dtype: 'BF16' });
    await writeFixture(other, { preset: 'tiny', seed: 8, dtype: 'BF16' });
    for (const name of readdirSync(first)) expect(readFileSync(join(second, name)).equals(readFileSync(join(first, name))), name).toBe(true);
    expect(readFileSync(join(other, 'model.safetensors')).equals(readFileSync(join(first, 'model.safetensors')))).toBe(false);
    for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) expect(readFileSync(join(other, name)).equals(readFileSync(join(first, name)))).toBe(true);
  });
});

describe('writeFixture: overrides', () => {
  it('untied embeddings write lm_head.weight', async () => {
    const { config, weights } = await writeAndLoad({ preset: 'tiny', tieWordEmbeddings: false });
    expect(config.tieWordEmbeddings).toBe(false);
    expect(weights.shape('lm_head.weight')).toEqual([512, 64]);
    expect(weights.float32('lm_head.weight')).not.toEqual(weights.float32('model.embed_tokens.weight'));
  });

  it('Qwen2 gets q/k/v biases (no o_proj bias) and its own config fields', async () => {
    const directory = freshDirectory();
    await writeFixture(directory, { preset: 'tiny', architecture: 'Qwen2ForCausalLM' });
    const raw = readJson(join(directory, 'config.json'));
    expect(raw).toMatchObject({ architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', use_sliding_window: false });
    expect(raw).not.toHaveProperty('head_dim');
    const checkpoint = await loadCheckpoint(directory);
    opened.push(checkpoint);
    expect(checkpoint.config).toMatchObject({ qkvBias: true, outputBias: false, headDim: 16 });
    expect(checkpoint.weights.shape('model.layers.1.self_attn.q_proj.bias')).toEqual([64]);
    expect(checkpoint.weights.shape('model.layers.1.self_attn.k_proj.bias')).toEqual([32]);
    expect(checkpoint.weights.has('model.layers.1.self_attn.o_proj.bias')).toBe(false);
  });

  it('Llama attentionBias adds all four biases; Mistral loads without any', async () => {
    const llama = await writeAndLoad({ preset: 'tiny', attentionBias: true });
    expect(llama.config).toMatchObject({ qkvBias: true, outputBias: true });
    expect(llama.weights.shape('model.layers.0.self_attn.o_proj.bias')).toEqual([64]);
    const mistral = await writeAndLoad({ preset: 'tiny', architecture: 'MistralForCausalLM' });
    expect(mistral.config).toMatchObject({ architecture: 'MistralForCausalLM', modelType: 'mistral', qkvBias: false, slidingWindow: null });
    expect(mistral.weights.names.some((name) => name.endsWith('.bias'))).toBe(false);
  });

  it('numKvHeads, numLayers, ropeScaling, maxPositionEmbeddings and dtype reach config and weights', async () => {
    const ropeScaling = { rope_type: 'linear', factor: 2 };
    const { config, weights, tokenizer } = await writeAndLoad({ preset: 'tiny', numKvHeads: 1, numLayers: 3, ropeScaling, maxPositionEmbeddings: 512, dtype: 'F16' });
    expect(config).toMatchObject({ numKvHeads: 1, numLayers: 3, ropeScaling, maxPositionEmbeddings: 512, torchDtype: 'float16' });
    expect(weights.shape('model.layers.2.self_attn.v_proj.weight')).toEqual([16, 64]);
    expect(weights.dtype('model.layers.2.self_attn.v_proj.weight')).toBe('F16');
    expect(tokenizer.vocabularySize).toBe(509);
  });

  it('a layer keeps its values when the layer count changes (tensors are seeded by name)', async () => {
    const two = await writeAndLoad({ preset: 'tiny', seed: 3 });
    const one = await writeAndLoad({ preset: 'tiny', seed: 3, numLayers: 1 });
    expect(one.weights.float32('model.layers.0.mlp.up_proj.weight')).toEqual(two.weights.float32('model.layers.0.mlp.up_proj.weight'));
  });

  it('rejects overrides the architecture cannot express', () => {
    expect(() => resolveFixture({ preset: 'tiny', numKvHeads: 3 })).toThrow(/does not divide/);
    expect(() => resolveFixture({ preset: 'tiny', architecture: 'Qwen2ForCausalLM', attentionBias: false })).toThrow(/always has q\/k\/v biases/);
    expect(() => resolveFixture({ preset: 'tiny', architecture: 'MistralForCausalLM', attentionBias: true })).toThrow(/no attention biases/);
    expect(() => resolveFixture({ preset: 'tiny', numLayers: 0 })).toThrow(/numLayers/);
    expect(() => resolveFixture({ preset: 'huge' as never })).toThrow(/unknown fixture preset/);
  });
});

describe('writeFixture: shards', () => {
  it('shardCount 3 writes model-0000X-of-00003 files and an index the loader follows, with the same values', async () => {
    const directory = freshDirectory();
    await writeFixture(directory, { preset: 'tiny', shardCount: 3, seed: 5 });
    const shardNames = ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'];
    expect(readdirSync(directory).filter((name) => name.endsWith('.safetensors')).sort()).toEqual(shardNames);
    const index = readJson(join(directory, 'model.safetensors.index.json')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shardNames));
    const parameters = Object.keys(index.weight_map).length;
    expect(parameters).toBe(2 + 2 * 9);
    let dataBytes = 0;
    for (const shard of shardNames) {
      const file = await openSafetensors(join(directory, shard));
      for (const name of file.names) {
        expect(index.weight_map[name]).toBe(shard);
        dataBytes += file.entry(name).byteLength;
      }
      await file.close();
    }
    expect(index.metadata.total_size).toBe(dataBytes);

    const sharded = await loadCheckpoint(directory);
    opened.push(sharded);
    const single = await writeAndLoad({ preset: 'tiny', seed: 5 });
    for (const name of single.weights.names) expect(sharded.weights.float32(name), name).toEqual(single.weights.float32(name));

    // Rewriting the directory unsharded removes the old shards and index, so they cannot shadow the new weights.
    await writeFixture(directory, { preset: 'tiny', seed: 6 });
    expect(readdirSync(directory).filter((name) => name.startsWith('model'))).toEqual(['model.safetensors']);
  });
});

describe('presets at real sizes', () => {
  it('qwen2.5-0.5b config has the real Qwen2.5-0.5B shape (not generated: 1 GB)', () => {
    const { config, tokenizer, dtype } = resolveFixture({ preset: 'qwen2.5-0.5b' });
    expect(dtype).toBe('BF16');
    expect(config).toMatchObject({
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      vocab_size: 151936,
      rope_theta: 1000000,
      rms_norm_eps: 1e-6,
      max_position_embeddings: 32768,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      eos_token_id: tokenizer.specialTokenIds.imEnd,
    });
    expect((config.hidden_size as number) / (config.num_attention_heads as number)).toBe(64);
    expect(tokenizer.vocabularySize).toBe(256 + 2000 + 3);
  });

  it('smollm2-135m: the real SmolLM2-135M shape and parameter count, BF16, in seconds', async () => {
    const directory = freshDirectory();
    const started = performance.now();
    const result = await writeFixture(directory, { preset: 'smollm2-135m' });
    const seconds = (performance.now() - started) / 1000;
    expect(result.config).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      hidden_size: 576,
      intermediate_size: 1536,
      num_hidden_layers: 30,
      num_attention_heads: 9,
      num_key_value_heads: 3,
      head_dim: 64,
      vocab_size: 49152,
      rope_theta: 100000,
      rms_norm_eps: 1e-5,
      max_position_embeddings: 8192,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
    });
    expect(result.parameterCount).toBe(134_515_008);
    const file = await openSafetensors(join(directory, 'model.safetensors'));
    try {
      expect(file.names).toHaveLength(2 + 30 * 9);
      expect(file.entry('model.embed_tokens.weight')).toMatchObject({ dtype: 'BF16', shape: [49152, 576] });
      expect(file.entry('model.layers.29.self_attn.k_proj.weight')).toMatchObject({ dtype: 'BF16', shape: [192, 576] });
      expect(file.entry('model.layers.29.mlp.gate_proj.weight')).toMatchObject({ dtype: 'BF16', shape: [1536, 576] });
      expect(file.has('lm_head.weight')).toBe(false);
    } finally {
      await file.close();
    }
    expect(result.bytesWritten).toBeGreaterThan(result.parameterCount * 2);
    console.log(`smollm2-135m fixture: ${seconds.toFixed(1)} s`);
    rmSync(directory, { recursive: true, force: true });
  }, 180_000);
});

describe('tome model fixture', () => {
  async function runCli(...args: string[]): Promise<{ code: number; stdout: string }> {
    const program = new Command('tome').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    addModelCommands(program);
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      await program.parseAsync(['node', 'tome', 'model', 'fixture', ...args]);
      return { code: 0, stdout: writes.join('') };
    } catch (error) {
      return { code: reportError(error, { write: () => true } as unknown as NodeJS.WritableStream), stdout: writes.join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it('writes the fixture and prints a summary line or JSON', async () => {
    const directory = freshDirectory();
    const text = await runCli(directory, '--preset', 'tiny', '--seed', '4');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^tome: wrote tiny fixture \(seed 4, 119,104 parameters, .*\) to .* in [\d.]+ s\n$/);
    const json = await runCli(directory, '--preset', 'tiny', '--dtype', 'bf16', '--json');
    expect(json.code).toBe(0);
    const summary = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(Object.keys(summary).sort()).toEqual(['bytesWritten', 'directory', 'parameterCount', 'preset', 'seconds']);
    expect(summary).toMatchObject({ directory, preset: 'tiny', parameterCount: 119_104 });
    expect(readJson(join(directory, 'config.json')).torch_dtype).toBe('bfloat16');
  });

  it('rejects an unknown preset, dtype or seed with the usage exit code', async () => {
    expect((await runCli(freshDirectory(), '--preset', 'gpt-5')).code).toBe(2);
    expect((await runCli(freshDirectory(), '--dtype', 'F8')).code).toBe(2);
    expect((await runCli(freshDirectory(), '--seed', '-1')).code).toBe(2);
  });
});
