import type { Pipeline } from '../pipeline/pipeline.js';
import { ProgressBar } from './progress-bar.js';

/**
 * Run a pipeline with a progress bar, and turn Ctrl-C into a clean abort (finished steps are already in the
 * checkpoint, so the same command resumes). A second Ctrl-C exits at once.
 */
export async function runWithProgress<Input, Output>(pipeline: Pipeline<Input, Output>, input: Input): Promise<Output> {
  const progress = new ProgressBar();
  const controller = new AbortController();
  const onInterrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  try {
    const events = pipeline.streamProgress(input, { signal: controller.signal });
    let next = await events.next();
    while (!next.done) {
      progress.handle(next.value);
      if (process.env.TOME_DEBUG && next.value.type === 'memory-decisions') debugDecisions(next.value.decisions);
      next = await events.next();
    }
    return next.value;
  } finally {
    progress.stop();
    process.off('SIGINT', onInterrupt);
  }
}

/** TOME_DEBUG=1: the SCM controller's decisions, one line each, on stderr. */
function debugDecisions(decisions: readonly { index: number; action: string; reason: string; relevance: number }[]): void {
  for (const decision of decisions) process.stderr.write(`tome: memory ${decision.index}: ${decision.action} (relevance ${decision.relevance.toFixed(3)}; ${decision.reason})\n`);
}
