import { StepFailedError } from '../errors.js';
import type { ExecutorTask, StepEvent } from '../executor/executor.js';
import { segmentText, type Segment, type SegmentOptions } from '../segmentation.js';
import type { RunContext } from './run-context.js';

/**
 * The building blocks pipelines are made of. Each block checkpoints its steps under `<stage>/…` keys, so a rerun
 * with the same arguments skips finished work, and reports progress as `stage-start` / `step-end` / `stage-end`.
 * Steps must return JSON-serializable values (they are written to the checkpoint).
 */

/** Cut the text into segments sized with the run's model tokenizer. */
export function segment(context: RunContext, text: string, options: Omit<SegmentOptions, 'counter'>): Segment[] {
  return segmentText(text, { ...options, counter: context.model.tokenCounter });
}

export interface Stage {
  /** Checkpoint key prefix and progress label, e.g. `leaf-summaries`. */
  readonly name: string;
  /** Depth in a tree of stages (0 for leaves); shown in progress. Default 0. */
  readonly level?: number;
}

/**
 * Run `step` on every item through the run's executor (in parallel up to the run's concurrency).
 * Results come back in item order.
 */
export async function map<Item, Result>(
  context: RunContext,
  stage: Stage,
  items: readonly Item[],
  step: (item: Item, index: number, signal: AbortSignal | undefined) => Promise<Result>,
): Promise<Result[]> {
  const level = stage.level ?? 0;
  const total = items.length;
  const results = new Array<Result>(total);
  const pending: { index: number; item: Item }[] = [];
  items.forEach((item, index) => {
    const stored = context.checkpoint.get<Result>(stepKey(stage, index));
    if (stored === undefined) pending.push({ index, item });
    else results[index] = stored;
  });
  let done = total - pending.length;
  context.stats.cachedSteps += done;
  context.emit({ type: 'stage-start', stage: stage.name, level, total, cached: done });
  const task: ExecutorTask<{ index: number; item: Item }, Result> = {
    name: stage.name,
    run: async ({ index, item }, stepContext) => {
      const result = await step(item, index, stepContext.signal);
      context.checkpoint.put(stepKey(stage, index), result);
      done++;
      context.emit({ type: 'step-end', stage: stage.name, level, index, done, total, cached: false });
      return result;
    },
  };
  const fresh = await context.executor.map(task, pending, {
    concurrency: context.concurrency,
    signal: context.signal,
    onEvent: (event) => forwardRetry(context, stage, event, pending),
  });
  fresh.forEach((result, position) => {
    results[pending[position]!.index] = result;
  });
  context.emit({ type: 'stage-end', stage: stage.name, level });
  return results;
}

/**
 * Thread a state through the items strictly in order: `state_i = step(state_{i-1}, item_i)`. The state after each
 * item is checkpointed, so a resumed run continues after the last finished item.
 */
export async function fold<Item, State>(
  context: RunContext,
  stage: Stage,
  items: readonly Item[],
  initial: State,
  step: (state: State, item: Item, index: number) => Promise<State>,
): Promise<State> {
  const level = stage.level ?? 0;
  const total = items.length;
  let state = initial;
  let resumeAt = 0;
  for (let index = total - 1; index >= 0; index--) {
    const stored = context.checkpoint.get<State>(stepKey(stage, index));
    if (stored !== undefined) {
      state = stored;
      resumeAt = index + 1;
      break;
    }
  }
  context.stats.cachedSteps += resumeAt;
  context.emit({ type: 'stage-start', stage: stage.name, level, total, cached: resumeAt });
  for (let index = resumeAt; index < total; index++) {
    context.throwIfAborted();
    const previous = state;
    // Checkpoint inside the step: a step that completes while an abort is settling is still kept.
    state = await runStep(context, stage, index, async () => {
      const next = await step(previous, items[index]!, index);
      context.checkpoint.put(stepKey(stage, index), next);
      return next;
    });
    context.emit({ type: 'step-end', stage: stage.name, level, index, done: index + 1, total, cached: false });
  }
  context.emit({ type: 'stage-end', stage: stage.name, level });
  return state;
}

export interface ReduceTreeOptions<Item> {
  /** Split one level's items into consecutive groups, each merged into one item of the next level. */
  group(items: readonly Item[], level: number): Item[][];
  /**
   * Merge one group. `previous` is the result of the group before it at the same level (for context carry-over);
   * `final` is true for the single merge that produces the root.
   */
  merge(group: readonly Item[], position: { level: number; index: number; total: number; previous: Item | undefined; final: boolean }): Promise<Item>;
  /** Merge the groups of one level in order, so each can see `previous` (default), or in parallel. */
  carryPrevious?: boolean;
}

