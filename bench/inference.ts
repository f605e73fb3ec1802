import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchmarkInferenceInThread, writeFixture, type InferenceBenchmarkResult } from 'tome/inference';

/**
 * Local engine throughput on the smollm2-135m preset (a random-weight checkpoint of SmolLM2-135M's exact shape),
 * 2 threads, against the prefill (MatMul GFLOP/s) and decode (bandwidth) roofs measured in the same run, in a thread of
 * its own as the product runs its engine. Targets: ≥ 60% of each roof in fp32.
 */
export async function benchInference(): Promise<{
  fp32: InferenceBenchmarkResult;
  int4: InferenceBenchmarkResult;
  int4Speedup: { prefill: number; decode: number };
  /** ONNX Runtime's Attention in place of the kernel the engine chose (null when that already was onnx). */
  onnxAttention: InferenceBenchmarkResult | null;
  meetsTargets: boolean;
}> {
  const directory = join(tmpdir(), 'tome-fixtures', 'smollm2-135m-seed0');
  if (!existsSync(join(directory, 'config.json'))) await writeFixture(directory, { preset: 'smollm2-135m' });
  // The default 7 rounds: the shares are medians of per-round ratios, and the roofs move within a run on these VMs.
  const fp32 = await benchmarkInferenceInThread(directory, { threads: 2, prefillChunkSize: 512 });
  // What int4 brings: the same model with MatMulNBits (block 32, accuracy_level 4), measured right after.
  const int4 = await benchmarkInferenceInThread(directory, { threads: 2, prefillChunkSize: 512, repeats: 3, quantization: { bits: 4 } });
  // What the native attention kernel brings: the same model with the graph's Attention, shares against its own roofs.
  const onnxAttention = fp32.attentionKernel === 'native' ? await benchmarkInferenceInThread(directory, { threads: 2, prefillChunkSize: 512, attentionKernel: 'onnx' }) : null;
  const ratio = (value: number) => Math.round(value * 100) / 100;
  return {
    fp32,
    int4,
    int4Speedup: { prefill: ratio(int4.prefillTokPerS / fp32.prefillTokPerS), decode: ratio(int4.decodeTokPerS / fp32.decodeTokPerS) },
    onnxAttention,
    meetsTargets: fp32.prefillShareOfRoof >= 0.6 && fp32.decodeShareOfRoof >= 0.6,
  };
}
