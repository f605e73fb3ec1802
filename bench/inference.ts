import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchmarkInference, writeFixture, type InferenceBenchmarkResult } from 'tome/inference';

/**
 * Local engine throughput on the smollm2-135m preset (a random-weight checkpoint of SmolLM2-135M's exact shape),
 * 2 threads, against the prefill (MatMul GFLOP/s) and decode (bandwidth) roofs measured in the same run.
 * Targets: ≥ 60% of each roof in fp32.
 */
export async function benchInference(): Promise<{ fp32: InferenceBenchmarkResult; int4: InferenceBenchmarkResult; int4Speedup: { prefill: number; decode: number }; meetsTargets: boolean }> {
  const directory = join(tmpdir(), 'tome-fixtures', 'smollm2-135m-seed0');
  if (!existsSync(join(directory, 'config.json'))) await writeFixture(directory, { preset: 'smollm2-135m' });
  // The default 7 rounds: the shares are medians of per-round ratios, and the roofs move within a run on these VMs.
  const fp32 = await benchmarkInference(directory, { threads: 2, prefillChunkSize: 512 });
  // What int4 brings: the same model with MatMulNBits (block 32, accuracy_level 4), measured right after.
  const int4 = await benchmarkInference(directory, { threads: 2, prefillChunkSize: 512, repeats: 3, quantization: { bits: 4 } });
  const ratio = (value: number) => Math.round(value * 100) / 100;
  return {
    fp32,
    int4,
    int4Speedup: { prefill: ratio(int4.prefillTokPerS / fp32.prefillTokPerS), decode: ratio(int4.decodeTokPerS / fp32.decodeTokPerS) },
    meetsTargets: fp32.prefillShareOfRoof >= 0.6 && fp32.decodeShareOfRoof >= 0.6,
  };
}
