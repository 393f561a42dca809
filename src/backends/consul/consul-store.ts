import { BaseStore } from '../../store/base-store.js';
import {
  BackendError,
  KeyExistsError,
  KeyModifiedError,
  KeyNotFoundError,
  ValueTooLargeError,
} from '../../store/errors.js';
import type { Capabilities, KVPair, Locker } from '../../store/types.js';
import { followKv, type KvQuery } from './blocking-query.js';
import type { ConsulConnection, ConsulEntry, TxnOp, TxnOutcome } from './connection.js';
import { ConsulLock } from './consul-lock.js';
import { cleanAncestor, servesByPath } from './key-paths.js';
import { kvOp, nextStamp, toPair } from './kv-ops.js';
import { deadlineFlags, ExpirySweeper } from './long-ttl.js';
import {
  KEY_TTL_GRANULARITY_MS,
  MAX_KEY_TTL_MS,
  MIN_KEY_TTL_MS,
  SESSION_TTL_MULTIPLIER,
  sessionTtlFor,
} from './sessions.js';

/** How often a create retries when it finds an expired long-TTL entry that is being swept. */
const EXPIRED_ATTEMPTS = 3;
/** Consul's default limits.kv_max_value_size: the largest value a plain PUT carries. */
export const CONSUL_MAX_VALUE_BYTES = 512 * 1024;
/**
 * The largest value kvkit sends inside `/v1/txn`: the agent's limits.txn_max_req_len (512 KiB
 * by default) bounds the whole JSON body, in which values travel base64-encoded (4/3 of their
 * size), with room left for a 4 KiB key. Larger values go through a plain PUT.
 */
export const TXN_VALUE_MAX_BYTES = 360 * 1024;

/**
 * The Store contract on Consul's KV (see docs/backends/consul.md for the full mapping):
 * `lastIndex` is the ModifyIndex; TTLs and locks ride on sessions with behavior `release`, their
 * writes marked in Flags (kv-ops.ts, heldStamp) so that a key its session released reads as
 * absent and is swept; TTLs longer than a session carries ride on a deadline in the entry's Flags
 * (long-ttl.ts); watches are blocking queries.
 *
 * Which endpoint a write takes: writes that need nothing back go through the plain KV endpoint
 * — put (`PUT /v1/kv/k`, one request, whatever session holds the key: see kv-ops.ts on why that
 * is safe), delete and deleteTree. Writes whose answer matters go through `/v1/txn`, the only
 * endpoint that answers with the new entry: atomicPut (the caller chains the new ModifyIndex;
 * when a session held the key, #detachSession frees it), TTL writes (a session acquires the key
 * in the same step) and atomicDelete (the plain `DELETE ?cas=` answers true for a key already
 * gone). Keys Consul's router would rewrite travel in a transaction's body. A compare-and-swap
 * of a value too large for a transaction (TXN_VALUE_MAX_BYTES) is a `PUT ?cas=` and a read.
 */
export class ConsulStore extends BaseStore {
  readonly capabilities: Capabilities = {
    watch: true,
    watchTree: true,
    locks: true,
    ttl: { minMs: MIN_KEY_TTL_MS, granularityMs: KEY_TTL_GRANULARITY_MS },
    watchCoalesces: true,
    crossProcessWatch: true,
    // A plain PUT carries up to kv_max_value_size (TTL writes, which need /v1/txn, less: see doPut).
    maxValueBytes: CONSUL_MAX_VALUE_BYTES,
  };
  readonly #conn: ConsulConnection;
  readonly #sweeper: ExpirySweeper;

  constructor(conn: ConsulConnection, prefix?: string, maxValueBytes = CONSUL_MAX_VALUE_BYTES) {
    super(prefix);
    this.#conn = conn;
    this.#sweeper = new ExpirySweeper(conn);
    this.capabilities.maxValueBytes = maxValueBytes;
  }

