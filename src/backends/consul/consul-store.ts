import { BaseStore } from '../../store/base-store.js';
import {
  BackendError,
  InvalidKeyError,
  KeyExistsError,
  KeyModifiedError,
  KeyNotFoundError,
} from '../../store/errors.js';
import type { Capabilities, KVPair, Locker } from '../../store/types.js';
import { followKv, type KvQuery } from './blocking-query.js';
import type { ConsulConnection, ConsulEntry, TxnOp, TxnOutcome } from './connection.js';
import { ConsulLock } from './consul-lock.js';
import { cleanAncestor, encodesAsUtf8, servesByPath } from './key-paths.js';
import { kvOp, toPair } from './kv-ops.js';
import { KEY_TTL_GRANULARITY_MS, MIN_KEY_TTL_MS, sessionTtlFor } from './sessions.js';

/** How often a plain write retries when a TTL it replaced expired under it. */
const DETACH_ATTEMPTS = 3;

/**
 * The Store contract on Consul's KV (see docs/backends/consul.md for the full mapping):
 * `lastIndex` is the ModifyIndex; writes go through `/v1/txn` so that each one is a single
 * atomic step that also reports the new ModifyIndex; TTLs and locks ride on sessions with
 * behavior `delete`; watches are blocking queries.
 *
 * One Consul rule shapes the writes: a plain write keeps whatever session holds the key. A key
 * once written with a TTL would still expire after being rewritten without one, so a write that
 * finds a session on the key rewrites it once more without (see #detachSession).
 */
export class ConsulStore extends BaseStore {
  readonly capabilities: Capabilities = {
    watch: true,
    watchTree: true,
    locks: true,
    ttl: { minMs: MIN_KEY_TTL_MS, granularityMs: KEY_TTL_GRANULARITY_MS },
    watchCoalesces: true,
    crossProcessWatch: true,
    // Consul accepts 512 KiB per value, but /v1/txn base64-encodes it (4/3) inside its own body limit.
    maxValueBytes: 384 * 1024,
  };
  readonly #conn: ConsulConnection;

  constructor(conn: ConsulConnection, prefix?: string) {
    super(prefix);
    this.#conn = conn;
  }

