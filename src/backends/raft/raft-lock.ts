import { CannotLockError } from '../../store/errors.js';
import { anySignal } from '../../store/signals.js';
import type { LockAcquireOptions, Locker } from '../../store/types.js';
import type { RaftEmbeddedStore } from './embedded-store.js';

let lockCounter = 0;

/**
 * A lock of the replicated key space: waiters queue in the state machine in order and the
 * next live one is handed the lock on release (no herd); the holder's lease is kept alive
 * by this process, and when it stops (crash, close) the leader revokes it after its TTL.
 */
export class RaftLock implements Locker {
  readonly #store: RaftEmbeddedStore;
  readonly #key: string;
  readonly #value: Uint8Array;
  readonly #ttlMs: number;
  readonly #owner: string;
  #lease = 0;
  #held = false;
  #lost: AbortController | null = null;
  #keepAlive: NodeJS.Timeout | null = null;
  #unwatch: (() => void) | null = null;

  constructor(store: RaftEmbeddedStore, key: string, value: Uint8Array, ttlMs: number) {
    this.#store = store;
    this.#key = key;
    this.#value = value;
    this.#ttlMs = ttlMs;
    this.#owner = `${store.clientId}/${++lockCounter}`;
  }

  async lock(opts?: LockAcquireOptions): Promise<AbortSignal> {
    if (this.#held || this.#lease)
      throw new CannotLockError(`lock ${this.#key} is already held or being acquired`);
    opts?.signal?.throwIfAborted();
    const granted = await this.#store.submit({ op: 'leaseGrant', ttlMs: this.#ttlMs });
    this.#lease = (granted as { lease?: number }).lease ?? 0;
    this.#startKeepAlive();
    try {
      const turn = this.#waitForTurn(opts?.signal);
      const result = await this.#store.submit({
        op: 'lockAcquire',
        key: this.#key,
        value: this.#value,
        lease: this.#lease,
        owner: this.#owner,
      });
      if (!result.ok) throw new CannotLockError(`lock ${this.#key}: ${result.code}`);
      await turn;
    } catch (err) {
      await this.#abandon();
      if (opts?.signal?.aborted)
        throw new CannotLockError(`gave up waiting for lock ${this.#key}`, { cause: err });
      throw err;
    }
    this.#held = true;
    this.#lost = new AbortController();
    this.#unwatch = this.#store.sm.onChange((events) => {
      if (events.some((e) => e.key === this.#key) && this.#store.sm.lockHolder(this.#key) !== this.#owner) {
        this.#loseLock('another holder took it');
      }
    });
    return this.#lost.signal;
  }

  async unlock(): Promise<void> {
    if (!this.#held) throw new CannotLockError(`lock ${this.#key} is not held`);
    this.#held = false;
    this.#unwatch?.();
    this.#lost = null;
    await this.#abandon();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#held ? this.unlock() : Promise.resolve();
  }

  /** Resolves once the state machine names this lock's owner as holder. */
  #waitForTurn(signal: AbortSignal | undefined): Promise<void> {
    const sm = this.#store.sm;
    return new Promise<void>((resolve, reject) => {
      const stop = anySignal(signal, this.#storeClosed());
      const check = () => {
        if (sm.lockHolder(this.#key) === this.#owner) finish();
        else if (!sm.hasLease(this.#lease))
          fail(new CannotLockError(`lease of lock ${this.#key} expired while waiting`));
      };
      const finish = () => {
        off();
        stop.removeEventListener('abort', onAbort);
        resolve();
      };
      const fail = (err: unknown) => {
        off();
        stop.removeEventListener('abort', onAbort);
        reject(err);
      };
      const onAbort = () => fail(stop.reason);
      const off = sm.onChange(check);
      stop.addEventListener('abort', onAbort, { once: true });
      if (stop.aborted) onAbort();
    });
  }

  #storeClosed(): AbortSignal {
    return this.#store.closing;
  }

  #startKeepAlive(): void {
    const every = Math.max(10, Math.floor(this.#ttlMs / 3));
    this.#keepAlive = setInterval(() => {
      this.#store.submit({ op: 'leaseKeepAlive', lease: this.#lease }).then(
        (result) => {
          if (!result.ok) this.#loseLock('its lease expired');
        },
        () => {
          // Closed or unreachable: the lease runs out on the leader and the lock moves on.
          if (this.#store.closing.aborted) this.#loseLock('its store closed');
        },
      );
    }, every);
    this.#keepAlive.unref();
  }

  #loseLock(why: string): void {
    if (!this.#held) return;
    this.#held = false;
    this.#unwatch?.();
    this.#stopKeepAlive();
    this.#lost?.abort(new CannotLockError(`lock ${this.#key} was lost: ${why}`));
  }

  #stopKeepAlive(): void {
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    this.#keepAlive = null;
  }

  /** Leaves the lock (or its queue) and revokes the lease. */
  async #abandon(): Promise<void> {
    this.#stopKeepAlive();
    const lease = this.#lease;
    this.#lease = 0;
    if (!lease) return;
    await this.#store.submit({ op: 'lockRelease', key: this.#key, owner: this.#owner }).catch(() => {});
    await this.#store.submit({ op: 'leaseRevoke', lease }).catch(() => {});
  }
}
