import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_STEP_MS, setLongTimeout } from '../../src/time/long-timeout.js';

describe('setLongTimeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('does not fire early for a delay past 2^31-1 ms (30 days)', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    const thirtyDaysMs = 30 * 24 * 3600 * 1000;
    setLongTimeout(fn, thirtyDaysMs);
    vi.advanceTimersByTime(MAX_TIMER_STEP_MS + 1000);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(thirtyDaysMs - MAX_TIMER_STEP_MS);
    expect(fn).toHaveBeenCalledOnce();
  });

  it('fires a short delay once', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    setLongTimeout(fn, 50);
    vi.advanceTimersByTime(49);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledOnce();
  });

  it('never fires once cancelled', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    const t = setLongTimeout(fn, MAX_TIMER_STEP_MS * 2);
    vi.advanceTimersByTime(MAX_TIMER_STEP_MS + 5);
    t.cancel();
    vi.advanceTimersByTime(MAX_TIMER_STEP_MS * 2);
    expect(fn).not.toHaveBeenCalled();
  });
});
