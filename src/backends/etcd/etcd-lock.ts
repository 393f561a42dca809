import type { Etcd3 } from 'etcd3';
import { CannotLockError, ClosedError, type KVError } from '../../store/errors.js';
import { anySignal } from '../../store/signals.js';
import type { LockAcquireOptions, Locker } from '../../store/types.js';
import { toKVError } from './etcd-errors.js';
import { keyBytes, waiterKey } from './key-codec.js';
import type { KeptLease, LeaseKeeper } from './lease-keeper.js';
import { followRange } from './range-follower.js';

/** What a lock needs from its store. */
export interface LockContext {
  client: Etcd3;
  leases: LeaseKeeper;
  /** Aborts when the store closes. */
  closeSignal: AbortSignal;
}

/**
 * A fair lock, in the manner of etcd's own mutex: each contender takes a lease and queues a
 * key under it in the lock's hidden queue; the queue is ordered by creation revision, and each
 * contender waits only for the deletion of the one just before it (no herd on release). At the
 * head of the queue it writes the lock key with the lock's value under the same lease, so
 * `get(lockKey)` shows the holder's value. The lease is kept alive while held; if it cannot be
 * renewed in time the signal from `lock()` aborts. Unlock revokes the lease, which deletes the
 * queue entry and the lock key in one step; a holder that dies loses both after the TTL.
 */
export class EtcdLock implements Locker {
  readonly #ctx: LockContext;
  readonly #key: string;
  readonly #queue: { key: Buffer; range_end: Buffer };
  readonly #value: Uint8Array;
  readonly #ttlMs: number;
  #held: KeptLease | null = null;
  #acquiring = false;

  constructor(
    ctx: LockContext,
    key: string,
    queue: { key: Buffer; range_end: Buffer },
    value: Uint8Array,
    ttlMs: number,
  ) {
    this.#ctx = ctx;
    this.#key = key;
    this.#queue = queue;
    this.#value = value;
    this.#ttlMs = ttlMs;
  }

  async lock(opts?: LockAcquireOptions): Promise<AbortSignal> {
    if (this.#held || this.#acquiring) {
      throw new CannotLockError(`lock ${this.#key} is already held or being acquired`);
    }
    this.#acquiring = true;
    const signal = anySignal(opts?.signal, this.#ctx.closeSignal);
    let lease: KeptLease | null = null;
    try {
      signal.throwIfAborted();
      lease = await this.#ctx.leases.grant(this.#ttlMs);
      const until = anySignal(signal, lease.lost);
      const me = waiterKey(this.#queue, lease.id);
      const queued = await this.#ctx.client.kv.put({ key: me, value: Buffer.alloc(0), lease: lease.id });
      const myRevision = Number(queued.header.revision);
      await this.#waitForTurn(myRevision, until);
      until.throwIfAborted();
      // Our queue entry still existing proves the lease is still alive as we take the lock.
      const took = await this.#ctx.client.kv.txn({
        compare: [{ key: me, target: 'Create', result: 'Equal', create_revision: myRevision }],
        success: [
          { request_put: { key: keyBytes(this.#key), value: Buffer.from(this.#value), lease: lease.id } },
        ],
      });
      if (!took.succeeded) throw new CannotLockError(`lock ${this.#key}: our lease expired while queued`);
      this.#held = lease;
      const held = lease;
      // A lost lock is no longer held: unlock() then rejects, and lock() may be called again.
      held.lost.addEventListener('abort', () => {
        if (this.#held === held) this.#held = null;
      });
      return held.lost;
    } catch (err) {
      if (lease) await this.#ctx.leases.revoke(lease).catch(() => {});
      throw this.#failure(err, opts?.signal, lease);
    } finally {
      this.#acquiring = false;
    }
  }

  async unlock(): Promise<void> {
    const lease = this.#held;
    if (!lease) throw new CannotLockError(`lock ${this.#key} is not held`);
    this.#held = null;
    await this.#ctx.leases.revoke(lease);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#held ? this.unlock() : Promise.resolve();
  }

  /** Waits until no queue entry older than ours is left, watching only the one just before us. */
  async #waitForTurn(myRevision: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const ahead = await this.#ctx.client.kv.range({
        ...this.#queue,
        max_create_revision: myRevision - 1,
        sort_target: 'Create',
        sort_order: 'Descend',
        limit: 1,
        keys_only: true,
      });
      if (ahead.kvs.length === 0) return;
      await this.#waitForDeletion(ahead.kvs[0].key, Number(ahead.header.revision) + 1, signal);
    }
  }

  #waitForDeletion(key: Buffer, fromRevision: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const stop = new AbortController();
      const done = (err?: unknown) => {
        signal.removeEventListener('abort', onAbort);
        stop.abort();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = () => done(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      followRange(
        this.#ctx.client,
        { key },
        fromRevision,
        {
          onRevision: (events) => {
            if (events.some((e) => e.type === 'Delete')) done();
          },
          // Events were compacted away: the caller re-reads the queue anyway.
          onCompacted: async () => {
            done();
            return fromRevision;
          },
          onFatal: (err) => done(err),
        },
        stop.signal,
      );
    });
  }

  #failure(err: unknown, callerSignal: AbortSignal | undefined, lease: KeptLease | null): KVError {
    if (callerSignal?.aborted && err === callerSignal.reason) {
      return new CannotLockError(`gave up waiting for lock ${this.#key}`, { cause: err });
    }
    if (this.#ctx.closeSignal.aborted) return new ClosedError();
    if (lease?.lost.aborted && err === lease.lost.reason) {
      return new CannotLockError(`lost the lease while waiting for lock ${this.#key}`, { cause: err });
    }
    return toKVError(err, `lock ${this.#key}`);
  }
}
