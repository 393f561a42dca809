import { Backoff } from '../store/backoff.js';
import { CannotLockError, ClosedError, isKVError } from '../store/errors.js';
import { anySignal, sleep } from '../store/signals.js';
import type { Locker, Store } from '../store/types.js';
import { text } from '../store/values.js';
import { isPermanent } from './resilient-watch.js';
import type { Registration } from './types.js';

export interface KeeperSettings {
  store: Store;
  key: string;
  addr: string;
  heartbeatMs: number;
  ttlMs: number;
  onError?: (err: unknown) => void;
  /** Aborts when the Discovery that made it closes. */
  parentSignal: AbortSignal;
  /** Called once the keeper has stopped. */
  onClosed?: () => void;
}

/**
 * Keeps `<prefix>/nodes/<addr>` alive as a lock held with the registration's TTL, so each
 * backend refreshes it the cheap way it already knows: etcd keeps ONE lease alive over its
 * keep-alive stream (no write per beat; Swarm3k's lesson), Consul renews one session, ZooKeeper
 * holds an ephemeral znode in its session, and memory/local/raft refresh the key's TTL (or the
 * lease) with one write every third of the TTL. No contract change was needed: a held lock is
 * exactly "this key, with this value, for as long as this process lives".
 *
 * Every heartbeat the keeper reads the key (a local read, not a write); if it is gone or holds
 * another value (an operator deleted it, the store lost it) the lock is released and taken
 * again, which writes the key back. A lost lock is retaken at once, then with backoff.
 */
export class NodeKeeper implements Registration {
  readonly addr: string;
  readonly key: string;
  readonly #s: KeeperSettings;
  readonly #closing = new AbortController();
  readonly #signal: AbortSignal;
  readonly #backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
  #run: Promise<void> | null = null;
  #firstSettled = false;
  #resolveFirst: () => void = () => {};
  #rejectFirst: (err: unknown) => void = () => {};

  constructor(settings: KeeperSettings) {
    this.#s = settings;
    this.addr = settings.addr;
    this.key = settings.key;
    this.#signal = anySignal(this.#closing.signal, settings.parentSignal);
  }

  /**
   * Starts keeping the key; resolves once it is in the store with this address: taken by us, or
   * still held by an earlier registration of the same address (a restart within the TTL), behind
   * which we queue. Rejects with the first attempt's error.
   */
  start(): Promise<void> {
    const first = new Promise<void>((resolve, reject) => {
      this.#resolveFirst = resolve;
      this.#rejectFirst = reject;
    });
    this.#run = this.#keep();
    return first;
  }

  async close(): Promise<void> {
    this.#closing.abort(new ClosedError('registration is closed'));
    await this.#run;
    this.#s.onClosed?.();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #registered(): void {
    if (this.#firstSettled) return;
    this.#firstSettled = true;
    this.#resolveFirst();
  }

  /** Errors of the first attempt reject start(); later ones go to onError. Returns false to stop. */
  #failed(err: unknown): boolean {
    if (!this.#firstSettled) {
      this.#firstSettled = true;
      this.#rejectFirst(err);
      return false;
    }
    if (isKVError(err, 'CLOSED') || isPermanent(err)) return false;
    this.#s.onError?.(err);
    return true;
  }

  async #keep(): Promise<void> {
    const { store, key, addr, ttlMs } = this.#s;
    const signal = this.#signal;
    while (!signal.aborted) {
      let locker: Locker;
      let lost: AbortSignal;
      try {
        locker = store.newLock(key, { value: addr, ttl: ttlMs });
        const taking = locker.lock({ signal });
        if (!this.#firstSettled) void this.#noticeEarlierHolder(taking);
        lost = await taking;
      } catch (err) {
        if (signal.aborted) break;
        if (!this.#failed(err)) return;
        if (!(await this.#pause())) break;
        continue;
      }
      this.#registered();
      const why = await this.#hold(lost);
      if (signal.aborted) {
        // A clean leave: unlocking deletes the key now rather than after the TTL.
        if (!lost.aborted) await locker.unlock().catch(() => {});
        break;
      }
      if (!lost.aborted) await locker.unlock().catch(() => {});
      this.#s.onError?.(why);
      if (!(await this.#pause())) break;
    }
    if (!this.#firstSettled)
      this.#failed(new ClosedError('registration was closed before it was registered'));
  }

  /** While the lock is taken: resolve registration early if the key already shows our address. */
  async #noticeEarlierHolder(taking: Promise<AbortSignal>): Promise<void> {
    const settled = await Promise.race([
      taking.then(
        () => true,
        () => true,
      ),
      sleep(50).then(() => false),
    ]);
    if (settled || this.#firstSettled) return;
    try {
      const pair = await this.#s.store.get(this.#s.key, { consistent: false });
      if (text(pair) === this.#s.addr) this.#registered();
    } catch {
      // Absent (the lock will write it) or unreadable (the lock attempt reports it).
    }
  }

  /** Holds until the lock is lost, the keeper closes, or a heartbeat finds the key gone; says why. */
  async #hold(lost: AbortSignal): Promise<unknown> {
    const until = anySignal(lost, this.#signal);
    for (;;) {
      try {
        await sleep(this.#s.heartbeatMs, until);
      } catch {
        return lost.aborted ? lost.reason : null;
      }
      try {
        const pair = await this.#s.store.get(this.#s.key, { consistent: false });
        if (text(pair) === this.#s.addr) {
          this.#backoff.reset();
          continue;
        }
        return new CannotLockError(`${this.#s.key} holds another value; registering again`);
      } catch (err) {
        if (isKVError(err, 'KEY_NOT_FOUND'))
          return new CannotLockError(`${this.#s.key} was deleted; registering again`);
        if (until.aborted) return lost.aborted ? lost.reason : null;
        this.#s.onError?.(err); // unreadable: the lock's own signal decides
      }
    }
  }

  /** Waits one backoff step; false when closed meanwhile. */
  async #pause(): Promise<boolean> {
    try {
      await this.#backoff.wait(this.#signal);
      return true;
    } catch {
      return false;
    }
  }
}