/**
 * Merge items level by level until one remains. Level 1 merges the leaves; returns the root and the number of
 * merge levels performed (0 when there was a single leaf).
 */
export async function reduceTree<Item>(
  context: RunContext,
  stageName: string,
  leaves: readonly Item[],
  options: ReduceTreeOptions<Item>,
): Promise<{ root: Item; mergeLevels: number }> {
  if (leaves.length === 0) throw new RangeError('reduceTree needs at least one item');
  let items = leaves;
  let level = 0;
  while (items.length > 1) {
    level++;
    items = await reduceLevel(context, stageName, items, level, options);
  }
  return { root: items[0]!, mergeLevels: level };
}

/**
 * One level of {@link reduceTree}: group `items` (at least two) and merge each group, giving the items of the next
 * level. Exported so that a level can run as one step elsewhere (a worker running one level of a flow) with
 * exactly the grouping and merges of the in-process tree.
 */
export async function reduceLevel<Item>(context: RunContext, stageName: string, items: readonly Item[], level: number, options: ReduceTreeOptions<Item>): Promise<Item[]> {
  const groups = options.group(items, level);
  if (groups.length >= items.length) throw new RangeError(`${stageName}: level ${level} grouping does not shrink ${items.length} items`);
  const stage = { name: `${stageName}/level-${level}`, level };
  const final = groups.length === 1;
  const position = (index: number, previous: Item | undefined) => ({ level, index, total: groups.length, previous, final });
  return options.carryPrevious === false
    ? map(context, stage, groups, (group, index) => options.merge(group, position(index, undefined)))
    : mapInOrder(context, stage, groups, (group, index, previous) => options.merge(group, position(index, previous)));
}

/** Like `map`, but one step at a time, each step seeing the previous step's result; each result is its own checkpoint record. */
async function mapInOrder<Item, Result>(
  context: RunContext,
  stage: Stage,
  items: readonly Item[],
  step: (item: Item, index: number, previous: Result | undefined) => Promise<Result>,
): Promise<Result[]> {
  const level = stage.level ?? 0;
  const total = items.length;
  const results: Result[] = [];
  const cached = items.filter((_, index) => context.checkpoint.get(stepKey(stage, index)) !== undefined).length;
  context.emit({ type: 'stage-start', stage: stage.name, level, total, cached });
  for (let index = 0; index < total; index++) {
    const stored = context.checkpoint.get<Result>(stepKey(stage, index));
    if (stored !== undefined) {
      context.stats.cachedSteps++;
      results.push(stored);
      continue;
    }
    context.throwIfAborted();
    const result = await runStep(context, stage, index, async () => {
      const merged = await step(items[index]!, index, results.at(-1));
      context.checkpoint.put(stepKey(stage, index), merged);
      return merged;
    });
    results.push(result);
    context.emit({ type: 'step-end', stage: stage.name, level, index, done: index + 1, total, cached: false });
  }
  context.emit({ type: 'stage-end', stage: stage.name, level });
  return results;
}

/**
 * Run one sequential step through the run's executor, so it gets the same retries for transient model errors as
 * parallel steps; a step that still fails is reported as `<stage>[<index>]`.
 */
export async function runStep<Result>(context: RunContext, stage: Stage, index: number, work: () => Promise<Result>): Promise<Result> {
  try {
    const [result] = await context.executor.map({ name: stage.name, run: () => work() }, [index], {
      concurrency: 1,
      signal: context.signal,
      onEvent: (event) => forwardRetry(context, stage, event, [{ index, item: undefined }]),
    });
    return result!;
  } catch (error) {
    if (error instanceof StepFailedError) throw new StepFailedError(`${stage.name}[${index}]`, error.attempts, error.cause);
    throw error;
  }
}

function stepKey(stage: Stage, index: number): string {
  return `${stage.name}/${index}`;
}

function forwardRetry<Item>(context: RunContext, stage: Stage, event: StepEvent, pending: readonly { index: number; item: Item }[]): void {
  if (event.type !== 'step-retry') return;
  const index = pending[event.index]?.index ?? event.index;
  context.emit({ type: 'step-retry', stage: stage.name, index, attempt: event.attempt, delayMs: event.delayMs, error: event.error });
}
