import { CannotLockError, ClosedError, InvalidArgumentError } from '../../store/errors.js';
import { anySignal } from '../../store/signals.js';
import type { LockAcquireOptions, Locker } from '../../store/types.js';
import type { ZkConnection } from './connection.js';
import { childPath, lockQueuePath } from './paths.js';
import type { EphemeralSessions } from './sessions.js';
import { ownerOf } from './stat.js';
import { CreateMode, ZkCode, zkCode } from './zk-client.js';
import { toKVError } from './zk-errors.js';

/** What a lock needs from its store. */
export interface LockContext {
  sessions: EphemeralSessions;
  /** Aborts when the store closes. */
  closeSignal: AbortSignal;
  /** Creates the missing ancestors of a znode (as intermediate znodes). */
  ensureParents(path: string): Promise<void>;
  /** Removes the empty intermediate znodes above `path`, bottom up. */
  pruneAbove(path: string): Promise<void>;
}

const CONTENDER_PREFIX = 'c-';

interface Held {
  conn: ZkConnection;
  contender: string;
  lost: AbortController;
  stop: () => void;
}

/**
 * ZooKeeper's lock recipe. Contenders queue as ephemeral-sequential znodes in a hidden sibling
 * of the lock key (`<key>%lock/c-NNNNNNNNNN`) and each watches only the one before it, so a
 * release wakes exactly one waiter. The head of the queue then creates the lock key itself as
 * an ephemeral znode holding the lock's value, so `get(lockKey)` shows the holder. Both znodes
 * live in a session whose timeout is the lock TTL: if the holder dies, the server deletes them
 * once the TTL passes and the next contender takes over.
 */
export class ZkLock implements Locker {
  readonly #ctx: LockContext;
  readonly #key: string;
  readonly #path: string;
  readonly #queue: string;
  readonly #value: Buffer;
  readonly #ttlMs: number;
  #held: Held | null = null;
  #acquiring = false;

  constructor(ctx: LockContext, key: string, path: string, value: Uint8Array, ttlMs: number) {
    this.#ctx = ctx;
    this.#key = key;
    this.#path = path;
    this.#queue = lockQueuePath(path);
    this.#value = Buffer.from(value);
    this.#ttlMs = ttlMs;
  }

