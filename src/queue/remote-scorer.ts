import { createHash } from 'node:crypto';
import type { Queue, QueueEvents } from 'bullmq';
import type { ContinuationScores, PromptScorer } from '../models/prompt-scorer.js';
import { SCORE_JOB } from './model-call-runner.js';
import { addAndWait } from './job-result.js';
import { checkScoreJob } from './payload.js';
import { abortable, MODEL_CALL_JOB_OPTIONS } from './remote-chat-model.js';

/**
 * Scoring passes run on the tome workers serving a local model: each `score()` is a job on that model's queue, so
 * XL3M's one-task-per-segment fan-out spreads over every worker. Job ids hash the content: a retried or resumed
 * segment is one job, answered once.
 */
export class RemoteScorer implements PromptScorer {
  constructor(
    readonly spec: string,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
  ) {}

  async score(context: string, continuation: string, options: { signal?: AbortSignal } = {}): Promise<ContinuationScores> {
    const data = checkScoreJob({ spec: this.spec, context, continuation });
    const jobId = `score-${createHash('sha256').update(JSON.stringify(data)).digest('hex')}`;
    return (await abortable(addAndWait(this.queue, this.events, SCORE_JOB, data, { jobId, ...MODEL_CALL_JOB_OPTIONS }), options.signal)) as ContinuationScores;
  }
}