  protected async doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    this.#sweeper.cancel(key);
    if (ttlMs !== undefined) {
      checkTxnValue(key, value, 'a write with a TTL');
      // Delete first: the key may be held by the session of an earlier TTL (or a lock).
      await this.#writeWithTtl(key, value, ttlMs, [kvOp.delete(key)]);
      return;
    }
    // A plain write needs no answer but "done". A session holding the key (an earlier TTL, a
    // lock) keeps holding it, but the plain stamp in Flags tells every reader the session no
    // longer speaks for the key, and when it ends it releases the key with this value (kv-ops.ts).
    if (servesByPath(key)) {
      if (!(await this.#conn.kvPut(key, value, { flags: nextStamp() })))
        throw new BackendError(`consul put of ${key}: the agent answered false to an unconditional write`);
      return;
    }
    checkTxnValue(key, value, 'a write of a key Consul cannot take in a URL');
    const written = await this.#write([kvOp.set(key, value)]);
    if (!written.ok) throw unexpected(key, written);
  }

  protected async doGet(key: string, consistent: boolean): Promise<KVPair | null> {
    const mode = consistent ? 'consistent' : 'stale';
    if (servesByPath(key)) {
      const entry = await this.#conn.kvGet(key, { recurse: false, mode });
      return this.#pairOf(entry);
    }
    const read = await this.#conn.txn([kvOp.get(key)], { write: false, mode });
    return read.ok ? this.#pairOf(read.results[0]) : null;
  }

  protected async doDelete(key: string): Promise<void> {
    this.#sweeper.cancel(key);
    if (servesByPath(key)) {
      await this.#conn.kvDelete(key);
      return;
    }
    const deleted = await this.#write([kvOp.delete(key)]);
    if (!deleted.ok) throw unexpected(key, deleted);
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    if (servesByPath(dir)) {
      return this.#pairsOf(await this.#conn.kvGet(dir, { recurse: true, mode: 'consistent' }));
    }
    // Consistent like `get`: in `default` mode a deposed leader may still answer from its own state.
    const read = await this.#conn.txn([kvOp.getTree(dir)], { write: false, mode: 'consistent' });
    return read.ok ? this.#pairsOf(read.results) : [];
  }

  protected async doDeleteTree(dir: string): Promise<void> {
    this.#sweeper.cancelUnder(dir);
    // The plain endpoint deletes by string prefix; `dir` is '' or ends with '/', so it is the directory.
    if (servesByPath(dir)) {
      await this.#conn.kvDelete(dir, { recurse: true });
      return;
    }
    const deleted = await this.#write([kvOp.deleteTree(dir)]);
    if (!deleted.ok) throw unexpected(dir, deleted);
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    if (previous !== null) {
      const written = await this.#putAt(key, value, previous.lastIndex, ttlMs);
      if (written === null) throw new KeyModifiedError(this.callerKey(key));
      return written;
    }
    // "Absent" includes a long-TTL key past its deadline that no sweep has deleted yet: replace
    // that entry by its index (a sweep deleting it meanwhile makes the key absent: try again).
    let index: number | null = null;
    for (let attempt = 0; attempt < EXPIRED_ATTEMPTS; attempt++) {
      const written = await this.#putAt(key, value, index, ttlMs);
      if (written !== null) return written;
      const found = await this.#expiredIndex(key);
      if (found === 'live') break;
      index = found;
    }
    throw new KeyExistsError(this.callerKey(key));
  }

  /**
   * Writes `value` if the key's ModifyIndex is `index` (null: only if absent). Returns the new
   * pair, or null when the key did not match.
   */
  async #putAt(
    key: string,
    value: Uint8Array,
    index: number | null,
    ttlMs: number | undefined,
  ): Promise<KVPair | null> {
    if (ttlMs !== undefined) {
      checkTxnValue(key, value, 'a write with a TTL');
      const guard =
        index === null ? [kvOp.checkNotExists(key)] : [kvOp.checkIndex(key, index), kvOp.delete(key)];
      return this.#writeWithTtl(key, value, ttlMs, guard);
    }
    if (value.length > TXN_VALUE_MAX_BYTES && servesByPath(key)) {
      const written = await this.#casLarge(key, value, index ?? 0);
      if (written !== null) this.#sweeper.cancel(key);
      return written;
    }
    checkTxnValue(key, value, 'a write of a key Consul cannot take in a URL');
    const written = await this.#write([kvOp.cas(key, value, index ?? 0)]);
    if (!written.ok) {
      if (written.failedOp === 0) return null;
      throw unexpected(key, written);
    }
    this.#sweeper.cancel(key);
    const entry = written.results[0];
    if (!entry.Session) return toPair(entry, value);
    return (await this.#detachSession(key, value, entry)) ?? toPair(entry, value);
  }

  /**
   * What stands at `key` for a create: 'live' (a key the contract sees), the ModifyIndex of a
   * long-TTL entry past its deadline, or null (absent).
   */
  async #expiredIndex(key: string): Promise<number | 'live' | null> {
    const read = await this.#conn.txn([kvOp.get(key)], { write: false, mode: 'consistent' });
    if (!read.ok) return null;
    const entry = read.results[0];
    return this.#sweeper.expired(entry) ? entry.ModifyIndex : 'live';
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    // Through /v1/txn: the plain `DELETE ?cas=` answers true for a key that is already gone.
    const deleted = await this.#write([kvOp.checkIndex(key, previous.lastIndex), kvOp.delete(key)]);
    if (deleted.ok) return this.#sweeper.cancel(key);
    if (deleted.failedOp !== 0) throw unexpected(key, deleted);
    // The check failed: tell "gone" from "changed" by looking.
    const current = await this.doGet(key, true);
    if (current === null) throw new KeyNotFoundError(this.callerKey(key));
    throw new KeyModifiedError(this.callerKey(key));
  }

