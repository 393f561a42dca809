import { randomBytes } from 'node:crypto';
import { CannotLockError, ClosedError, type KVError } from '../../store/errors.js';
import { anySignal } from '../../store/signals.js';
import type { LockAcquireOptions, Locker } from '../../store/types.js';
import { type LongTimeout, setLongTimeout } from '../../time/long-timeout.js';
import type { RedisConnection } from './connection.js';
import { keyspaceChannel, REVISION_COUNTER } from './key-space.js';
import { LOCK_ACQUIRE, LOCK_REFRESH, LOCK_RELEASE } from './scripts.js';

/** What a lock needs from its store. */
export interface LockContext {
  conn: RedisConnection;
  /** Aborts when the store closes. */
  closeSignal: AbortSignal;
  /** The store's revision floor (see RedisStore). */
  floor: () => number;
  saw: (rev: number) => void;
}

interface Holding {
  token: string;
  fencingToken: number;
  lost: AbortController;
  refresh: NodeJS.Timeout | null;
  /** Fires when the TTL could have lapsed since the last confirmed refresh. */
  expiry: LongTimeout;
}

/**
 * A lock on one Redis key, in the manner of the single-instance recipe of redis.io's
 * "Distributed locks with Redis": the lock key is created only if absent (a script, so the
 * revision and the TTL come with it), holds the lock value, the holder's random token and a
 * revision from the store's counter, and only the token's owner may refresh or delete it.
 * - Fencing: the revision taken is the fencing value (`fencingToken`, also `get(lockKey)
 *   .lastIndex`): every later holder gets a greater one, so a resource can refuse a writer
 *   whose token is older than one it has seen.
 * - Loss: the holder refreshes the TTL every third of it; the signal from `lock()` aborts when
 *   a refresh finds the key gone or taken, or when no refresh was confirmed for a whole TTL
 *   (measured from when it was sent, so never later than the server could expire it).
 * - Waiting: waiters watch the key's keyspace channel and retry when it changes, when its TTL
 *   runs out and after a reconnection; first come on release, no queue (unlike etcd's lock).
 */
export class RedisLock implements Locker {
  readonly #ctx: LockContext;
  readonly #key: string;
  readonly #name: string;
  readonly #value: Buffer;
  readonly #ttlMs: number;
  #held: Holding | null = null;
  #acquiring = false;

  constructor(ctx: LockContext, key: string, name: string, value: Buffer, ttlMs: number) {
    this.#ctx = ctx;
    this.#key = key;
    this.#name = name;
    this.#value = value;
    this.#ttlMs = ttlMs;
  }

  /** The fencing value of the current holding (the lock key's revision); undefined when not held. */
  get fencingToken(): number | undefined {
    return this.#held?.fencingToken;
  }

