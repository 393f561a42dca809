import { Backoff } from '../store/backoff.js';
import { isKVError } from '../store/errors.js';
import { anySignal, whenAborted } from '../store/signals.js';
import type { Locker, Store } from '../store/types.js';
import { text } from '../store/values.js';
import { isPermanent, resilientWatch } from './resilient-watch.js';
import type { CampaignOptions, FollowOptions } from './types.js';

/**
 * docker/leadership's Candidate on a store lock: `false` first, `true` once elected, `false`
 * when the lock is lost, then it campaigns again. Each round takes a new lock (a new lease or
 * session: a stale Consul session once left a cluster leaderless, leadership 51e913f). Store
 * errors are retried with backoff instead of ending the campaign. Aborting the signal — or
 * leaving the loop that reads it, from inside that loop too — resigns and ends it; resigning is
 * never a call the reader must make while the candidate waits on it (leadership's deadlock).
 */
export async function* campaign(
  store: Store,
  key: string,
  value: string,
  opts: CampaignOptions & { parentSignal: AbortSignal },
): AsyncGenerator<boolean, void, undefined> {
  const stop = anySignal(opts.signal, opts.parentSignal);
  const backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
  if (stop.aborted) return;
  yield false;
  while (!stop.aborted) {
    let locker: Locker;
    let lost: AbortSignal;
    try {
      locker = store.newLock(key, { value, ...(opts.ttlMs === undefined ? {} : { ttl: opts.ttlMs }) });
      lost = await locker.lock({ signal: stop });
    } catch (err) {
      if (stop.aborted || isKVError(err, 'CLOSED')) return;
      if (isPermanent(err)) throw err;
      opts.onError?.(err);
      try {
        await backoff.wait(stop);
      } catch {
        return;
      }
      continue;
    }
    backoff.reset();
    // Resign as soon as the signal aborts, even while the reader is not pulling (the generator
    // sits at its yield until then), and when the reader leaves the loop; never twice.
    let resigning: Promise<void> | null = null;
    const held = locker;
    const heldLost = lost;
    const resign = () => {
      resigning ??= heldLost.aborted ? Promise.resolve() : held.unlock().catch((err) => opts.onError?.(err));
      return resigning;
    };
    if (stop.aborted) {
      // Stopped while lock() was answering: no leadership is reported, the lock goes back now.
      await resign();
      return;
    }
    stop.addEventListener('abort', resign, { once: true });
    const watching = new AbortController();
    const holding = anySignal(lost, stop);
    const left = keyLeaves(store, key, value, anySignal(holding, watching.signal));
    try {
      yield true;
      await Promise.race([
        whenAborted(holding),
        left.then((gone) => (gone ? undefined : whenAborted(holding))),
      ]);
    } finally {
      watching.abort();
      stop.removeEventListener('abort', resign);
      await resign();
    }
    if (stop.aborted) return;
    yield false;
  }
}

/**
 * docker/leadership's Follower: the leader's value (null when there is none) now, then on each
 * change, never the same twice in a row. Survives store errors (retried, resynced).
 */
export function follow(
  store: Store,
  key: string,
  opts: FollowOptions & { parentSignal: AbortSignal },
): AsyncGenerator<string | null, void, undefined> {
  const signal = anySignal(opts.signal, opts.parentSignal);
  return resilientWatch(
    (s) => store.watch(key, { signal: s }),
    (pair) => (pair ? text(pair) : null),
    {
      signal,
      onError: opts.onError,
      same: (a, b) => a === b,
    },
  );
}

/**
 * Resolves when `key` no longer holds `value` (deleted or overwritten by someone else): not every
 * backend's lock notices that (raft and etcd keep the lock), but a leader whose key is gone is
 * not seen as leader by its followers, so it resigns and campaigns again. Watch errors leave the
 * decision to the lock's own signal.
 */
async function keyLeaves(store: Store, key: string, value: string, signal: AbortSignal): Promise<boolean> {
  try {
    for await (const pair of store.watch(key, { signal })) {
      if (pair === null || text(pair) !== value) return true;
    }
  } catch {
    // The lock decides.
  }
  return false;
}
