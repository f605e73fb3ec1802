import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttentionBenchRow } from 'tome/inference';

/**
 * Attention past the window (`tome bench attention`, one process per mode): per-token decode latency, resident
 * memory and retrieval recall as the context grows, on the tiny fixture (4k → 1M tokens) and on smollm2-135m
 * (1k → 4k; its prefill runs ~200 tok/s here, so 1M would take hours). Targets: streaming / blocks / knn decode
 * latency grows ≤ 1.3× from 4k to 1M; recall ≥ 0.95; blocks prefill of 1M tokens ≥ 0.7× plain 4k prefill.
 * Each decode figure is the median of timed rounds (5 on tiny, 3 on smollm2), each round spanning a retrieval cell,
 * so one round slowed by the machine cannot decide a ratio.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export type AttentionRow = AttentionBenchRow;

function run(args: string[]): AttentionRow[] {
  const output = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'bench', 'attention', '--json', ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 22 });
  return output.trim().split('\n').map((line) => JSON.parse(line) as AttentionRow);
}

const ratio = (value: number) => Math.round(value * 100) / 100;

export async function benchAttention() {
  const tiny = run(['--preset', 'tiny', '--contexts', '4k,32k,128k,1m']);
  // Blocks with the memory spilled to disk: resident memory should stay flat as the context grows.
  const tinyDisk = run(['--preset', 'tiny', '--modes', 'blocks', '--contexts', '4k,128k,1m', '--attention-opts', 'offload=disk']);
  // smollm2 (L = 8192) prefills ~200 tok/s here and full attention at 10k holds ~14 GB of ORT buffers, so it runs
  // at 1k and 4k with a small layout (window 512, cells of 128) that puts retrieval to work at those sizes.
  const layout = 'sinks=16,window=512,blockSize=64,stepSize=128';
  const smollm2 = [
    ...run(['--preset', 'smollm2-135m', '--modes', 'full,streaming,blocks', '--contexts', '1k,4k', '--attention-opts', `${layout},topK=4`, '--decode-tokens', '16', '--decode-rounds', '3']),
    ...run(['--preset', 'smollm2-135m', '--modes', 'knn', '--contexts', '1k,4k', '--attention-opts', `${layout},topK=256`, '--decode-tokens', '16', '--decode-rounds', '3']),
  ];
  const at = (rows: AttentionRow[], mode: string, context: number) => rows.find((row) => row.mode === mode && row.contextTokens === context);
  const growth = Object.fromEntries(
    ['streaming', 'blocks', 'knn'].map((mode) => {
      const small = at(tiny, mode, 4000)?.decodeMsPerToken;
      const large = at(tiny, mode, 1_000_000)?.decodeMsPerToken;
      return [mode, small && large ? ratio(large / small) : null];
    }),
  );
  const fullRows = tiny.filter((row) => row.mode === 'full');
  const fullInfeasibleAt = fullRows.find((row) => row.infeasibleProjectedSeconds !== undefined)?.contextTokens ?? null;
  const fullGrowth = (() => {
    const measured = fullRows.filter((row) => row.decodeMsPerToken !== null);
    return measured.length >= 2 ? { fromTokens: measured[0]!.contextTokens, toTokens: measured.at(-1)!.contextTokens, growth: ratio(measured.at(-1)!.decodeMsPerToken! / measured[0]!.decodeMsPerToken!) } : null;
  })();
  const blocksPrefill = at(tiny, 'blocks', 1_000_000)?.cumulativePrefillTokPerS;
  const fullPrefill = at(tiny, 'full', 4000)?.cumulativePrefillTokPerS;
  const recalls = [...tiny, ...smollm2].map((row) => row.recall).filter((value): value is number => value !== null);
  const blocksPrefill1MOverFull4k = blocksPrefill && fullPrefill ? ratio(blocksPrefill / fullPrefill) : null;
  const minRecall = recalls.length > 0 ? Math.min(...recalls) : null;
  const diskRss = (context: number) => tinyDisk.find((row) => row.contextTokens === context)?.rssMb;
  const diskRss1MOver4k = diskRss(4000) && diskRss(1_000_000) ? ratio(diskRss(1_000_000)! / diskRss(4000)!) : null;
  return {
    tiny,
    tinyDisk,
    smollm2,
    diskRss1MOver4k,
    decodeGrowth4kTo1M: growth,
    fullGrowth,
    fullInfeasibleAt,
    blocksPrefill1MOverFull4k,
    minRecall,
    meetsTargets: Object.values(growth).every((value) => value !== null && value <= 1.3) && (minRecall ?? 0) >= 0.95 && (blocksPrefill1MOverFull4k ?? 0) >= 0.7,
  };
}