  protected async *doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    let last: KVPair | null = null;
    for await (const entries of followKv(this.#conn, queryFor(key), signal)) {
      const entry = entries.find((e) => e.Key === key);
      const state = entry ? this.#pairOf(entry) : null;
      // A smaller index than one already reported only happens when the server lost its data
      // (a -dev agent restarted): the pair we reported is gone, so say so before the new one.
      if (state && last && state.lastIndex < last.lastIndex) yield null;
      last = state;
      yield state;
    }
  }

  protected async *doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    const query: KvQuery = servesByPath(dir) ? { path: dir, recurse: true } : queryFor(dir);
    for await (const entries of followKv(this.#conn, query, signal)) {
      yield this.#pairsOf(entries);
    }
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
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
    // Watches and lock waits end on closeSignal (already aborted); this store's sweeps stop
    // (long-TTL keys are enforced by every reader and swept by the next store that sees them);
    // then the sockets go.
    this.#sweeper.close();
    this.#conn.close();
  }

  #write(ops: TxnOp[]): Promise<TxnOutcome> {
    return this.#conn.txn(ops, { write: true });
  }

  /**
   * atomicPut of a value too large for a transaction: `PUT ?cas=<index>` (null when it did not
   * hold), then a read for the new ModifyIndex, since the plain endpoint answers only true/false.
   * The read recognises our write by its unique Flags stamp, so the index is exact. Only if
   * another client replaced the key within that round trip is our write gone before we can see
   * it: then lastIndex is `index + 1` — at most the true index, above `index`, and below every
   * later state of the key — so the pair identifies no other state and any compare-and-swap
   * with it fails, as it must.
   */
  async #casLarge(key: string, value: Uint8Array, index: number): Promise<KVPair | null> {
    const stamp = nextStamp();
    if (!(await this.#conn.kvPut(key, value, { cas: index, flags: stamp }))) return null;
    const entry = await this.#conn.kvGet(key, { recurse: false, mode: 'default' });
    if (entry === null || entry.Flags !== stamp) return { key, value, lastIndex: index + 1 };
    if (!entry.Session) return toPair(entry, value);
    // A session held the key at `index` and kept it: free it, as a plain write must (watchers
    // then see the value twice, as after #detachSession).
    const again = nextStamp();
    if (await this.#conn.kvPut(key, value, { release: entry.Session, flags: again })) {
      const released = await this.#conn.kvGet(key, { recurse: false, mode: 'default' });
      if (released === null || released.Flags !== again)
        return { key, value, lastIndex: entry.ModifyIndex + 1 };
      return toPair(released, value);
    }
    return toPair(entry, value);
  }

  /**
   * Writes `value` so that the key goes after `ttlMs`: held by a fresh session whose expiry
   * deletes it (one session per write, so a rewrite restarts the clock), or, past what a session
   * carries, with its deadline in Flags (long-ttl.ts). `guard` ops run first in the same
   * transaction. Returns null when a guard failed (a session is then destroyed).
   */
  async #writeWithTtl(key: string, value: Uint8Array, ttlMs: number, guard: TxnOp[]): Promise<KVPair | null> {
    if (ttlMs > MAX_KEY_TTL_MS) {
      // The TTL counts from before the write was sent, as a session's does.
      const flags = deadlineFlags(Date.now() + ttlMs, nextStamp());
      const written = await this.#write([...guard, kvOp.set(key, value, flags)]);
      if (written.ok) {
        // This store sweeps it at its deadline (so do the others that read it meanwhile).
        const entry = wrote(written);
        this.#sweeper.cancel(key);
        this.#sweeper.live(entry);
        return toPair(entry, value);
      }
      if (written.failedOp < guard.length) return null;
      throw unexpected(key, written);
    }
    const sessionTtlMs = sessionTtlFor(ttlMs);
    // Behavior `release`: when the session ends, the key is released, absent for kvkit
    // (isReleased) and swept; a plain write over it meanwhile stays (see kv-ops.ts).
    const session = await this.#conn.createSession({
      name: 'kvkit-ttl',
      ttlMs: sessionTtlMs,
      behavior: 'release',
    });
    let written: TxnOutcome;
    try {
      written = await this.#write([...guard, kvOp.lock(key, value, session)]);
    } catch (err) {
      await this.#conn.destroySession(session).catch(() => {});
      throw err;
    }
    if (written.ok) {
      // The server ends the session between one and two session TTLs after the write.
      this.#sweeper.sessionEnds(
        key,
        Date.now() + SESSION_TTL_MULTIPLIER * sessionTtlMs + KEY_TTL_GRANULARITY_MS,
      );
      return toPair(wrote(written), value);
    }
    await this.#conn.destroySession(session).catch(() => {});
    if (written.failedOp < guard.length) return null;
    throw unexpected(key, written);
  }

  /** A read entry as the contract sees it: null when absent or past a long TTL's deadline. */
  #pairOf(entry: ConsulEntry | null): KVPair | null {
    const live = entry && this.#sweeper.live(entry);
    return live ? toPair(live) : null;
  }

  #pairsOf(entries: ConsulEntry[]): KVPair[] {
    return this.#sweeper.liveAll(entries).map((e) => toPair(e));
  }

  /**
   * A compare-and-swap landed on a key some session holds (an earlier TTL write or a lock):
   * rewrite it in one transaction without the session, unless someone changed it since, so the
   * pair atomicPut returns stays the key's state (the session's end would release the key and
   * move its ModifyIndex). Returns the key's pair after that, or null when a later write won
   * (ours stands in history, as the state the caller's pair names).
   */
  async #detachSession(key: string, value: Uint8Array, entry: ConsulEntry): Promise<KVPair | null> {
    const rewritten = await this.#write([
      kvOp.checkIndex(key, entry.ModifyIndex),
      kvOp.delete(key),
      kvOp.set(key, value),
    ]);
    if (rewritten.ok) return toPair(wrote(rewritten), value);
    if (rewritten.failedOp !== 0) throw unexpected(key, rewritten);
    // The session may have ended in between and released our write: then that is the state.
    const read = await this.#conn.txn([kvOp.get(key)], { write: false, mode: 'consistent' });
    const now = read.ok ? read.results[0] : null;
    return now && now.Flags === entry.Flags && !now.Session ? toPair(now, value) : null;
  }
}

