import type { ScoredSegment } from '../agents/xl3m/selection.js';
import { InvalidOptionError } from '../src/errors.js';
import { runStep, type Stage } from '../src/pipeline/blocks.js';
import type { RunContext } from '../src/pipeline/run-context.js';
import type { StreamedSegment } from '../src/streaming/contracts.js';

/**
 * Score every segment of a stream through the run's executor, up to `context.concurrency` at a time, without
 * holding the stream: a segment's text lives only while its task is in flight, and what is kept of it is a
 * {@link ScoredSegment} (offsets, tokens, value). Each score is checkpointed under `<stage>/<index>`, so a resumed
 * run scores only what is missing, and a task retried by the executor writes the same key: results are keyed by
 * segment index, never by completion order, which is why parallel and sequential runs select alike.
 *
 * Progress: `stage-start` once the first segment is read, with `estimateTotal(first)` (a stream's length is not
 * known in advance), then one `step-end` per segment (cached ones included, `cached: true`).
 * @returns Every segment's score, in index order. Rejects with the first failure, after the tasks in flight settle.
 */
export async function scoreSegmentStream(
  context: RunContext,
  stage: Stage,
  segments: AsyncIterable<StreamedSegment>,
  score: (segment: StreamedSegment) => Promise<number>,
  estimateTotal: (first: StreamedSegment) => number,
): Promise<ScoredSegment[]> {
  const level = stage.level ?? 0;
  const scored: ScoredSegment[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let started = false;
  let total = 0;
  const record = (segment: StreamedSegment, value: number, cached: boolean) => {
    scored.push({ index: segment.index, charStart: segment.overlapStart, charEnd: segment.end, byteStart: segment.byteStart, byteEnd: segment.byteEnd, tokens: segment.tokens, value });
    total = Math.max(total, scored.length);
    context.emit({ type: 'step-end', stage: stage.name, level, index: segment.index, done: scored.length, total, cached });
  };
  const key = (index: number) => `${stage.name}/${index}`;

  const pullAndScore = async (): Promise<void> => {
    for await (const segment of segments) {
      if (!started) {
        started = true;
        total = estimateTotal(segment);
        context.emit({ type: 'stage-start', stage: stage.name, level, total, cached: 0 });
      }
      if (failure !== undefined) break;
      context.throwIfAborted();
      const stored = context.checkpoint.get<number>(key(segment.index));
      if (stored !== undefined) {
        context.stats.cachedSteps++;
        record(segment, stored, true);
        continue;
      }
      const task: Promise<void> = runStep(context, stage, segment.index, async () => {
        const value = await score(segment);
        if (!Number.isFinite(value)) throw new InvalidOptionError('certaintyScorer', value, `a scorer that returns finite numbers (segment ${segment.index})`);
        // Checkpoint inside the step: a score finished while an abort settles is still kept.
        context.checkpoint.put(key(segment.index), value);
        return value;
      })
        .then(
          (value) => record(segment, value, false),
          (error: unknown) => {
            failure ??= { error };
          },
        )
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
      while (inFlight.size >= context.concurrency) await Promise.race(inFlight);
    }
  };
  try {
    await pullAndScore();
  } finally {
    // On failure or abort, let the tasks in flight settle (and checkpoint) before the run closes its checkpoint.
    await Promise.all(inFlight);
  }
  if (failure !== undefined) throw failure.error;
  if (!started) context.emit({ type: 'stage-start', stage: stage.name, level, total: 0, cached: 0 });
  context.emit({ type: 'stage-end', stage: stage.name, level });
  return scored.sort((a, b) => a.index - b.index);
}
