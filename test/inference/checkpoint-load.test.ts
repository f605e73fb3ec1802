import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../inference/checkpoint/load-checkpoint.js';
import { float32ToBfloat16, bfloat16ToFloat32, writeSafetensors } from '../../inference/checkpoint/safetensors.js';
import type { LoadedCheckpoint } from '../../inference/checkpoint/types.js';
import { openWeightStore } from '../../inference/checkpoint/weight-store.js';
import { expectLoadError, TINY_CONFIG, tinyTensors, tinyTokenizerJson, tempDir, writeJson, writeTinyCheckpoint } from './checkpoint-helpers.js';

const opened: LoadedCheckpoint[] = [];
async function load(directory: string): Promise<LoadedCheckpoint> {
  const checkpoint = await loadCheckpoint(directory);
  opened.push(checkpoint);
  return checkpoint;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((checkpoint) => checkpoint.weights.close()));
});

describe('loadCheckpoint: a valid tiny Llama', () => {
  it('loads config, weights and tokenizer', async () => {
    const directory = await writeTinyCheckpoint();
    const { config, weights, tokenizer } = await load(directory);
    expect(config).toMatchObject({ architecture: 'LlamaForCausalLM', hiddenSize: 8, numLayers: 2, numKvHeads: 1, headDim: 4 });
    expect(weights.shape('model.layers.1.self_attn.k_proj.weight')).toEqual([4, 8]);
    expect(weights.dtype('model.norm.weight')).toBe('BF16');
    const expected = tinyTensors()['model.norm.weight']!.data;
    expect(weights.float32('model.norm.weight')).toEqual(Float32Array.from(expected, (v) => bfloat16ToFloat32(float32ToBfloat16(v))));
    expect(tokenizer.vocabularySize).toBe(264);
    expect(tokenizer.bosTokenId).toBe(260);
    // config eos (261) ∪ tokenizer_config eos_token (<|im_end|> = 263)
    expect([...tokenizer.eosTokenIds].sort()).toEqual([261, 263]);
  });

  it('encodes with merges and special tokens, and decodes skipping special tokens', async () => {
    const { tokenizer } = await load(await writeTinyCheckpoint());
    const ids = tokenizer.encode('hello hi');
    // "hello" merges fully; " hi" is Ġ (space) + h + i.
    expect(ids[0]).toBe(259);
    expect(tokenizer.decode(ids)).toBe('hello hi');
    expect(tokenizer.encode('hello', { addSpecialTokens: true })).toEqual([260, 259]);
    expect(tokenizer.encode('<|im_start|>hello<|im_end|>')).toEqual([262, 259, 263]);
    expect(tokenizer.decode([260, 259, 263])).toBe('hello');
    expect(tokenizer.decode([260, 259, 263], { skipSpecialTokens: false })).toBe('<s>hello<|im_end|>');
    expect(tokenizer.decode([])).toBe('');
  });

  it('renders the chat template with special tokens and the generation prompt', async () => {
    const { tokenizer } = await load(await writeTinyCheckpoint());
    expect(tokenizer.hasChatTemplate).toBe(true);
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hello' },
    ] as const;
    expect(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
      '<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(tokenizer.applyChatTemplate(messages)).not.toContain('assistant');
  });

  it('uses the "default" entry of a list of named templates, and adds generation_config eos ids', async () => {
    const directory = await writeTinyCheckpoint({
      tokenizerConfig: { eos_token: { content: '</s>' }, bos_token: '<s>', chat_template: [{ name: 'tool_use', template: 'TOOLS' }, { name: 'default', template: '{{ messages[0].content }}!' }] },
      generationConfig: { eos_token_id: [263, 261] },
    });
    const { tokenizer } = await load(directory);
    expect(tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('hi!');
    expect([...tokenizer.eosTokenIds].sort()).toEqual([261, 263]);
  });

  it('prefers chat_template.jinja', async () => {
    const directory = await writeTinyCheckpoint();
    writeFileSync(join(directory, 'chat_template.jinja'), '[{{ messages | length }}]');
    const { tokenizer } = await load(directory);
    expect(tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('[1]');
  });

  it('loads sharded weights through model.safetensors.index.json', async () => {
    const directory = await writeTinyCheckpoint({ shards: 3 });
    const { weights } = await load(directory);
    expect(weights.names.length).toBe(Object.keys(tinyTensors()).length);
    expect(weights.shape('lm_head.weight')).toEqual([264, 8]);
    expect(weights.float32('model.layers.0.mlp.down_proj.weight')).toHaveLength(8 * 16);
  });

  it('tied embeddings need no lm_head, and F32/F16 weights load too', async () => {
    const config = { ...TINY_CONFIG, tie_word_embeddings: true };
    const { config: parsed, weights } = await load(await writeTinyCheckpoint({ config, tensors: tinyTensors(config, 'F16') }));
    expect(parsed.tieWordEmbeddings).toBe(true);
    expect(weights.has('lm_head.weight')).toBe(false);
    expect(weights.dtype('model.embed_tokens.weight')).toBe('F16');
  });

  it('a Qwen2 checkpoint with its q/k/v biases', async () => {
    const config = { ...TINY_CONFIG, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' };
    const { config: parsed, weights } = await load(await writeTinyCheckpoint({ config }));
    expect(parsed.qkvBias).toBe(true);
    expect(weights.shape('model.layers.0.self_attn.k_proj.bias')).toEqual([4]);
  });
});

describe('loadCheckpoint: broken checkpoints', () => {
  it('missing directory', async () => {
    const directory = join(tempDir(), 'nope');
    await expectLoadError(loadCheckpoint(directory), 'MODEL_FILE_MISSING', directory, 'no such directory');
  });

  it('a file instead of a directory', async () => {
    const file = join(tempDir(), 'file');
    writeFileSync(file, 'x');
    await expectLoadError(loadCheckpoint(file), 'MODEL_FILE_MISSING', file, 'not a directory');
  });

  it('missing config.json', async () => {
    const directory = await writeTinyCheckpoint();
    rmSync(join(directory, 'config.json'));
    await expectLoadError(loadCheckpoint(directory), 'MODEL_FILE_MISSING', join(directory, 'config.json'));
  });

  it('config.json that is not JSON', async () => {
    const directory = await writeTinyCheckpoint();
    writeFileSync(join(directory, 'config.json'), '{"architectures": [');
    await expectLoadError(loadCheckpoint(directory), 'MODEL_FILE_INVALID', join(directory, 'config.json'), 'not valid JSON');
  });

  it('unsupported architecture', async () => {
    const directory = await writeTinyCheckpoint({ config: { ...TINY_CONFIG, architectures: ['PhiForCausalLM'] }, tensors: tinyTensors() });
    await expectLoadError(loadCheckpoint(directory), 'MODEL_ARCHITECTURE_UNSUPPORTED', join(directory, 'config.json'), '[architectures]', 'PhiForCausalLM');
  });

  it('no safetensors at all', async () => {
    const directory = await writeTinyCheckpoint();
    rmSync(join(directory, 'model.safetensors'));
    await expectLoadError(loadCheckpoint(directory), 'MODEL_FILE_MISSING', join(directory, 'model.safetensors'), 'model.safetensors.index.json');
  });

  it('pickle-only checkpoint', async () => {
    const directory = await writeTinyCheckpoint();
    rmSync(join(directory, 'model.safetensors'));
    writeFileSync(join(directory, 'pytorch_model.bin'), 'PK');
    const error = await expectLoadError(loadCheckpoint(directory), 'MODEL_FILE_MISSING', 'model.safetensors', 'pytorch_model.bin', 'only safetensors');
    expect(error.fix).toContain('safe_serialization=True');
  });

  it('truncated safetensors', async () => {
    const directory = await writeTinyCheckpoint();
    const path = join(directory, 'model.safetensors');
    const { truncateSync, statSync } = await import('node:fs');
    truncateSync(path, statSync(path).size - 4);
    await expectLoadError(loadCheckpoint(directory), 'MODEL_FILE_INVALID', path, '[lm_head.weight]', 'past the end');
  });

  it('a tensor shape that disagrees with config.json names tensor, shapes and field', async () => {
    const tensors = tinyTensors();
    tensors['model.layers.1.self_attn.k_proj.weight'] = { dtype: 'BF16', shape: [8, 8], data: new Float32Array(64) };
    const directory = await writeTinyCheckpoint({ tensors });
    await expectLoadError(
      loadCheckpoint(directory),
      'MODEL_WEIGHTS_MISMATCH',
      join(directory, 'model.safetensors'),
      '[model.layers.1.self_attn.k_proj.weight]',
      'shape [8, 8]',
      '[4, 8]',
      'num_key_value_heads',
    );
  });

  it('a vocab mismatch names vocab_size', async () => {
    const directory = await writeTinyCheckpoint({ tensors: tinyTensors(), config: { ...TINY_CONFIG, vocab_size: 300 } });
    await expectLoadError(loadCheckpoint(directory), 'MODEL_WEIGHTS_MISMATCH', '[model.embed_tokens.weight]', '[300, 8]', 'vocab_size');
  });

  it('a missing tensor', async () => {
    const tensors = tinyTensors();
    delete tensors['model.layers.1.mlp.up_proj.weight'];
    const directory = await writeTinyCheckpoint({ tensors });
    await expectLoadError(loadCheckpoint(directory), 'MODEL_WEIGHTS_MISMATCH', '[model.layers.1.mlp.up_proj.weight]', 'missing', 'intermediate_size');
  });

  it('lm_head missing when embeddings are not tied', async () => {
    const tensors = tinyTensors();
    delete tensors['lm_head.weight'];
    const directory = await writeTinyCheckpoint({ tensors });
    await expectLoadError(loadCheckpoint(directory), 'MODEL_WEIGHTS_MISMATCH', '[lm_head.weight]', 'tie_word_embeddings');
  });

  it('a bias the config does not announce', async () => {
    const tensors = tinyTensors();
    tensors['model.layers.0.self_attn.q_proj.bias'] = { dtype: 'BF16', shape: [8], data: new Float32Array(8) };
    const directory = await writeTinyCheckpoint({ tensors });
    await expectLoadError(loadCheckpoint(directory), 'MODEL_WEIGHTS_MISMATCH', '[model.layers.0.self_attn.q_proj.bias]', 'attention_bias');
  });

  it('a missing shard names the shard and the index', async () => {
    const directory = await writeTinyCheckpoint({ shards: 2 });
    rmSync(join(directory, 'model-00002-of-00002.safetensors'));
    await expectLoadError(loadCheckpoint(directory), 'MODEL_FILE_MISSING', 'model.safetensors.index.json', 'model-00002-of-00002.safetensors');
  });

  it('an index whose weight_map is broken, or points at a shard without the tensor', async () => {
    const directory = await writeTinyCheckpoint({ shards: 2 });
    const index = join(directory, 'model.safetensors.index.json');
    writeJson(index, { weight_map: [] });
    await expectLoadError(openWeightStore(directory), 'MODEL_FILE_INVALID', index, '[weight_map]');
    writeJson(index, { weight_map: { 'model.norm.weight': '../elsewhere.safetensors' } });
    await expectLoadError(openWeightStore(directory), 'MODEL_FILE_INVALID', index, '[weight_map]');
    writeJson(index, { weight_map: { 'model.extra.weight': 'model-00001-of-00002.safetensors' } });
    await expectLoadError(openWeightStore(directory), 'MODEL_WEIGHTS_MISMATCH', 'model-00001-of-00002.safetensors', '[model.extra.weight]');
  });

  it('tokenizer.json missing', async () => {
    const directory = await writeTinyCheckpoint();
    rmSync(join(directory, 'tokenizer.json'));
    await expectLoadError(loadCheckpoint(directory), 'MODEL_FILE_MISSING', join(directory, 'tokenizer.json'));
  });

  it('tokenizer.json that is not JSON', async () => {
    const directory = await writeTinyCheckpoint({ tokenizer: '{"model": ' });
    await expectLoadError(loadCheckpoint(directory), 'MODEL_TOKENIZER_INVALID', join(directory, 'tokenizer.json'), 'not valid JSON');
  });

  it('tokenizer without a vocab, or with an empty one', async () => {
    const noVocab = tinyTokenizerJson();
    noVocab.model = { type: 'BPE', merges: [] };
    const first = await writeTinyCheckpoint({ tokenizer: noVocab });
    await expectLoadError(loadCheckpoint(first), 'MODEL_TOKENIZER_INVALID', join(first, 'tokenizer.json'), '[model.vocab]', 'missing');
    const empty = tinyTokenizerJson();
    empty.model = { type: 'BPE', vocab: {}, merges: [] };
    const second = await writeTinyCheckpoint({ tokenizer: empty });
    await expectLoadError(loadCheckpoint(second), 'MODEL_TOKENIZER_INVALID', join(second, 'tokenizer.json'), '[model.vocab]', 'empty');
  });

  it('a tokenizer producing ids beyond vocab_size', async () => {
    const config = { ...TINY_CONFIG, vocab_size: 262 };
    const directory = await writeTinyCheckpoint({ config, tensors: tinyTensors(config) });
    await expectLoadError(loadCheckpoint(directory), 'MODEL_TOKENIZER_INVALID', '[model.vocab]', 'vocab_size 262');
  });

  it('applyChatTemplate without a template names tokenizer_config.json', async () => {
    const directory = await writeTinyCheckpoint({ tokenizerConfig: { bos_token: '<s>' } });
    const { tokenizer } = await load(directory);
    expect(tokenizer.hasChatTemplate).toBe(false);
    await expectLoadError(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]), 'MODEL_TOKENIZER_INVALID', join(directory, 'tokenizer_config.json'), '[chat_template]');
  });

  it('a template list without "default" counts as no template', async () => {
    const directory = await writeTinyCheckpoint({ tokenizerConfig: { chat_template: [{ name: 'rag', template: 'x' }] } });
    const { tokenizer } = await load(directory);
    expect(tokenizer.hasChatTemplate).toBe(false);
    await expectLoadError(() => tokenizer.applyChatTemplate([]), 'MODEL_TOKENIZER_INVALID', '[chat_template]', 'default');
  });

  it('a chat template that does not parse', async () => {
    const directory = await writeTinyCheckpoint({ tokenizerConfig: { chat_template: '{% for m in messages %}' } });
    await expectLoadError(loadCheckpoint(directory), 'MODEL_TOKENIZER_INVALID', join(directory, 'tokenizer_config.json'), '[chat_template]');
  });

  it('a template that raises while rendering', async () => {
    const directory = await writeTinyCheckpoint({ tokenizerConfig: { chat_template: "{{ raise_exception('roles must alternate') }}" } });
    const { tokenizer } = await load(directory);
    await expectLoadError(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]), 'MODEL_TOKENIZER_INVALID', '[chat_template]', 'roles must alternate');
  });

  it('a corrupt safetensors file closes nothing it did not open and names the file', async () => {
    const directory = tempDir();
    mkdirSync(directory, { recursive: true });
    await writeTinyCheckpoint({}, directory);
    await writeSafetensors(join(directory, 'model.safetensors'), {});
    await expectLoadError(loadCheckpoint(directory), 'MODEL_WEIGHTS_MISMATCH', '[model.embed_tokens.weight]', 'missing');
  });
});