  protected async doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    checkKey(key);
    if (ttlMs !== undefined) {
      // Delete first: the key may be held by the session of an earlier TTL (or a lock).
      await this.#writeWithTtl(key, value, ttlMs, [kvOp.delete(key)]);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      const written = await this.#write([kvOp.set(key, value)], true);
      if (!written.ok) throw unexpected(key, written);
      const entry = written.results[0];
      if (!entry.Session) return;
      if ((await this.#detachSession(key, value, entry)) !== 'expired' || attempt === DETACH_ATTEMPTS) return;
    }
  }

  protected async doGet(key: string, consistent: boolean): Promise<KVPair | null> {
    checkKey(key);
    const mode = consistent ? 'consistent' : 'stale';
    if (servesByPath(key)) {
      const entry = (await this.#conn.kvGet(key, { recurse: false, mode })) as ConsulEntry | null;
      return entry ? toPair(entry) : null;
    }
    const read = await this.#conn.txn([kvOp.get(key)], { write: false, mode });
    return read.ok ? toPair(read.results[0]) : null;
  }

  protected async doDelete(key: string): Promise<void> {
    checkKey(key);
    const deleted = await this.#write([kvOp.delete(key)], true);
    if (!deleted.ok) throw unexpected(key, deleted);
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    checkKey(dir);
    if (servesByPath(dir)) {
      const entries = (await this.#conn.kvGet(dir, { recurse: true, mode: 'default' })) as
        | ConsulEntry[]
        | null;
      return (entries ?? []).map((e) => toPair(e));
    }
    const read = await this.#conn.txn([kvOp.getTree(dir)], { write: false });
    return read.ok ? read.results.map((e) => toPair(e)) : [];
  }

  protected async doDeleteTree(dir: string): Promise<void> {
    checkKey(dir);
    const deleted = await this.#write([kvOp.deleteTree(dir)], true);
    if (!deleted.ok) throw unexpected(dir, deleted);
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    checkKey(key);
    const conflict = () =>
      previous === null ? new KeyExistsError(this.callerKey(key)) : new KeyModifiedError(this.callerKey(key));
    if (ttlMs !== undefined) {
      const guard =
        previous === null
          ? [kvOp.checkNotExists(key)]
          : [kvOp.checkIndex(key, previous.lastIndex), kvOp.delete(key)];
      const written = await this.#writeWithTtl(key, value, ttlMs, guard);
      if (written === null) throw conflict();
      return written;
    }
    const written = await this.#write([kvOp.cas(key, value, previous?.lastIndex ?? 0)]);
    if (!written.ok) {
      if (written.failedOp === 0) throw conflict();
      throw unexpected(key, written);
    }
    const entry = written.results[0];
    if (!entry.Session) return toPair(entry, value);
    const detached = await this.#detachSession(key, value, entry);
    return typeof detached === 'object' ? detached : toPair(entry, value);
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    checkKey(key);
    const deleted = await this.#write([kvOp.checkIndex(key, previous.lastIndex), kvOp.delete(key)]);
    if (deleted.ok) return;
    if (deleted.failedOp !== 0) throw unexpected(key, deleted);
    // The check failed: tell "gone" from "changed" by looking.
    const current = await this.doGet(key, true);
    if (current === null) throw new KeyNotFoundError(this.callerKey(key));
    throw new KeyModifiedError(this.callerKey(key));
  }

  protected async *doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    checkKey(key);
    let last: KVPair | null = null;
    for await (const entries of followKv(this.#conn, queryFor(key), signal)) {
      const entry = entries.find((e) => e.Key === key);
      const state = entry ? toPair(entry) : null;
      // A smaller index than one already reported only happens when the server lost its data
      // (a -dev agent restarted): the pair we reported is gone, so say so before the new one.
      if (state && last && state.lastIndex < last.lastIndex) yield null;
      last = state;
      yield state;
    }
  }

  protected async *doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    checkKey(dir);
    const query: KvQuery = servesByPath(dir) ? { path: dir, recurse: true } : queryFor(dir);
    for await (const entries of followKv(this.#conn, query, signal)) {
      yield entries.map((e) => toPair(e));
    }
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
    checkKey(key);
    return new ConsulLock({
      conn: this.#conn,
      key,
      query: queryFor(key),
      value,
      ttlMs,
      closeSignal: this.closeSignal,
    });
  }

  protected async doClose(): Promise<void> {
    // Watches and lock waits end on closeSignal (already aborted); then the sockets go.
    this.#conn.close();
  }

  /** `repeatable`: applying the ops twice leaves the same state as once (safe to retry). */
  #write(ops: TxnOp[], repeatable = false): Promise<TxnOutcome> {
    return this.#conn.txn(ops, { write: true, repeatable });
  }

  /**
   * Writes `value` held by a fresh session whose expiry deletes the key after `ttlMs`; one
   * session per write, so a rewrite restarts the clock. `guard` ops run first in the same
   * transaction. Returns null when a guard failed (the session is then destroyed).
   */
  async #writeWithTtl(key: string, value: Uint8Array, ttlMs: number, guard: TxnOp[]): Promise<KVPair | null> {
    const sessionTtlMs = sessionTtlFor(ttlMs);
    const session = await this.#conn.createSession({
      name: 'kvkit-ttl',
      ttlMs: sessionTtlMs,
      behavior: 'delete',
    });
    let written: TxnOutcome;
    try {
      written = await this.#write([...guard, kvOp.lock(key, value, session)]);
    } catch (err) {
      await this.#conn.destroySession(session).catch(() => {});
      throw err;
    }
    if (written.ok) return toPair(written.results[0], value);
    await this.#conn.destroySession(session).catch(() => {});
    if (written.failedOp < guard.length) return null;
    throw unexpected(key, written);
  }

  /**
   * A plain write landed on a key some session holds (an earlier TTL write or a lock): rewrite
   * it in one transaction without the session, unless someone changed it since. Returns the new
   * pair, 'changed' (a later write won; ours stands in history) or 'expired' (the session
   * expired between the two steps and took our value with it: the caller writes again).
   */
  async #detachSession(
    key: string,
    value: Uint8Array,
    entry: ConsulEntry,
  ): Promise<KVPair | 'changed' | 'expired'> {
    const rewritten = await this.#write([
      kvOp.checkIndex(key, entry.ModifyIndex),
      kvOp.delete(key),
      kvOp.set(key, value),
    ]);
    if (rewritten.ok) return toPair(rewritten.results[0], value);
    if (rewritten.failedOp !== 0) throw unexpected(key, rewritten);
    return (await this.doGet(key, true)) === null ? 'expired' : 'changed';
  }
}

/** How a key is followed: by its own path, or through its nearest clean ancestor directory. */
function queryFor(key: string): KvQuery {
  return servesByPath(key) ? { path: key, recurse: false } : { path: cleanAncestor(key), recurse: true };
}

function checkKey(key: string): void {
  if (!encodesAsUtf8(key))
    throw new InvalidKeyError(`key is not valid UTF-16 text (lone surrogate): ${JSON.stringify(key)}`);
}

function unexpected(key: string, outcome: TxnOutcome): Error {
  const what = outcome.ok ? 'unexpected answer' : outcome.what;
  return new BackendError(`consul write of ${key} failed: ${what}`);
}
