/**
 * A timer for any delay: Node's setTimeout fires at once (after 1 ms) past 2^31-1 ms, so a
 * 30-day TTL would expire immediately. Longer delays are re-armed in steps below that bound.
 */

/** The largest delay one setTimeout honours (ms). */
export const MAX_TIMER_STEP_MS = 2 ** 31 - 1;

export interface LongTimeout {
  /** Stops the timer; calling it again, or after it fired, does nothing. */
  cancel(): void;
}

/**
 * Calls `fn` once `delayMs` have passed (measured on the wall clock across steps, so a
 * suspended process fires late, never early). `unref: true` keeps it from holding the process.
 */
export function setLongTimeout(
  fn: () => void,
  delayMs: number,
  options: { unref?: boolean } = {},
): LongTimeout {
  const due = Date.now() + Math.max(0, delayMs);
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const arm = (): void => {
    const left = due - Date.now();
    if (left <= 0) {
      timer = undefined;
      fn();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_STEP_MS));
    if (options.unref) timer.unref();
  };
  arm();
  return {
    cancel() {
      if (cancelled) return;
      cancelled = true;
      if (timer) clearTimeout(timer);
    },
  };
}
