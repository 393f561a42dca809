import { type LongTimeout, setLongTimeout } from '../time/long-timeout.js';
import { CannotLockError, isKVError } from './errors.js';
import { anySignal } from './signals.js';
import type { KVPair, LockAcquireOptions, Locker, Store } from './types.js';

/**
 * A lock built only on a store's public TTL and compare-and-swap operations: create the key
 * with a TTL, keep refreshing it while held, and wait on a watch for it to go. Backends with
 * no native lock recipe (memory, local) use it; its fairness is first-come-on-release.
 */
export class TtlLock implements Locker {
  readonly #store: Store;
  readonly #key: string;
  readonly #value: Uint8Array;
  readonly #ttlMs: number;
  #held: KVPair | null = null;
  #lost: AbortController | null = null;
  #refresh: LongTimeout | null = null;
  #acquiring = false;

  constructor(store: Store, key: string, value: Uint8Array, ttlMs: number) {
    this.#store = store;
    this.#key = key;
    this.#value = value;
    this.#ttlMs = ttlMs;
  }

  async lock(opts?: LockAcquireOptions): Promise<AbortSignal> {
    if (this.#held || this.#acquiring)
      throw new CannotLockError(`lock ${this.#key} is already held or being acquired`);
    this.#acquiring = true;
    try {
      const signal = opts?.signal;
      for (;;) {
        signal?.throwIfAborted();
        try {
          this.#held = await this.#store.atomicPut(this.#key, this.#value, null, { ttl: this.#ttlMs });
          break;
        } catch (err) {
          if (!isKVError(err, 'KEY_EXISTS')) throw err;
        }
        await this.#waitForRelease(signal);
      }
    } catch (err) {
      if (opts?.signal?.aborted && err === opts.signal.reason) {
        throw new CannotLockError(`gave up waiting for lock ${this.#key}`, { cause: err });
      }
      throw err;
    } finally {
      this.#acquiring = false;
    }
    this.#lost = new AbortController();
    this.#scheduleRefresh();
    return this.#lost.signal;
  }

  async unlock(): Promise<void> {
    const held = this.#held;
    if (!held) throw new CannotLockError(`lock ${this.#key} is not held`);
    this.#release();
    try {
      await this.#store.atomicDelete(this.#key, held);
    } catch (err) {
      // Already expired or taken over: it is not ours any more, which is what unlock wants.
      if (!isKVError(err, 'KEY_MODIFIED') && !isKVError(err, 'KEY_NOT_FOUND')) throw err;
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#held ? this.unlock() : Promise.resolve();
  }

  async #waitForRelease(signal: AbortSignal | undefined): Promise<void> {
    const stop = new AbortController();
    try {
      for await (const state of this.#store.watch(this.#key, { signal: anySignal(signal, stop.signal) })) {
        if (state === null) return;
      }
    } finally {
      stop.abort();
    }
    signal?.throwIfAborted();
  }

  #scheduleRefresh(): void {
    // Refresh at a third of the TTL so two missed refreshes still keep the lock (any lock TTL
    // up to MAX_TTL_MS: a third of a year is past what one setTimeout honours).
    const everyMs = Math.max(1, Math.floor(this.#ttlMs / 3));
    this.#refresh = setLongTimeout(() => void this.#refreshOnce(), everyMs, { unref: true });
  }

  async #refreshOnce(): Promise<void> {
    const held = this.#held;
    if (!held) return;
    try {
      const next = await this.#store.atomicPut(this.#key, this.#value, held, { ttl: this.#ttlMs });
      if (this.#held !== held) return;
      this.#held = next;
      this.#scheduleRefresh();
    } catch (err) {
      if (this.#held !== held) return;
      const lost = this.#lost;
      this.#release();
      lost?.abort(new CannotLockError(`lock ${this.#key} was lost`, { cause: err }));
    }
  }

  #release(): void {
    this.#refresh?.cancel();
    this.#refresh = null;
    this.#held = null;
    this.#lost = null;
  }
}
