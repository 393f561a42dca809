import type { KvStateMachine } from '../raft/kv/index.js';
import { CannotLockError, KVError } from '../store/errors.js';

/**
 * Resolves once the state machine names `owner` as holder of `key`'s lock; rejects with
 * CANNOT_LOCK when `lease` is gone first, or when `signal` aborts (with its reason if that is a
 * KVError, e.g. CLOSED). Used in a node (embedded store) and for `raft://` clients (client port).
 */
export function waitForLockHolder(
  sm: KvStateMachine,
  key: string,
  owner: string,
  lease: number,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      if (sm.lockHolder(key) === owner) finish(null);
      else if (!sm.hasLease(lease)) finish(new CannotLockError(`lease of lock ${key} expired while waiting`));
    };
    const finish = (err: unknown) => {
      off();
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () =>
      finish(
        signal.reason instanceof KVError
          ? signal.reason
          : new CannotLockError(`wait for lock ${key} cancelled`),
      );
    const off = sm.onChange(check);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    else check();
  });
}
