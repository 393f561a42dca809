import { type LongTimeout, setLongTimeout } from '../../time/long-timeout.js';
import type { ZkConnection } from './connection.js';

/**
 * The deadline of each TTL key this store wrote. While the process lives, the timer deletes
 * the key at its TTL (a session timeout only fires once the session goes silent); rewriting
 * re-arms it, which is how a rewrite restarts the clock. Timers take any TTL the contract
 * allows (re-armed below setTimeout's 2^31-1 ms ceiling) and are unref'd: a process that exits
 * leaves the deletion to the server's session expiry.
 */
export class TtlTimers {
  readonly #timers = new Map<string, LongTimeout>();
  readonly #onExpire: (path: string, owner: ZkConnection) => void;

  constructor(onExpire: (path: string, owner: ZkConnection) => void) {
    this.#onExpire = onExpire;
  }

  arm(path: string, owner: ZkConnection, ttlMs: number): void {
    this.cancel(path);
    const timer = setLongTimeout(
      () => {
        this.#timers.delete(path);
        this.#onExpire(path, owner);
      },
      ttlMs,
      { unref: true },
    );
    this.#timers.set(path, timer);
  }

  cancel(path: string): void {
    const timer = this.#timers.get(path);
    if (timer === undefined) return;
    timer.cancel();
    this.#timers.delete(path);
  }

  /** Cancels the timers of every znode strictly under `path` ('/' for all). */
  cancelUnder(path: string): void {
    const dir = path === '/' ? '/' : `${path}/`;
    for (const key of [...this.#timers.keys()]) if (key.startsWith(dir)) this.cancel(key);
  }

  clear(): void {
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
  }
}
