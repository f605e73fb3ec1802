import { AbortedError } from '../../src/errors.js';
import type { GenerateRequest, GenerateResult, LocalEngine } from '../engine/engine-contract.js';

type Outcome = { result: GenerateResult } | { error: unknown };

/**
 * One generation as an async generator: yields each non-empty piece of text the engine passes to `onText`, in
 * order, and returns the engine's result. The engine pushes (callbacks) while LangChain pulls (an async
 * iterator); a queue holds the pieces the consumer has not taken yet, and a one-shot wake-up resumes the
 * consumer when a piece arrives, the engine settles or the signal aborts.
 *
 * - An abort of `signal` ends the stream at once with {@link AbortedError}, even if the engine is slow to notice;
 *   so does an engine that finishes with `finishReason: 'aborted'` or fails after the abort.
 * - A consumer that stops early (`break`, `return()`) or an abort stops the engine too, through a signal of our
 *   own: nothing keeps decoding for a reader that is gone.
 */
export async function* streamGeneratedText(engine: LocalEngine, request: Omit<GenerateRequest, 'signal' | 'onText'>, signal?: AbortSignal): AsyncGenerator<string, GenerateResult, undefined> {
  const engineAbort = new AbortController();
  const pending: string[] = [];
  // A holder rather than a `let`: the engine's callbacks assign it, which control-flow narrowing cannot see.
  const state: { outcome?: Outcome; wake?: () => void } = {};
  const notify = () => {
    const wake = state.wake;
    state.wake = undefined;
    wake?.();
  };
  const onAbort = () => {
    engineAbort.abort(signal?.reason);
    notify();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  void engine
    .generate({
      ...request,
      signal: engineAbort.signal,
      onText: (delta) => {
        pending.push(delta);
        notify();
      },
    })
    .then(
      (result) => {
        state.outcome = { result };
      },
      (error: unknown) => {
        state.outcome = { error };
      },
    )
    .finally(notify);
  try {
    for (;;) {
      if (signal?.aborted) throw new AbortedError(signal.reason);
      const delta = pending.shift();
      if (delta !== undefined) {
        if (delta !== '') yield delta;
        continue;
      }
      const outcome = state.outcome;
      if (outcome) {
        if ('error' in outcome) throw outcome.error;
        if (outcome.result.finishReason === 'aborted') throw new AbortedError(signal?.reason);
        return outcome.result;
      }
      // Nothing queued and not settled: sleep until the next notify (no await between the checks and this line,
      // so a notify cannot slip in unseen).
      await new Promise<void>((resolve) => {
        state.wake = resolve;
      });
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!state.outcome) engineAbort.abort(new AbortedError('stream closed before the generation finished'));
  }
}