/** How a key is followed: by its own path, or through its nearest clean ancestor directory. */
function queryFor(key: string): KvQuery {
  return servesByPath(key) ? { path: key, recurse: false } : { path: cleanAncestor(key), recurse: true };
}

/** Values a transaction must carry (TTL writes, keys outside the URL) are bounded by its body limit. */
function checkTxnValue(key: string, value: Uint8Array, what: string): void {
  if (value.length <= TXN_VALUE_MAX_BYTES) return;
  throw new ValueTooLargeError(
    `value of ${key} is ${value.length} bytes; ${what} goes through Consul's /v1/txn, which carries ` +
      `at most ${TXN_VALUE_MAX_BYTES} (values are base64-encoded within limits.txn_max_req_len)`,
  );
}

/**
 * The entry a transaction's write produced: its last result. A check-index before it answers
 * with the entry it checked (the old ModifyIndex), so the first result is not it.
 */
function wrote(outcome: TxnOutcome & { ok: true }): ConsulEntry {
  const entry = outcome.results.at(-1);
  if (!entry) throw new BackendError('consul transaction answered without the entry it wrote');
  return entry;
}

function unexpected(key: string, outcome: TxnOutcome): Error {
  const what = outcome.ok ? 'unexpected answer' : outcome.what;
  return new BackendError(`consul write of ${key} failed: ${what}`);
}
