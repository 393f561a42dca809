import type { ZkConnection } from './connection.js';

/**
 * The deadline of each TTL key this store wrote. While the process lives, the timer deletes
 * the key at its TTL (a session timeout only fires once the session goes silent); rewriting
 * re-arms it, which is how a rewrite restarts the clock. Timers are unref'd: a process that
 * exits leaves the deletion to the server's session expiry.
 */
export class TtlTimers {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #onExpire: (path: string, owner: ZkConnection) => void;

  constructor(onExpire: (path: string, owner: ZkConnection) => void) {
    this.#onExpire = onExpire;
  }

  arm(path: string, owner: ZkConnection, ttlMs: number): void {
    this.cancel(path);
    const timer = setTimeout(() => {
      this.#timers.delete(path);
      this.#onExpire(path, owner);
    }, ttlMs);
    timer.unref();
    this.#timers.set(path, timer);
  }

  cancel(path: string): void {
    const timer = this.#timers.get(path);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(path);
  }

  /** Cancels the timers of every znode strictly under `path` ('/' for all). */
  cancelUnder(path: string): void {
    const dir = path === '/' ? '/' : `${path}/`;
    for (const key of [...this.#timers.keys()]) if (key.startsWith(dir)) this.cancel(key);
  }

  clear(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
