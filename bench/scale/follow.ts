/**
 * What the scale bench knows of the cluster: network state followed by one watch (nodes, tasks,
 * services, networks), never polled. Listing 10,000 task records every half second from a third
 * client would load the store the run measures; a watch costs the store one event stream, and a
 * phase ends at the snapshot that first satisfies it, not at the next poll.
 */
import type { NetworkState, NetworkStateSnapshot } from '../../src/index.js';

const RESTART_MS = 500;

export class StateFollower {
  #latest: NetworkStateSnapshot | null = null;
  readonly #waiters = new Set<() => void>();
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  constructor(net: NetworkState) {
    this.#done = (async () => {
      while (!this.#stop.signal.aborted) {
        try {
          for await (const snapshot of net.watch({ signal: this.#stop.signal })) {
            this.#latest = snapshot;
            for (const wake of [...this.#waiters]) wake();
          }
        } catch {
          // The store is failing over (a killed leader): follow it again.
        }
        if (!this.#stop.signal.aborted) await new Promise((r) => setTimeout(r, RESTART_MS));
      }
    })();
  }

  /** The latest snapshot (null before the first). */
  get latest(): NetworkStateSnapshot | null {
    return this.#latest;
  }

  /**
   * Until `check` returns a value for a snapshot (checked on the latest now, then on each new
   * one): that value and when; null after `timeoutMs`.
   */
  until<T>(
    check: (s: NetworkStateSnapshot) => T | undefined | false,
    timeoutMs: number,
  ): Promise<{ value: T; at: number } | null> {
    return new Promise((resolve) => {
      const finish = (result: { value: T; at: number } | null) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(result);
      };
      const wake = () => {
        if (!this.#latest) return;
        const value = check(this.#latest);
        if (value !== undefined && value !== false) finish({ value, at: Date.now() });
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      this.#waiters.add(wake);
      wake();
    });
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#done;
  }
}