  async lock(opts?: LockAcquireOptions): Promise<AbortSignal> {
    if (this.#held || this.#acquiring)
      throw new CannotLockError(`lock ${this.#key} is already held or being acquired`);
    if (this.#ctx.closeSignal.aborted) throw new ClosedError();
    this.#acquiring = true;
    const signal = anySignal(opts?.signal, this.#ctx.closeSignal);
    let conn: ZkConnection | null = null;
    let contender: string | null = null;
    try {
      for (;;) {
        signal.throwIfAborted();
        conn = await this.#ctx.sessions.get(this.#ttlMs);
        contender = await this.#enqueue(conn);
        if (await this.#waitTurn(conn, contender, signal)) break;
        // Our contender vanished (session expired, or the queue was deleted): queue again.
      }
    } catch (err) {
      if (conn && contender) await conn.remove(contender, -1).catch(() => {});
      if (this.#ctx.closeSignal.aborted) throw new ClosedError();
      if (opts?.signal?.aborted) {
        throw new CannotLockError(`gave up waiting for lock ${this.#key}`, { cause: opts.signal.reason });
      }
      throw toKVError(err, `lock ${this.#key}`);
    } finally {
      this.#acquiring = false;
    }
    return this.#hold(conn, contender);
  }

  async unlock(): Promise<void> {
    const held = this.#held;
    if (!held) throw new CannotLockError(`lock ${this.#key} is not held`);
    this.#release();
    const { conn, contender } = held;
    if (sessionGone(conn)) return; // its znodes went with the session
    try {
      const stat = await conn.exists(this.#path);
      if (stat && ownerOf(stat) === conn.sessionId) await ignoreGone(conn.remove(this.#path, stat.version));
      await ignoreGone(conn.remove(contender, -1));
    } catch (err) {
      if (sessionGone(conn)) return;
      throw toKVError(err, `unlock ${this.#key}`);
    }
    await this.#ctx.pruneAbove(contender);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#held ? this.unlock() : Promise.resolve();
  }

  async #enqueue(conn: ZkConnection): Promise<string> {
    const prefix = childPath(this.#queue, CONTENDER_PREFIX);
    for (let attempt = 0; ; attempt++) {
      try {
        return await conn.create(prefix, undefined, CreateMode.EPHEMERAL_SEQUENTIAL);
      } catch (err) {
        if (zkCode(err) !== ZkCode.NO_NODE || attempt >= 10) throw err;
      }
      await this.#ctx.ensureParents(prefix);
    }
  }

  /** Waits until `contender` heads the queue and the lock key is ours; false if it vanished. */
  async #waitTurn(conn: ZkConnection, contender: string, signal: AbortSignal): Promise<boolean> {
    const name = contender.slice(this.#queue.length + 1);
    for (;;) {
      signal.throwIfAborted();
      if (sessionGone(conn)) return false;
      let queue: string[];
      try {
        queue = (await conn.getChildren(this.#queue))
          .filter((n) => n.startsWith(CONTENDER_PREFIX))
          .sort(bySequence);
      } catch (err) {
        if (zkCode(err) === ZkCode.NO_NODE) return false;
        throw err;
      }
      const position = queue.indexOf(name);
      if (position === -1) return false;
      if (position > 0) {
        await waitForChange(conn, childPath(this.#queue, queue[position - 1]), signal);
        continue;
      }
      try {
        await conn.create(this.#path, this.#value, CreateMode.EPHEMERAL);
        return true;
      } catch (err) {
        const code = zkCode(err);
        if (code === ZkCode.NODE_EXISTS) {
          // The key holds a value someone wrote directly: the lock is free once it goes.
          await waitForChange(conn, this.#path, signal);
        } else if (code === ZkCode.NO_NODE) {
          await this.#ctx.ensureParents(this.#path);
        } else if (code === ZkCode.NO_CHILDREN_FOR_EPHEMERALS) {
          throw new InvalidArgumentError(
            `lock ${this.#key} is under a key with a TTL (ZooKeeper ephemeral znode)`,
          );
        } else {
          throw err;
        }
      }
    }
  }

  #hold(conn: ZkConnection, contender: string): AbortSignal {
    const lost = new AbortController();
    const loseIfNotOurs = async () => {
      if (this.#held?.lost !== lost) return;
      try {
        const stat = await conn.exists(this.#path, watcher);
        if (stat && ownerOf(stat) === conn.sessionId) return;
      } catch {
        if (conn.state === 'connected' || conn.state === 'disconnected') return; // re-checked on reconnect
      }
      this.#lose(lost, 'its znode was deleted or its session expired');
    };
    const watcher = () => void loseIfNotOurs();
    const unsubscribe = conn.onState((state) => {
      if (state === 'connected') void loseIfNotOurs();
      else if (state === 'expired') this.#lose(lost, 'its ZooKeeper session expired');
      else if (state === 'closed') this.#lose(lost, 'the store closed');
    });
    this.#held = { conn, contender, lost, stop: unsubscribe };
    void loseIfNotOurs();
    return lost.signal;
  }

  #lose(lost: AbortController, why: string): void {
    if (this.#held?.lost !== lost) return;
    this.#release();
    lost.abort(new CannotLockError(`lock ${this.#key} was lost: ${why}`));
  }

  #release(): void {
    this.#held?.stop();
    this.#held = null;
  }
}

/** Resolves when the znode at `path` changes or goes (or already is gone), or the session flaps. */
function waitForChange(conn: ZkConnection, path: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      unsubscribe();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => finish(signal.reason);
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const unsubscribe = conn.onState((state) => state !== 'connected' && finish());
    signal.addEventListener('abort', onAbort, { once: true });
    conn
      .exists(path, () => finish())
      .then(
        (stat) => stat === null && finish(),
        (err) => finish(err),
      );
  });
}

function sessionGone(conn: ZkConnection): boolean {
  return conn.state === 'expired' || conn.state === 'closed';
}

function bySequence(a: string, b: string): number {
  return a.slice(-10).localeCompare(b.slice(-10));
}

async function ignoreGone(op: Promise<void>): Promise<void> {
  try {
    await op;
  } catch (err) {
    const code = zkCode(err);
    if (code !== ZkCode.NO_NODE && code !== ZkCode.BAD_VERSION) throw err;
  }
}
