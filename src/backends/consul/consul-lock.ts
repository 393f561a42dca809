import { BackendError, CannotLockError, ClosedError, isKVError } from '../../store/errors.js';
import { anySignal } from '../../store/signals.js';
import type { LockAcquireOptions, Locker } from '../../store/types.js';
import { followKv, type KvQuery } from './blocking-query.js';
import type { ConsulConnection } from './connection.js';
import { kvOp } from './kv-ops.js';
import { SessionKeeper, sessionTtlFor } from './sessions.js';

export interface ConsulLockOptions {
  conn: ConsulConnection;
  /** The lock key, prefixed, as stored in Consul. */
  key: string;
  /** How the key is followed (by path, or through a clean ancestor directory). */
  query: KvQuery;
  value: Uint8Array;
  ttlMs: number;
  /** Aborts when the store closes. */
  closeSignal: AbortSignal;
}

type State =
  | { kind: 'idle' }
  | { kind: 'acquiring' }
  | {
      kind: 'held';
      session: SessionKeeper;
      /** ModifyIndex of the acquiring write: any other index means someone else wrote the key. */
      index: number;
      lost: AbortController;
      stopWatching: AbortController;
    };

/**
 * Consul's own lock recipe: a session (behavior `release`, TTL from the lock's ttl) acquires the
 * key with its value, in held Flags (kv-ops.ts); waiters follow the key with blocking queries and
 * try again once no session holds it. The session is renewed while waiting and while held. The
 * holder's signal aborts when the session is invalidated or cannot be renewed in time, when the
 * key is deleted, taken over or written by anyone (a plain put keeps the session on the key:
 * the holder sees the ModifyIndex move, and destroys its session, which releases the key with
 * that write's value), or when the store closes (then the session is left to expire after its
 * TTL, as if the process had died; the lock value it releases reads as absent). unlock() deletes
 * the key if it is still the holder's write, then destroys the session.
 */
export class ConsulLock implements Locker {
  readonly #o: ConsulLockOptions;
  readonly #sessionTtlMs: number;
  #state: State = { kind: 'idle' };

  constructor(options: ConsulLockOptions) {
    this.#o = options;
    this.#sessionTtlMs = sessionTtlFor(options.ttlMs);
  }

