import { loadCheckpoint } from './checkpoint/load-checkpoint.js';
import { WindowedAttentionPolicy } from './engine/attention/windowed-policy.js';
import { LlamaModel } from './engine/llama-model.js';
import { median } from './median.js';

/**
 * Per-token decode latency, resident memory and retrieval recall of one attention mode as the context grows
 * (`tome bench attention`). One mode per process, so resident memory is that mode's alone. The context is filled
 * with seeded pseudo-random tokens (cost does not depend on which tokens), then `decodeRounds` rounds of
 * `decodeTokens` single-token steps are timed at each size. A round spans at least one retrieval cell, so the
 * once-per-cell work (eviction into the index, retrieval) is counted in its average; the reported figure is the
 * median round, so one round slowed by the machine (GC, a neighbour's burst) cannot decide a growth ratio.
 */
export interface AttentionBenchOptions {
  mode: string;
  /** Context sizes to measure at, ascending. */
  contexts: readonly number[];
  attentionOptions?: Record<string, string | number>;
  decodeTokens?: number;
  /** Timed rounds of decodeTokens steps per context; the median round is reported (default 5). */
  decodeRounds?: number;
  threads?: number;
  /** Stop growing `full` attention when the next prefill is projected to take longer than this. */
  budgetSeconds?: number;
  /** Called after every row (progress). */
  onRow?: (row: AttentionBenchRow) => void;
}

export interface AttentionBenchRow {
  mode: string;
  /** Where tokens behind the window live: keep (RAM), disk, drop; null for full attention. */
  offload: string | null;
  contextTokens: number;
  /** Median over the rounds. */
  decodeMsPerToken: number | null;
  /** Fastest and slowest round, ms/token. */
  decodeRangeMsPerToken: [number, number] | null;
  rssMb: number;
  /** Share of the exact top-k found by the index (blocks, knn); null for modes without retrieval. */
  recall: number | null;
  /** Prefill tokens/s of the stretch that grew the context to this size. */
  prefillTokPerS: number | null;
  /** Prefill tokens/s from the empty context to this size. */
  cumulativePrefillTokPerS: number | null;
  /** Set when the context was not reached: the projected prefill time, in seconds. */
  infeasibleProjectedSeconds?: number;
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

export async function benchmarkAttentionMode(directory: string, options: AttentionBenchOptions): Promise<AttentionBenchRow[]> {
  const checkpoint = await loadCheckpoint(directory);
  const model = await LlamaModel.load(checkpoint.config, checkpoint.weights, {
    threads: options.threads ?? 2,
    prefillChunkSize: 512,
    ...(options.mode === 'full' ? {} : { attention: { mode: options.mode, options: options.attentionOptions ?? {} } }),
  });
  await checkpoint.weights.close();
  const vocab = checkpoint.config.vocabSize;
  const cell = model.attentionSettings?.stepSize ?? 1;
  const decodeTokens = Math.max(options.decodeTokens ?? 64, model.attentionSettings ? cell : 0);
  const decodeRounds = options.decodeRounds ?? 5;
  const budget = options.budgetSeconds ?? 240;
  let state = 12345;
  const nextToken = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % vocab;
  };
  const rows: AttentionBenchRow[] = [];
  let prefillMs = 0;
  let prefilled = 0;
  let previous: { from: number; to: number; ms: number } | null = null;
  try {
    for (const context of options.contexts) {
      const from = model.memory.length;
      if (context <= from) continue;
      if (options.mode === 'full' && previous) {
        // Full attention costs grow with the square of the length once attention dominates: project the next stretch.
        const projected = ((previous.ms / 1000) * (context ** 2 - from ** 2)) / Math.max(previous.to ** 2 - previous.from ** 2, 1);
        if (projected > budget) {
          const row: AttentionBenchRow = { mode: options.mode, offload: model.attentionSettings?.offload ?? null, contextTokens: context, decodeMsPerToken: null, decodeRangeMsPerToken: null, rssMb: Math.round(process.memoryUsage().rss / 2 ** 20), recall: null, prefillTokPerS: null, cumulativePrefillTokPerS: null, infeasibleProjectedSeconds: Math.round(projected) };
          rows.push(row);
          options.onRow?.(row);
          break;
        }
      }
      const started = performance.now();
      for (let at = from; at < context; at += 8192) {
        const piece = Array.from({ length: Math.min(8192, context - at) }, nextToken);
        await model.forward(piece);
      }
      const stretchMs = performance.now() - started;
      prefillMs += stretchMs;
      prefilled += context - from;
      previous = { from, to: context, ms: stretchMs };
      const decode = async () => {
        for (let step = 0; step < decodeTokens; step++) await model.forward([nextToken()], { logitPositions: [model.memory.length] });
      };
      // The first stretch of decoding also warms the JIT and ORT's kernels: run it once unmeasured.
      if (rows.length === 0) await decode();
      const roundMs: number[] = [];
      for (let round = 0; round < decodeRounds; round++) {
        const decodeStarted = performance.now();
        await decode();
        roundMs.push((performance.now() - decodeStarted) / decodeTokens);
      }
      roundMs.sort((a, b) => a - b);
      const decodeMs = median(roundMs);
      const policy = model.attentionPolicy instanceof WindowedAttentionPolicy ? model.attentionPolicy : null;
      const samples = Array.from({ length: 16 }, (_, index) => Math.floor(context / 2 + ((index + 0.5) * context) / 32));
      const recall = policy && options.mode !== 'streaming' ? policy.retrievalRecall(samples) : null;
      const row: AttentionBenchRow = {
        mode: options.mode,
        offload: model.attentionSettings?.offload ?? null,
        contextTokens: context,
        decodeMsPerToken: round(decodeMs),
        decodeRangeMsPerToken: [round(roundMs[0]!), round(roundMs.at(-1)!)],
        rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
        recall: recall === null ? null : round(recall),
        prefillTokPerS: Math.round((context - from) / (stretchMs / 1000)),
        cumulativePrefillTokPerS: Math.round(prefilled / (prefillMs / 1000)),
      };
      rows.push(row);
      options.onRow?.(row);
    }
  } finally {
    await model.dispose();
  }
  return rows;
}

/** `4k,32k,1m` → [4000, 32000, 1000000] (decimal, so 1m plus decode steps stays inside one buffer doubling). */
export function parseContextSizes(text: string): number[] {
  return text.split(',').map((part) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([km]?)\s*$/i.exec(part);
    if (!match) throw new RangeError(`"${part}" is not a context size (e.g. 4k, 128k, 1m, 5000)`);
    const scale = match[2]!.toLowerCase() === 'k' ? 1000 : match[2]!.toLowerCase() === 'm' ? 1_000_000 : 1;
    return Math.round(Number(match[1]) * scale);
  });
}
