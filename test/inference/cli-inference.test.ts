import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Run the CLI from source, as a user would run the built one. */
function tome(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TOME_DEBUG: '' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let directory: string;
let checkpoint: string;
beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'tome-cli-inference-'));
  checkpoint = join(directory, 'tiny');
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('tome model fixture → tome generate', { timeout: 120_000 }, () => {
  it('writes the tiny fixture and reports it as JSON', () => {
    const { code, stdout, stderr } = tome('model', 'fixture', checkpoint, '--preset', 'tiny', '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as { parameterCount: number; preset: string };
    expect(summary.preset).toBe('tiny');
    expect(summary.parameterCount).toBeGreaterThan(100_000);
  });

  it('generates greedily with --json: the documented fields, exactly --max-tokens tokens or an earlier stop, reproducible', () => {
    const run = () => tome('generate', '--model', `onnx:${checkpoint}`, '--prompt', 'The whale', '--max-tokens', '12', '--json');
    const first = run();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const result = JSON.parse(first.stdout) as Record<string, unknown>;
    expect(Object.keys(result).sort()).toEqual(['decodeMs', 'finishReason', 'prefillMs', 'promptTokens', 'text', 'tokens']);
    expect(result['promptTokens']).toBeGreaterThan(0);
    expect(result['tokens']).toBeLessThanOrEqual(12);
    if (result['finishReason'] === 'length') expect(result['tokens']).toBe(12);
    expect(JSON.parse(run().stdout)['text']).toBe(result['text']);
  });

  it('streams text to stdout and a tokens/s line to stderr; --prompt-file and --chat work', () => {
    const promptFile = join(directory, 'prompt.txt');
    writeFileSync(promptFile, 'Call me Ishmael.');
    const { code, stdout, stderr } = tome('generate', '--model', `onnx:${checkpoint}`, '--prompt-file', promptFile, '--chat', '--max-tokens', '6', '--temperature', '0.8', '--seed', '3');
    expect(code).toBe(0);
    expect(stdout.endsWith('\n')).toBe(true);
    expect(stderr).toMatch(/tome: \d+ tokens \((length|eos|stop)\); prefill \d+ tokens in [\d.]+ ms \([\d.]+ tok\/s\), decode [\d.]+ tok\/s/);
  });

  it('tome bench inference --json reports throughput and the two roofs measured in the same run', () => {
    const { code, stdout, stderr } = tome('bench', 'inference', '--model', `onnx:${checkpoint}`, '--chunk', '32', '--decode-tokens', '4', '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as Record<string, number> & { rounds: Record<string, number>[] };
    for (const key of ['prefillTokPerS', 'firstPrefillTokPerS', 'decodeTokPerS', 'prefillRoofTokPerS', 'decodeRoofTokPerS']) expect(result[key], key).toBeGreaterThan(0);
    // Seven rounds, each with its own ratios; the reported figures are their medians (the fourth of seven sorted).
    expect(result.rounds).toHaveLength(7);
    const middle = (key: string) => result.rounds.map((entry) => entry[key]!).sort((left, right) => left - right)[3];
    for (const key of ['prefillTokPerS', 'decodeTokPerS', 'matmulGflops', 'bandwidthGBps', 'prefillShareOfRoof', 'decodeShareOfRoof']) expect(result[key], key).toBe(middle(key));
    // Each round's share is its own throughput over its own roof (to the rounding of the printed figures).
    for (const entry of result.rounds) {
      const share = entry['prefillTokPerS']! / ((entry['matmulGflops']! * 1e9) / (2 * result['nonEmbeddingParameters']!));
      expect(entry['prefillShareOfRoof']! / share).toBeCloseTo(1, 1);
    }
    // A roof window's rate is its total work over its total time, so its fastest run is at least as fast; the peaks
    // reported are the fastest runs of any round.
    for (const entry of result.rounds) {
      expect(entry['matmulPeakGflops']).toBeGreaterThanOrEqual(entry['matmulGflops']! - 0.1);
      expect(entry['bandwidthPeakGBps']).toBeGreaterThanOrEqual(entry['bandwidthGBps']! - 0.1);
    }
    expect(result['matmulPeakGflops']).toBe(Math.max(...result.rounds.map((entry) => entry['matmulPeakGflops']!)));
    expect(result['bandwidthPeakGBps']).toBe(Math.max(...result.rounds.map((entry) => entry['bandwidthPeakGBps']!)));
  });

  it('generate --quantize int4 runs the MatMulNBits engine', () => {
    const { code, stdout } = tome('generate', '--model', `onnx:${checkpoint}`, '--prompt', 'The whale', '--max-tokens', '4', '--quantize', 'int4', '--json');
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { tokens: number }).tokens).toBeGreaterThan(0);
  });

  it('bad input exits 2 with a message and a fix, no stack trace', () => {
    for (const args of [
      ['generate', '--model', 'extractive', '--prompt', 'x'],
      ['generate', '--model', `onnx:${join(directory, 'missing')}`, '--prompt', 'x'],
      ['generate', '--model', `onnx:${checkpoint}`],
      ['generate', '--model', `onnx:${checkpoint}`, '--prompt', 'x', '--temperature', '-1'],
      ['model', 'fixture', join(directory, 'other'), '--preset', 'huge'],
      ['generate', '--model', `onnx:${checkpoint}`, '--prompt', 'x', '--quantize', 'int3'],
    ]) {
      const { code, stderr } = tome(...args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('--model onnx:<dir> works for the document commands (ask --method truncate)', () => {
    const document = join(directory, 'doc.txt');
    writeFileSync(document, 'Ishmael went to sea. The whale was white. '.repeat(20));
    const { code, stdout, stderr } = tome('ask', document, 'What colour was the whale?', '--method', 'truncate', '--model', `onnx:${checkpoint}`, '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { model: string; modelCalls: number };
    expect(result.model).toBe(`onnx:${checkpoint}`);
    expect(result.modelCalls).toBe(1);
  });
});

// Each case spawns the CLI (tsx + ONNX Runtime start-up: 3–8 s on a loaded 2-core machine).
describe('tome generate past the trained window: --attention and --rope', { timeout: 180_000 }, () => {
  let short: string;
  let longPrompt: string;
  beforeAll(() => {
    // A checkpoint trained on 128 positions, and a prompt of a few hundred tokens.
    short = join(directory, 'tiny-128');
    expect(tome('model', 'fixture', short, '--preset', 'tiny', '--max-position-embeddings', '128').code).toBe(0);
    expect((JSON.parse(readFileSync(join(short, 'config.json'), 'utf8')) as { max_position_embeddings: number }).max_position_embeddings).toBe(128);
    longPrompt = 'Call me Ishmael. Some years ago, never mind how long precisely, having little money in my purse. '.repeat(12);
  }, 60_000);

  const generateLong = (...extra: string[]) => tome('generate', '--model', `onnx:${short}`, '--prompt', longPrompt, '--max-tokens', '4', '--json', ...extra);

  it('full attention refuses a prompt past the window; blocks, streaming, knn and a RoPE extension read it', () => {
    const refused = generateLong();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/prompt/i);
    // (Every mode and RoPE type is covered in-process by attention-modes and onnx-engine tests; here: the flags.)
    for (const extra of [['--attention', 'knn', '--attention-opts', 'topK=16'], ['--attention', 'blocks', '--rope', 'dynamic:2']]) {
      const { code, stdout, stderr } = generateLong(...extra);
      expect(stderr, extra.join(' ')).toBe('');
      expect(code, extra.join(' ')).toBe(0);
      const result = JSON.parse(stdout) as { promptTokens: number; tokens: number };
      expect(result.promptTokens).toBeGreaterThan(128);
      expect(result.tokens).toBeGreaterThan(0);
    }
  });

  it('bad attention or RoPE options exit 2 naming the option and the fix', () => {
    for (const [extra, pattern] of [
      [['--attention', 'blocks', '--attention-opts', 'window=500'], /maxDistance/],
      [['--rope', 'yarn:0.5'], /factor ≥ 1/],
      [['--attention', 'blocks', '--context-window', '50'], /exceeds the 50-token context window[\s\S]*--attention/],
    ] as const) {
      const { code, stderr } = generateLong(...extra);
      expect(code, extra.join(' ')).toBe(2);
      expect(stderr).toMatch(pattern);
      expect(stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('tome bench attention --json prints one row per mode and context', () => {
    const { code, stdout, stderr } = tome('bench', 'attention', '--model', `onnx:${short}`, '--modes', 'full,blocks,knn', '--contexts', '300,600', '--decode-tokens', '8', '--decode-rounds', '3', '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.map((row) => `${String(row['mode'])}@${String(row['contextTokens'])}`)).toEqual(['full@300', 'full@600', 'blocks@300', 'blocks@600', 'knn@300', 'knn@600']);
    for (const row of rows) {
      expect(row['decodeMsPerToken']).toBeGreaterThan(0);
      // The median of three rounds lies within their range.
      const [fastest, slowest] = row['decodeRangeMsPerToken'] as [number, number];
      expect(fastest).toBeLessThanOrEqual(row['decodeMsPerToken'] as number);
      expect(slowest).toBeGreaterThanOrEqual(row['decodeMsPerToken'] as number);
      expect(row['rssMb']).toBeGreaterThan(0);
      if (row['mode'] === 'full') expect(row['recall']).toBeNull();
      else expect(row['recall']).toBeGreaterThanOrEqual(0.9);
    }
  });
});
