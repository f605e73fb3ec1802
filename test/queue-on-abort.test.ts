/** onAbort: every call waiting on a run's signal shares one 'abort' listener (no MaxListenersExceededWarning). */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { onAbort } from '../src/queue/on-abort.js';

describe('onAbort', () => {
  it('adds one listener however many wait, calls each waiter still waiting once, and none that stopped', async () => {
    const controller = new AbortController();
    const called: number[] = [];
    const stops = Array.from({ length: 20 }, (_, index) => onAbort(controller.signal, () => called.push(index)));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    stops[3]!();
    stops[7]!();
    controller.abort(new Error('stop'));
    controller.abort(new Error('again'));
    expect(called).toEqual(Array.from({ length: 20 }, (_, index) => index).filter((index) => index !== 3 && index !== 7));
    // Waiting on a signal that already aborted: called at once (next microtask), unless stopped first.
    const late: string[] = [];
    onAbort(controller.signal, () => late.push('late'));
    onAbort(controller.signal, () => late.push('stopped'))();
    await Promise.resolve();
    expect(late).toEqual(['late']);
  });

  it('keeps each signal separate', () => {
    const first = new AbortController();
    const second = new AbortController();
    const called: string[] = [];
    onAbort(first.signal, () => called.push('first'));
    onAbort(second.signal, () => called.push('second'));
    second.abort();
    expect(called).toEqual(['second']);
    first.abort();
    expect(called).toEqual(['second', 'first']);
  });
});
