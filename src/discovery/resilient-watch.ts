import { Backoff } from '../store/backoff.js';
import { isKVError } from '../store/errors.js';

/** Codes that retrying cannot fix: the caller's mistake or the backend's limits. */
const PERMANENT = new Set(['INVALID_ARGUMENT', 'INVALID_KEY', 'CALL_NOT_SUPPORTED', 'PERMISSION_DENIED']);

/** True when an error should end a loop instead of being retried. */
export function isPermanent(err: unknown): boolean {
  return isKVError(err) && PERMANENT.has(err.code);
}

export interface ResilientWatchOptions<T> {
  signal: AbortSignal;
  onError?: (err: unknown) => void;
  /** Two consecutive values equal by this are yielded once. */
  same: (a: T, b: T) => boolean;
  backoff?: Backoff;
}

/**
 * A store watch that survives the store: when `open`'s iterable fails (or ends while nobody
 * asked it to), the error goes to `onError` and the watch is opened again after a backoff.
 * Each opening starts with the current state, so a restart resyncs (moby#42833: never depend
 * on having seen one event). Consecutive equal values are dropped, across restarts too. Ends on
 * abort or when the store is closed; a permanent error (bad key, unsupported call) is thrown.
 */
export async function* resilientWatch<S, T>(
  open: (signal: AbortSignal) => AsyncIterable<S>,
  map: (state: S) => T,
  opts: ResilientWatchOptions<T>,
): AsyncGenerator<T, void, undefined> {
  const { signal, same } = opts;
  const backoff = opts.backoff ?? new Backoff({ initialMs: 100, maxMs: 5000 });
  let last: { value: T } | null = null;
  while (!signal.aborted) {
    try {
      for await (const state of open(signal)) {
        if (signal.aborted) return;
        backoff.reset();
        const value = map(state);
        if (last && same(last.value, value)) continue;
        last = { value };
        yield value;
      }
    } catch (err) {
      if (signal.aborted || isKVError(err, 'CLOSED')) return;
      if (isPermanent(err)) throw err;
      opts.onError?.(err);
    }
    if (signal.aborted) return;
    try {
      await backoff.wait(signal);
    } catch {
      return;
    }
  }
}

/** Element-wise equality of two string lists. */
export function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