  async lock(opts?: LockAcquireOptions): Promise<AbortSignal> {
    if (this.#held || this.#acquiring) {
      throw new CannotLockError(`lock ${this.#name} is already held or being acquired`);
    }
    this.#acquiring = true;
    const signal = anySignal(opts?.signal, this.#ctx.closeSignal);
    const token = randomBytes(16).toString('hex');
    const wake = new Wakeup();
    let unsubscribe: (() => void) | undefined;
    let offResync: (() => void) | undefined;
    try {
      signal.throwIfAborted();
      unsubscribe = await this.#ctx.conn.subscribe(keyspaceChannel(this.#key), () => wake.fire());
      offResync = this.#ctx.conn.onResync(() => wake.fire());
      for (;;) {
        signal.throwIfAborted();
        wake.reset();
        const sentAt = performance.now();
        const [rev, ttlLeftMs] = (await this.#ctx.conn.script(
          LOCK_ACQUIRE,
          [this.#key, REVISION_COUNTER],
          [String(this.#ctx.floor()), this.#value, String(this.#ttlMs), token],
          `lock ${this.#name}`,
        )) as [number, number];
        if (rev > 0) {
          this.#ctx.saw(rev);
          return this.#hold(token, rev, sentAt);
        }
        // Held by another: wait for a change, or for its TTL to run out.
        await wake.wait(ttlLeftMs > 0 ? ttlLeftMs + 1 : undefined, signal);
      }
    } catch (err) {
      throw this.#failure(err, opts?.signal);
    } finally {
      wake.reset();
      unsubscribe?.();
      offResync?.();
      this.#acquiring = false;
    }
  }

  async unlock(): Promise<void> {
    const held = this.#held;
    if (!held) throw new CannotLockError(`lock ${this.#name} is not held`);
    this.#release(held);
    // 0 means it expired or was taken over: it is not ours any more, which is what unlock wants.
    await this.#ctx.conn.script(LOCK_RELEASE, [this.#key], [held.token], `unlock ${this.#name}`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#held ? this.unlock() : Promise.resolve();
  }

  #hold(token: string, fencingToken: number, sentAt: number): AbortSignal {
    const lost = new AbortController();
    const held: Holding = { token, fencingToken, lost, refresh: null, expiry: { cancel() {} } };
    this.#held = held;
    held.expiry = this.#expiryAfter(sentAt, held);
    const onClose = () => this.#lose(held, new ClosedError());
    this.#ctx.closeSignal.addEventListener('abort', onClose, { once: true });
    lost.signal.addEventListener('abort', () => this.#ctx.closeSignal.removeEventListener('abort', onClose), {
      once: true,
    });
    this.#scheduleRefresh(held);
    return lost.signal;
  }

  #scheduleRefresh(held: Holding): void {
    held.refresh = setTimeout(() => void this.#refresh(held), Math.max(1, Math.floor(this.#ttlMs / 3)));
    held.refresh.unref();
  }

  async #refresh(held: Holding): Promise<void> {
    const sentAt = performance.now();
    let ours: boolean;
    try {
      ours =
        Number(
          await this.#ctx.conn.script(
            LOCK_REFRESH,
            [this.#key],
            [held.token, String(this.#ttlMs)],
            `refresh lock ${this.#name}`,
          ),
        ) === 1;
    } catch {
      // Unanswered: keep trying; the expiry timer says when it is too late.
      if (this.#held === held) this.#scheduleRefresh(held);
      return;
    }
    if (this.#held !== held) return;
    if (!ours) {
      this.#lose(held, new CannotLockError(`lock ${this.#name} was lost: it expired or was taken over`));
      return;
    }
    held.expiry.cancel();
    held.expiry = this.#expiryAfter(sentAt, held);
    this.#scheduleRefresh(held);
  }

  #expiryAfter(sentAt: number, held: Holding): LongTimeout {
    const left = sentAt + this.#ttlMs - performance.now();
    const reason = () =>
      new CannotLockError(`lock ${this.#name} was lost: no refresh was confirmed within its ttl`);
    return setLongTimeout(() => this.#lose(held, reason()), left, { unref: true });
  }

  #lose(held: Holding, reason: Error): void {
    if (this.#held !== held) return;
    this.#release(held);
    held.lost.abort(reason);
  }

  #release(held: Holding): void {
    if (held.refresh) clearTimeout(held.refresh);
    held.expiry.cancel();
    if (this.#held === held) this.#held = null;
  }

  #failure(err: unknown, callerSignal: AbortSignal | undefined): unknown {
    if (callerSignal?.aborted && err === callerSignal.reason) {
      return new CannotLockError(`gave up waiting for lock ${this.#name}`, { cause: err });
    }
    if (this.#ctx.closeSignal.aborted) return new ClosedError();
    return err as KVError;
  }
}

/** A wake-up for a waiter that never misses one fired between its checks. */
class Wakeup {
  #fired = false;
  #wake: (() => void) | null = null;

  fire(): void {
    const wake = this.#wake;
    if (wake) wake();
    else this.#fired = true;
  }

  /** Forgets wake-ups fired before now. */
  reset(): void {
    this.#fired = false;
    this.#wake = null;
  }

  /** Resolves on a wake-up (or at once if one came since reset), after `timeoutMs`, or rejects on abort. */
  wait(timeoutMs: number | undefined, signal: AbortSignal): Promise<void> {
    if (this.#fired) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = timeoutMs === undefined ? null : setLongTimeout(() => done(), timeoutMs);
      const onAbort = () => done(signal.reason);
      const done = (err?: unknown) => {
        this.#wake = null;
        timer?.cancel();
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      this.#wake = () => done();
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