  async lock(opts?: LockAcquireOptions): Promise<AbortSignal> {
    if (this.#state.kind !== 'idle')
      throw new CannotLockError(`lock ${this.#o.key} is already held or being acquired`);
    const { closeSignal } = this.#o;
    if (closeSignal.aborted) throw new ClosedError();
    this.#state = { kind: 'acquiring' };
    const signal = anySignal(opts?.signal, closeSignal);
    let session: SessionKeeper | null = null;
    let index: number;
    try {
      for (;;) {
        signal.throwIfAborted();
        if (!session?.active) session = await this.#newSession();
        const outcome = await this.#tryAcquire(session.id);
        if (typeof outcome === 'number') {
          index = outcome;
          break;
        }
        if (outcome === 'session-gone') {
          session.stop();
          continue;
        }
        await this.#waitUntilFree(signal);
      }
    } catch (err) {
      this.#state = { kind: 'idle' };
      session?.stop();
      if (closeSignal.aborted) throw new ClosedError();
      // The session holds nothing: destroy it rather than leave it to expire.
      if (session) await this.#o.conn.destroySession(session.id).catch(() => {});
      if (opts?.signal?.aborted && err === opts.signal.reason) {
        throw new CannotLockError(`gave up waiting for lock ${this.#o.key}`, { cause: err });
      }
      throw err;
    }
    return this.#hold(session, index);
  }

  async unlock(): Promise<void> {
    const state = this.#state;
    if (state.kind !== 'held') throw new CannotLockError(`lock ${this.#o.key} is not held`);
    this.#release(state);
    // Delete the key while it is still our write (waiters see it go at once), then end the
    // session; had someone written the key since, ending the session releases their value.
    await this.#o.conn.txn([kvOp.checkIndex(this.#o.key, state.index), kvOp.delete(this.#o.key)], {
      write: true,
    });
    await this.#o.conn.destroySession(state.session.id);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#state.kind === 'held' ? this.unlock() : Promise.resolve();
  }

  async #newSession(): Promise<SessionKeeper> {
    const id = await this.#o.conn.createSession({
      name: 'kvkit-lock',
      ttlMs: this.#sessionTtlMs,
      behavior: 'release',
    });
    return new SessionKeeper(this.#o.conn, id, this.#sessionTtlMs, (reason) =>
      this.#onSessionLost(id, reason),
    );
  }

  /** The ModifyIndex of the acquiring write, or why the key was not acquired. */
  async #tryAcquire(session: string): Promise<number | 'busy' | 'session-gone'> {
    const outcome = await this.#o.conn.txn([kvOp.lock(this.#o.key, this.#o.value, session)], { write: true });
    if (outcome.ok) {
      const entry = outcome.results[0];
      if (!entry) throw new BackendError(`consul lock ${this.#o.key}: the answer carries no entry`);
      return entry.ModifyIndex;
    }
    if (/already held/i.test(outcome.what)) return 'busy';
    if (/session/i.test(outcome.what)) return 'session-gone';
    throw new BackendError(`consul lock ${this.#o.key}: ${outcome.what}`);
  }

  /** Returns once no session holds the key (or it is absent). */
  async #waitUntilFree(signal: AbortSignal): Promise<void> {
    // Leaving the loop stops the blocking queries behind it.
    for await (const entries of followKv(this.#o.conn, this.#o.query, signal)) {
      const entry = entries.find((e) => e.Key === this.#o.key);
      if (!entry?.Session) return;
    }
    signal.throwIfAborted();
  }

  #hold(session: SessionKeeper, index: number): AbortSignal {
    const lost = new AbortController();
    const stopWatching = new AbortController();
    const state: State = { kind: 'held', session, index, lost, stopWatching };
    this.#state = state;
    const onClose = () => this.#lose(state, new ClosedError('the store closed while the lock was held'));
    this.#o.closeSignal.addEventListener('abort', onClose, { once: true });
    stopWatching.signal.addEventListener(
      'abort',
      () => this.#o.closeSignal.removeEventListener('abort', onClose),
      {
        once: true,
      },
    );
    void this.#watchKey(state, session.id);
    return lost.signal;
  }

  /** Holders learn of a deleted, taken-over or rewritten key from a blocking query on it. */
  async #watchKey(state: State & { kind: 'held' }, session: string): Promise<void> {
    try {
      for await (const entries of followKv(this.#o.conn, this.#o.query, state.stopWatching.signal)) {
        const entry = entries.find((e) => e.Key === this.#o.key);
        if (entry?.Session !== session) {
          this.#lose(state, new CannotLockError(`lock ${this.#o.key} was deleted or taken over`));
          return;
        }
        if (entry.ModifyIndex !== state.index) {
          // Someone wrote the key; the session still holds it. Ending the session releases it
          // with their value, which then stays (it no longer carries held Flags).
          this.#lose(state, new CannotLockError(`lock ${this.#o.key} was overwritten by another write`));
          await this.#o.conn.destroySession(session).catch(() => {});
          return;
        }
      }
    } catch (err) {
      if (isKVError(err))
        this.#lose(state, new CannotLockError(`lock ${this.#o.key}: ${err.message}`, { cause: err }));
    }
  }

  #onSessionLost(id: string, reason: Error): void {
    const state = this.#state;
    if (state.kind === 'held' && state.session.id === id) this.#lose(state, reason);
  }

  #lose(state: State & { kind: 'held' }, reason: Error): void {
    if (this.#state !== state) return;
    this.#release(state);
    state.lost.abort(reason);
  }

  #release(state: State & { kind: 'held' }): void {
    this.#state = { kind: 'idle' };
    state.session.stop();
    state.stopWatching.abort();
  }
}
