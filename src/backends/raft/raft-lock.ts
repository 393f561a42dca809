import type { KvCommand, KvResult } from '../../raft/kv/index.js';
import { CannotLockError } from '../../store/errors.js';
import { anySignal } from '../../store/signals.js';
import type { LockAcquireOptions, Locker } from '../../store/types.js';
import { MAX_TIMER_STEP_MS } from '../../time/long-timeout.js';

/** What a Raft lock needs from its store: embedded (in a node) or remote (`raft://`). */
export interface LockHost {
  readonly clientId: string;
  /** Aborts when the store closes. */
  readonly closing: AbortSignal;
  submit(cmd: KvCommand): Promise<KvResult>;
  /** Resolves once `owner` holds `key`'s lock; rejects when its lease is gone or `signal` aborts. */
  waitForLock(key: string, owner: string, lease: number, signal: AbortSignal): Promise<void>;
  /** Calls `onLost` once `owner` no longer holds `key`'s lock; returns a stop function. */
  watchLock(key: string, owner: string, onLost: () => void): () => void;
}

let lockCounter = 0;

/**
 * A lock of the replicated key space: waiters queue in the state machine in order and the
 * next live one is handed the lock on release (no herd); the holder's lease is kept alive
 * by this process, and when that stops (crash, close) the leader revokes it after its TTL.
 */
export class RaftLock implements Locker {
  readonly #host: LockHost;
  readonly #key: string;
  readonly #value: Uint8Array;
  readonly #ttlMs: number;
  readonly #owner: string;
  #lease = 0;
  #held = false;
  #lost: AbortController | null = null;
  #keepAlive: NodeJS.Timeout | null = null;
  #unwatch: (() => void) | null = null;

  constructor(host: LockHost, key: string, value: Uint8Array, ttlMs: number) {
    this.#host = host;
    this.#key = key;
    this.#value = value;
    this.#ttlMs = ttlMs;
    this.#owner = `${host.clientId}/${++lockCounter}`;
  }

  async lock(opts?: LockAcquireOptions): Promise<AbortSignal> {
    if (this.#held || this.#lease)
      throw new CannotLockError(`lock ${this.#key} is already held or being acquired`);
    opts?.signal?.throwIfAborted();
    const granted = await this.#host.submit({ op: 'leaseGrant', ttlMs: this.#ttlMs });
    this.#lease = (granted as { lease?: number }).lease ?? 0;
    this.#startKeepAlive();
    try {
      const result = await this.#host.submit({
        op: 'lockAcquire',
        key: this.#key,
        value: this.#value,
        lease: this.#lease,
        owner: this.#owner,
      });
      if (!result.ok) throw new CannotLockError(`lock ${this.#key}: ${result.code}`);
      if (!result.acquired) {
        await this.#host.waitForLock(
          this.#key,
          this.#owner,
          this.#lease,
          anySignal(opts?.signal, this.#host.closing),
        );
      }
    } catch (err) {
      await this.#abandon();
      if (opts?.signal?.aborted)
        throw new CannotLockError(`gave up waiting for lock ${this.#key}`, { cause: err });
      throw err;
    }
    this.#held = true;
    this.#lost = new AbortController();
    this.#unwatch = this.#host.watchLock(this.#key, this.#owner, () =>
      this.#loseLock('another holder took it'),
    );
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

  #startKeepAlive(): void {
    // Three refreshes per TTL; a long TTL (days, up to the contract's maximum) refreshes at
    // the longest interval a timer honours (past 2^31-1 ms, setInterval fires every 1 ms).
    const every = Math.min(MAX_TIMER_STEP_MS, Math.max(10, Math.floor(this.#ttlMs / 3)));
    this.#keepAlive = setInterval(() => {
      this.#host.submit({ op: 'leaseKeepAlive', lease: this.#lease }).then(
        (result) => {
          if (!result.ok) this.#loseLock('its lease expired');
        },
        () => {
          // Unreachable for now: the lease runs out on the leader unless a later refresh lands.
          if (this.#host.closing.aborted) this.#loseLock('its store closed');
        },
      );
    }, every);
    this.#keepAlive.unref();
  }

  #loseLock(why: string): void {
    this.#stopKeepAlive();
    if (!this.#held) return;
    this.#held = false;
    this.#unwatch?.();
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
    if (!lease || this.#host.closing.aborted) return;
    await this.#host.submit({ op: 'lockRelease', key: this.#key, owner: this.#owner }).catch(() => {});
    await this.#host.submit({ op: 'leaseRevoke', lease }).catch(() => {});
  }
}
