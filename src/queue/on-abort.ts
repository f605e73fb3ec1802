/** The callbacks waiting on each signal: one 'abort' listener per signal, however many calls wait on it. */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Call `callback` when `signal` aborts; returns the function that stops waiting. A run's signal is shared by every
 * call it has in flight (16 model calls, a map's steps): one listener each would pass Node's limit of 10 and print
 * MaxListenersExceededWarning, so all of them share one listener here.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    let live = true;
    queueMicrotask(() => live && callback());
    return () => {
      live = false;
    };
  }
  let callbacks = waiting.get(signal);
  if (!callbacks) {
    const registered = new Set<() => void>();
    waiting.set(signal, registered);
    signal.addEventListener(
      'abort',
      () => {
        waiting.delete(signal);
        for (const waiter of [...registered]) waiter();
        registered.clear();
      },
      { once: true },
    );
    callbacks = registered;
  }
  const entry = () => callback();
  callbacks.add(entry);
  const stop = callbacks;
  return () => {
    stop.delete(entry);
  };
}
