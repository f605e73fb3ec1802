import cliProgress from 'cli-progress';
import type { ProgressEvent } from '../pipeline/progress.js';

/**
 * A progress bar on stderr, one stage at a time (leaf summaries, then each merge level): steps done / total,
 * level, elapsed time and ETA. Only when stderr is a terminal; pipes and CI logs stay clean.
 */
export class ProgressBar {
  private readonly bar: cliProgress.SingleBar | undefined;
  private started = false;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    if (!stream.isTTY) return;
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{stage} |{bar}| {value}/{total} steps | level {level} | {elapsed} elapsed | ETA {eta_formatted}',
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  private readonly runStartedAt = Date.now();

  handle(event: ProgressEvent): void {
    if (!this.bar) return;
    const payload = { elapsed: formatSeconds((Date.now() - this.runStartedAt) / 1000) };
    switch (event.type) {
      case 'stage-start':
        if (this.started) this.bar.stop();
        this.bar.start(event.total, event.cached, { ...payload, stage: event.stage, level: event.level });
        this.started = true;
        break;
      case 'step-end':
        this.bar.update(event.done, payload);
        break;
      case 'pipeline-end':
        this.stop();
        break;
      default:
        break;
    }
  }

  stop(): void {
    if (this.bar && this.started) this.bar.stop();
    this.started = false;
  }
}

function formatSeconds(seconds: number): string {
  const whole = Math.round(seconds);
  return whole < 60 ? `${whole}s` : `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}
