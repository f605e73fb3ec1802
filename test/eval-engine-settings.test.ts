import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { CellRecord } from '../index.js';
import { writeFixture } from '../inference/fixture/index.js';
import { main } from '../src/cli/main.js';

/*
 * End to end: `tome eval --model onnx:<dir>` with the engine's attention modes and RoPE scaling as method settings,
 * on a real (random-weight) checkpoint trained on 128 positions. Without a setting the model's window (128 tokens)
 * cannot hold the method's prompt; `rope=yarn:4` stretches it to 512, `attention=blocks` to 100 × 128.
 */
let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'tome-eval-onnx-'));
  await writeFixture(join(directory, 'model'), { preset: 'tiny', maxPositionEmbeddings: 128 });
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('tome eval with onnx: engine settings', () => {
  it('passes attention=, attn-<option>=, rope= and rope-<parameter>= to the engine per method variant; bad settings fail their cells, typed', async () => {
    const out = join(directory, 'out');
    const model = `onnx:${join(directory, 'model')}`;
    const methods = ['truncate', 'truncate@attention=blocks', 'truncate@attention=blocks+attn-topK=2', 'truncate@rope=yarn:4', 'truncate@rope=yarn:4+rope-attention_factor=2', 'truncate@attention=sideways', 'truncate@attn-bogus=1', 'truncate@rope=sideways:2', 'truncate@rope-attention_factor=2', 'truncate@flash=on'];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    onTestFinished(() => (stdout.mockRestore(), stderr.mockRestore()));
    expect(await main(['node', 'tome', 'eval', 'passkey', '--model', model, '--methods', methods.join(','), '--lengths', '1k', '--samples', '1', '--out', out, '--json'])).toBe(0);
    const { cells } = JSON.parse(String(stdout.mock.calls.at(-1)![0])) as { cells: CellRecord[] };
    const cell = (method: string) => cells.find((candidate) => candidate.method === method)!;
    expect(cells.map((candidate) => candidate.method)).toEqual(methods);
    expect(cells.every((candidate) => candidate.tokens === 1024)).toBe(true);

    // The checkpoint as trained: a 128-token window, too small for any prompt with a 200-token answer reserve.
    expect(cell('truncate')).toMatchObject({ score: 0, modelCalls: 0, error: { code: 'INVALID_OPTION', message: expect.stringContaining('128') } });
    // blocks: 100 × 128 tokens, so truncation keeps the whole 1k-token document in one prompt.
    for (const method of ['truncate@attention=blocks', 'truncate@attention=blocks+attn-topK=2']) {
      expect(cell(method).error, method).toBeUndefined();
      expect(cell(method).modelCalls).toBe(1);
      // The document is 1k tokens by the checkpoint's own tokenizer (the model as given cannot open, its variants
      // can, and the grid sizes documents with theirs): the prompt is the document and a short question around it.
      expect(cell(method).inputTokens).toBeGreaterThan(1024);
      expect(cell(method).inputTokens).toBeLessThan(1024 + 200);
      expect(cell(method).outputTokens).toBeGreaterThan(0);
    }
    // Greedy decoding of fixed weights: a different topK (3 blocks by default for L = 128) retrieves other blocks.
    expect(cell('truncate@attention=blocks+attn-topK=2').answer).not.toBe(cell('truncate@attention=blocks').answer);
    // yarn:4: 4 × 128 = 512 tokens, so the prompt is cut to fit 512 with the answer reserve; rope-beta_fast= (an
    // extra --rope parameter) scales the attention logits, so greedy decoding writes another answer.
    for (const method of ['truncate@rope=yarn:4', 'truncate@rope=yarn:4+rope-attention_factor=2']) {
      expect(cell(method).error, method).toBeUndefined();
      expect(cell(method).modelCalls).toBe(1);
      expect(cell(method).inputTokens).toBeGreaterThan(128);
      expect(cell(method).inputTokens).toBeLessThanOrEqual(512 - 200);
    }
    expect(cell('truncate@rope=yarn:4+rope-attention_factor=2').answer).not.toBe(cell('truncate@rope=yarn:4').answer);
    // Settings the engine refuses: its own typed errors, and the hook's for a key it does not know.
    expect(cell('truncate@attention=sideways')).toMatchObject({ score: 0, error: { code: 'INVALID_OPTION', message: expect.stringContaining('sideways') } });
    expect(cell('truncate@attn-bogus=1')).toMatchObject({ score: 0, error: { code: 'INVALID_OPTION', message: expect.stringContaining('bogus') } });
    expect(cell('truncate@rope=sideways:2')).toMatchObject({ score: 0, error: { code: 'MODEL_CONFIG_INVALID', message: expect.stringContaining('sideways') } });
    expect(cell('truncate@rope-attention_factor=2')).toMatchObject({ score: 0, error: { code: 'MODEL_SPEC_INVALID', message: expect.stringContaining('without rope=') } });
    expect(cell('truncate@flash=on')).toMatchObject({ score: 0, error: { code: 'MODEL_SPEC_INVALID', message: expect.stringContaining('flash=on') } });

    const report = await readFile(join(out, 'report.md'), 'utf8');
    for (const method of methods) expect(report).toContain(`| ${method} |`);
    expect(report).toMatch(/## Failed cells[\s\S]*`truncate@attention=sideways`: INVALID_OPTION/);
    expect((await readFile(join(out, 'cells.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(methods.length);
  }, 60_000);
});
