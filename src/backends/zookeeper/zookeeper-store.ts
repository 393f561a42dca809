import { BaseStore } from '../../store/base-store.js';
import { type Endpoint, parseEndpoints } from '../../store/endpoints.js';
import {
  CallNotSupportedError,
  InvalidArgumentError,
  KeyExistsError,
  KeyModifiedError,
  KeyNotFoundError,
  type KVError,
  NotReachableError,
} from '../../store/errors.js';
import { MAX_KEY_BYTES } from '../../store/keys.js';
import type { Capabilities, KVPair, Locker, StoreOptions } from '../../store/types.js';
import { requestBoundValueLimit } from '../request-limits.js';
import type { ConnectionOptions, ZkConnection } from './connection.js';
import { ZkLock } from './lock.js';
import { ancestors, dirToPath, keyToPath, parentPath } from './paths.js';
import { EphemeralSessions, MainSession } from './sessions.js';
import { isPersistent, ownerOf, pairOf, zxidToNumber } from './stat.js';
import { TtlTimers } from './ttl-timers.js';
import { readKey, readTree, rearmingWatch } from './watch.js';
import { CreateMode, ZkCode, type ZkOpResult, type ZkStat, zkCode } from './zk-client.js';
import { isConnectionError, toKVError } from './zk-errors.js';

const DEFAULT_PORT = 2181;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/**
 * The store's own session asks for a short timeout; the server raises it to its
 * minSessionTimeout (2 × tickTime, 4 s by default), and what it grants is the TTL floor.
 */
const MAIN_SESSION_REQUEST_MS = 2000;
/** Retries of a write loop that keeps losing races (e.g. to a concurrent deleteTree). */
const MAX_RACE_RETRIES = 50;
const EMPTY = Buffer.alloc(0);
/** ZooKeeper's default jute.maxbuffer: the largest request a server reads (bytes). */
export const JUTE_MAX_BUFFER_DEFAULT = 0xfffff;
/** node-zookeeper-client refuses to send data over 1 MiB (its DATA_SIZE_LIMIT), whatever the server takes. */
export const ZK_CLIENT_MAX_DATA_BYTES = 1024 * 1024;

/**
 * The most a kvkit request carries besides the value: the replace transaction (remove, create,
 * setData of one znode) names the path three times, and an escaped path takes up to 3 bytes per
 * key byte (`%XX`, `%uXXXX` for each surrogate); plus headers and framing.
 */
export function zkRequestOverheadBytes(prefixBytes: number): number {
  return 3 * (3 * (MAX_KEY_BYTES + prefixBytes) + 64) + 1024;
}

/**
 * ZooKeeper backend (node-zookeeper-client). A key `a/b` is the znode `/a/b` holding the
 * value; a znode without data (null, not empty) is an intermediate directory, not a key.
 * lastIndex is the znode's mzxid. TTL keys and locks are ephemeral znodes of sessions
 * whose timeout covers the TTL. See docs/backends/zookeeper.md for the whole mapping.
 */
export class ZookeeperStore extends BaseStore {
  readonly capabilities: Capabilities;
  readonly #main: MainSession;
  readonly #ephemeral: EphemeralSessions;
  readonly #ttl: TtlTimers;
  readonly #retryWindowMs: number;

  private constructor(
    main: MainSession,
    ephemeral: EphemeralSessions,
    opts: { prefix?: string; connectTimeoutMs: number; maxValueBytes: number },
  ) {
    super(opts.prefix);
    this.#main = main;
    this.#ephemeral = ephemeral;
    this.#retryWindowMs = opts.connectTimeoutMs;
    this.#ttl = new TtlTimers((path, owner) => void this.#expire(path, owner));
    const minMs = main.sessionTimeoutMs;
    this.capabilities = {
      watch: true,
      watchTree: true,
      locks: true,
      // The server checks session expiry once per tick (minSessionTimeout is 2 ticks).
      ttl: { minMs, granularityMs: Math.ceil(minMs / 2) },
      watchCoalesces: true,
      crossProcessWatch: true,
      // jute.maxbuffer bounds a whole request (see open()).
      maxValueBytes: opts.maxValueBytes,
    };
  }

  /** Connects; NOT_REACHABLE when no server answers within connectTimeoutMs. */
  static async open(options: StoreOptions): Promise<ZookeeperStore> {
    if (options.tls) {
      throw new CallNotSupportedError(
        'the ZooKeeper backend cannot use TLS: node-zookeeper-client only speaks plain TCP ' +
          '(put a TLS tunnel such as stunnel in front of secureClientPort, or use the plain clientPort)',
      );
    }
    if (options.token !== undefined) {
      throw new InvalidArgumentError(
        'the ZooKeeper backend takes username/password (digest auth), not a token',
      );
    }
    if ((options.username === undefined) !== (options.password === undefined)) {
      throw new InvalidArgumentError('ZooKeeper digest auth needs both username and password');
    }
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!Number.isFinite(connectTimeoutMs) || connectTimeoutMs <= 0) {
      throw new InvalidArgumentError(`connectTimeoutMs must be a positive number, got ${connectTimeoutMs}`);
    }
    // A request over the server's jute.maxbuffer makes it drop the connection: the value limit
    // leaves room for the rest of the largest request kvkit sends.
    const maxValueBytes = requestBoundValueLimit({
      params: options.params,
      param: 'juteMaxBuffer',
      serverDefaultBytes: JUTE_MAX_BUFFER_DEFAULT,
      overheadBytes: zkRequestOverheadBytes(Buffer.byteLength(options.prefix ?? '')),
      configured: options.maxValueBytes,
      clientMaxBytes: ZK_CLIENT_MAX_DATA_BYTES,
    });
    const servers: Endpoint[] = parseEndpoints(options.endpoints, DEFAULT_PORT);
    const connection: ConnectionOptions = {
      servers,
      sessionTimeoutMs: MAIN_SESSION_REQUEST_MS,
      connectTimeoutMs,
      requestTimeoutMs: Math.max(10_000, connectTimeoutMs),
      digest: options.username === undefined ? undefined : `${options.username}:${options.password}`,
    };
    const main = await MainSession.open(connection);
    return new ZookeeperStore(main, new EphemeralSessions(connection), {
      prefix: options.prefix,
      connectTimeoutMs,
      maxValueBytes,
    });
  }

  // --- operations, in contract order ---

  protected async doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    const path = keyToPath(key);
    const data = asBuffer(value);
    try {
      if (ttlMs !== undefined) await this.#putWithTtl(path, data, ttlMs);
      else if (!(await this.#overwrite(path, data))) await this.#putPersistent(path, data);
    } catch (err) {
      throw unknownOutcome(err, `put ${key}`);
    }
  }

  protected doGet(key: string, consistent: boolean): Promise<KVPair | null> {
    const path = keyToPath(key);
    const read = consistent ? syncedRead(path) : plainRead(path);
    // The hot path: one request (two pipelined, when consistent) on the live session, no retry
    // machinery unless it fails.
    const conn = this.#main.current;
    return (conn ? read(conn) : this.#run(read)).then(
      ({ data, stat }) => (data === undefined ? null : pairOf(key, data, stat)),
      (err) => this.#getFailed(err, key, read, conn !== null),
    );
  }

  async #getFailed(err: unknown, key: string, read: Read, mayRetry: boolean): Promise<KVPair | null> {
    try {
      if (mayRetry && isConnectionError(err)) {
        const { data, stat } = await this.#run(read);
        return data === undefined ? null : pairOf(key, data, stat);
      }
      throw err;
    } catch (failure) {
      if (zkCode(failure) === ZkCode.NO_NODE) return null;
      throw toKVError(failure, `get ${key}`);
    }
  }

  protected async doDelete(key: string): Promise<void> {
    const path = keyToPath(key);
    this.#ttl.cancel(path);
    try {
      await this.#write((c) => c.remove(path, -1));
    } catch (err) {
      const code = zkCode(err);
      if (code === ZkCode.NO_NODE) return;
      if (code !== ZkCode.NOT_EMPTY) throw unknownOutcome(err, `delete ${key}`);
      // Keys live beneath it: keep the znode as an intermediate one, without data.
      try {
        await this.#write((c) => c.multi(`delete ${key}`, (tx) => tx.setData(path, null, -1)));
      } catch (inner) {
        if (zkCode(inner) !== ZkCode.NO_NODE) throw unknownOutcome(inner, `delete ${key}`);
      }
      return;
    }
    await this.#pruneAbove(path);
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    try {
      // Consistent like `get`: a sync goes out just before the tree's first read, and the server
      // answers a session in order, so a member that lags (just restarted, say) catches up first.
      return await this.#run((c) => {
        const root = dirToPath(dir);
        const synced = c.sync(root);
        const tree = readTree(c, undefined, root, dir === '' ? null : dir.slice(0, -1));
        return Promise.all([synced, tree]).then(([, pairs]) => pairs);
      });
    } catch (err) {
      throw toKVError(err, `list ${dir}`);
    }
  }

  protected async doDeleteTree(dir: string): Promise<void> {
    const root = dirToPath(dir);
    this.#ttl.cancelUnder(root);
    try {
      await this.#removeChildren(root);
      if (root !== '/') await this.#pruneFrom(root);
    } catch (err) {
      throw unknownOutcome(err, `deleteTree ${dir}`);
    }
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    const path = keyToPath(key);
    const data = asBuffer(value);
    try {
      const conn =
        ttlMs === undefined
          ? (this.#main.current ?? (await this.#main.connection()))
          : await this.#ephemeral.get(ttlMs);
      const stat =
        previous === null
          ? await this.#atomicCreate(key, conn, path, data, ttlMs !== undefined)
          : await this.#atomicSwap(key, conn, path, data, ttlMs !== undefined, previous.lastIndex);
      if (ttlMs === undefined) this.#ttl.cancel(path);
      else this.#ttl.arm(path, conn, ttlMs);
      return pairOf(key, data, stat);
    } catch (err) {
      throw toKVError(err, `atomicPut ${key}`);
    }
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    const path = keyToPath(key);
    try {
      let current: { data: Buffer | undefined; stat: ZkStat };
      try {
        // Synced: a stale read would answer KEY_MODIFIED or KEY_NOT_FOUND for a key that matches.
        current = await this.#run(syncedRead(path));
      } catch (err) {
        if (zkCode(err) === ZkCode.NO_NODE) throw new KeyNotFoundError(key);
        throw err;
      }
      if (current.data === undefined) throw new KeyNotFoundError(key);
      if (zxidToNumber(current.stat.mzxid) !== previous.lastIndex) throw new KeyModifiedError(key);
      const { version } = current.stat;
      const conn = await this.#main.connection();
      try {
        await conn.remove(path, version);
      } catch (err) {
        if (zkCode(err) !== ZkCode.NOT_EMPTY) throw casError(err, key);
        await conn
          .multi(`atomicDelete ${key}`, (tx) => tx.setData(path, null, version))
          .catch((e) => {
            throw casError(e, key);
          });
        this.#ttl.cancel(path);
        return;
      }
      this.#ttl.cancel(path);
      await this.#pruneAbove(path);
    } catch (err) {
      throw toKVError(err, `atomicDelete ${key}`);
    }
  }

  protected doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    const path = keyToPath(key);
    return rearmingWatch(this.#main, signal, `watch ${key}`, (conn, watcher) =>
      readKey(conn, watcher, key, path),
    );
  }

  protected doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    const root = dirToPath(dir);
    const rootKey = dir === '' ? null : dir.slice(0, -1);
    return rearmingWatch(this.#main, signal, `watchTree ${dir}`, (conn, watcher) =>
      readTree(conn, watcher, root, rootKey),
    );
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
    const ctx = {
      sessions: this.#ephemeral,
      closeSignal: this.closeSignal,
      ensureParents: (path: string) => this.#ensureParents(path),
      pruneAbove: (path: string) => this.#pruneAbove(path),
    };
    return new ZkLock(ctx, this.callerKey(key), keyToPath(key), value, ttlMs);
  }

  protected async doClose(): Promise<void> {
    this.#ttl.clear();
    // TTL keys and locks outlive the store by their TTL, as if the process had exited.
    this.#ephemeral.abandonAll();
    await this.#main.close();
  }

  // --- writes ---

  /**
   * The hot path of put: one setData on the live session. True when that was the whole job
   * (a plain key overwritten); false when the general path must take over.
   */
  async #overwrite(path: string, data: Buffer): Promise<boolean> {
    const conn = this.#main.current;
    if (!conn) return false;
    try {
      if (!isPersistent(await conn.setData(path, data, -1))) return false;
    } catch (err) {
      if (zkCode(err) === ZkCode.NO_NODE) return false;
      throw err;
    }
    this.#ttl.cancel(path);
    return true;
  }

  async #putPersistent(path: string, data: Buffer): Promise<void> {
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      let stat: ZkStat;
      try {
        stat = await this.#write((c) => c.setData(path, data, -1));
      } catch (err) {
        if (zkCode(err) !== ZkCode.NO_NODE) throw err;
        // Retrying after a lost answer is safe: a create that did land reads as NODE_EXISTS
        // (false), and a replace that did land as BAD_VERSION (null); both loop to setData.
        if (await this.#write((c) => this.#create(c, path, data, CreateMode.PERSISTENT))) break;
        continue;
      }
      // A TTL key (ephemeral znode) rewritten without a TTL becomes a plain one.
      if (
        ownerOf(stat) === '' ||
        (await this.#write((c) => this.#replace(c, path, data, stat.version, false)))
      ) {
        break;
      }
    }
    this.#ttl.cancel(path);
  }

  async #putWithTtl(path: string, data: Buffer, ttlMs: number): Promise<void> {
    const conn = await this.#ephemeral.get(ttlMs);
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      let stat: ZkStat;
      try {
        stat = await conn.setData(path, data, -1);
      } catch (err) {
        if (zkCode(err) !== ZkCode.NO_NODE) throw err;
        if (await this.#create(conn, path, data, CreateMode.EPHEMERAL)) break;
        continue;
      }
      // Ours already: the rewrite only restarts the clock. Otherwise it must become ours.
      if (ownerOf(stat) === conn.sessionId || (await this.#replace(conn, path, data, stat.version, true)))
        break;
    }
    this.#ttl.arm(path, conn, ttlMs);
  }

  /** Creates the znode (and missing ancestors); false when it already exists. */
  async #create(conn: ZkConnection, path: string, data: Buffer, mode: number): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      try {
        await conn.create(path, data, mode);
        return true;
      } catch (err) {
        const code = zkCode(err);
        if (code === ZkCode.NODE_EXISTS) return false;
        if (code === ZkCode.NO_CHILDREN_FOR_EPHEMERALS) throw underTtlKey(path);
        if (code !== ZkCode.NO_NODE) throw err;
      }
      await this.#ensureParents(path);
    }
    throw new NotReachableError(`gave up creating ${path}: its parent kept disappearing`);
  }

  /**
   * Replaces the znode at `version` by a new one of the other kind (ephemeral ⇄ persistent) in
   * one transaction; returns its stat, or null when the znode changed or went meanwhile.
   */
  async #replace(conn: ZkConnection, path: string, data: Buffer, version: number, ephemeral: boolean) {
    try {
      return await this.#replaceOrThrow(conn, path, data, version, ephemeral);
    } catch (err) {
      const code = zkCode(err);
      if (code === ZkCode.BAD_VERSION || code === ZkCode.NO_NODE) return null;
      throw err;
    }
  }

  async #replaceOrThrow(conn: ZkConnection, path: string, data: Buffer, version: number, ephemeral: boolean) {
    try {
      const results = await conn.multi(`replace ${path}`, (tx) =>
        tx
          .remove(path, version)
          .create(path, EMPTY, ephemeral ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT)
          .setData(path, data, 0),
      );
      return statOf(results);
    } catch (err) {
      if (zkCode(err) === ZkCode.NOT_EMPTY) throw ttlOverChildren(path);
      throw err;
    }
  }

  async #atomicCreate(key: string, conn: ZkConnection, path: string, data: Buffer, ephemeral: boolean) {
    const mode = ephemeral ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT;
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      try {
        // Created empty and filled in the same transaction, so the answer carries the stat.
        const results = await conn.multi(`create ${path}`, (tx) =>
          tx.create(path, EMPTY, mode).setData(path, data, 0),
        );
        return statOf(results);
      } catch (err) {
        const code = zkCode(err);
        if (code === ZkCode.NO_CHILDREN_FOR_EPHEMERALS) throw underTtlKey(path);
        if (code === ZkCode.NO_NODE) {
          await this.#ensureParents(path);
          continue;
        }
        if (code !== ZkCode.NODE_EXISTS) throw ambiguous(err, key);
      }
      // An intermediate znode (no data) is not a key yet: claim it unless someone else does.
      let existing: { data: Buffer | undefined; stat: ZkStat };
      try {
        existing = await conn.getData(path);
      } catch (err) {
        if (zkCode(err) === ZkCode.NO_NODE) continue;
        throw err;
      }
      if (existing.data !== undefined) throw new KeyExistsError(key);
      try {
        const { version, numChildren } = existing.stat;
        if (!ephemeral) return await conn.setData(path, data, version);
        if (numChildren > 0) throw ttlOverChildren(path);
        return await this.#replaceOrThrow(conn, path, data, version, true);
      } catch (err) {
        const code = zkCode(err);
        if (code !== ZkCode.BAD_VERSION && code !== ZkCode.NO_NODE) throw ambiguous(err, key);
      }
    }
    throw new KeyModifiedError(key);
  }

  async #atomicSwap(
    key: string,
    conn: ZkConnection,
    path: string,
    data: Buffer,
    ephemeral: boolean,
    lastIndex: number,
  ) {
    // ZooKeeper compares data versions, kvkit compares mzxids: check the mzxid, then swap at
    // the version read with it, which fails if anything changed in between.
    const stat = await conn.exists(path);
    if (stat === null || zxidToNumber(stat.mzxid) !== lastIndex) throw new KeyModifiedError(key);
    const owner = ownerOf(stat);
    try {
      if (owner === (ephemeral ? conn.sessionId : '')) return await conn.setData(path, data, stat.version);
      return await this.#replaceOrThrow(conn, path, data, stat.version, ephemeral);
    } catch (err) {
      throw casError(err, key);
    }
  }

  // --- tree maintenance ---

  /** Creates the missing ancestors of `path` as intermediate znodes, in one round trip. */
  async #ensureParents(path: string): Promise<void> {
    const conn = await this.#main.connection();
    const results = await Promise.allSettled(
      ancestors(path).map((dir) => conn.create(dir, undefined, CreateMode.PERSISTENT)),
    );
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      const code = zkCode(result.reason);
      if (code === ZkCode.NODE_EXISTS || code === ZkCode.NO_NODE) continue; // NO_NODE: a race; the caller retries
      if (code === ZkCode.NO_CHILDREN_FOR_EPHEMERALS) throw underTtlKey(path);
      throw result.reason;
    }
  }

  async #pruneAbove(path: string): Promise<void> {
    const parent = parentPath(path);
    if (parent !== '/') await this.#pruneFrom(parent);
  }

  /** Removes `path` and then its ancestors while each is an intermediate znode with no children. */
  async #pruneFrom(path: string): Promise<void> {
    const conn = this.#main.current;
    if (!conn) return; // best effort: leftovers are harmless and pruned by a later delete
    for (let p = path; p !== '/'; p = parentPath(p)) {
      try {
        const { data, stat } = await conn.getData(p);
        if (data !== undefined || stat.numChildren > 0) return;
        await conn.remove(p, stat.version);
      } catch {
        return;
      }
    }
  }

  async #removeChildren(path: string): Promise<void> {
    let children: string[];
    try {
      children = await this.#run((c) => c.getChildren(path));
    } catch (err) {
      if (zkCode(err) === ZkCode.NO_NODE) return;
      throw err;
    }
    const under = children.filter((name) => !(path === '/' && name === 'zookeeper'));
    await Promise.all(
      under.map((name) => this.#removeSubtree(path === '/' ? `/${name}` : `${path}/${name}`)),
    );
  }

  async #removeSubtree(path: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      try {
        await this.#write((c) => c.remove(path, -1));
        return;
      } catch (err) {
        const code = zkCode(err);
        if (code === ZkCode.NO_NODE) return;
        if (code !== ZkCode.NOT_EMPTY) throw err;
      }
      await this.#removeChildren(path);
    }
    throw new NotReachableError(`gave up deleting ${path}: keys kept appearing beneath it`);
  }

  /** A TTL key's deadline passed: delete it if it is still the one this store wrote. */
  async #expire(path: string, owner: ZkConnection): Promise<void> {
    if (this.closed || owner.state !== 'connected') return; // otherwise the session's expiry removes it
    try {
      const stat = await owner.exists(path);
      if (stat === null || ownerOf(stat) !== owner.sessionId) return;
      await owner.remove(path, stat.version);
      await this.#pruneAbove(path);
    } catch {
      // Changed or gone meanwhile, or the session is going: nothing of ours to delete.
    }
  }

  /**
   * Runs a read on the store's session, retrying it across a lost connection (or a replaced
   * session) for up to connectTimeoutMs: a read has no effect, so sending it again is safe.
   */
  async #run<T>(op: (conn: ZkConnection) => Promise<T>): Promise<T> {
    const now = this.#main.current;
    if (now) {
      try {
        return await op(now);
      } catch (err) {
        if (!isConnectionError(err) && !(err instanceof NotReachableError)) throw err;
      }
    }
    const deadline = Date.now() + this.#retryWindowMs;
    for (;;) {
      const conn = await this.#main.connection();
      try {
        return await op(conn);
      } catch (err) {
        if (!isConnectionError(err) || Date.now() > deadline || this.closed) throw err;
      }
    }
  }

  /**
   * Runs a write on the store's session once, waiting up to connectTimeoutMs for a connection.
   * It is never sent again after the connection dropped under it: the server may have applied
   * it, and a second copy landing after another client's write would undo that write (the
   * caller gets NOT_REACHABLE, outcome unknown, instead).
   */
  async #write<T>(op: (conn: ZkConnection) => Promise<T>): Promise<T> {
    return op(this.#main.current ?? (await this.#main.connection()));
  }
}

type Read = (conn: ZkConnection) => Promise<{ data: Buffer | undefined; stat: ZkStat }>;

/** A read that sees every write committed before it (`consistent: true`, the default). */
function syncedRead(path: string): Read {
  return (conn) => conn.syncedGetData(path);
}

/** The server's local view: may lag the leader by a little (`consistent: false`). */
function plainRead(path: string): Read {
  return (conn) => conn.getData(path);
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function statOf(results: ZkOpResult[]): ZkStat {
  const stat = results.at(-1)?.stat;
  if (!stat) throw new NotReachableError('ZooKeeper answered a transaction without a stat');
  return stat;
}

/** A failed compare-and-swap step as the contract names it. */
function casError(err: unknown, key: string): unknown {
  const code = zkCode(err);
  if (code === ZkCode.BAD_VERSION || code === ZkCode.NO_NODE)
    return new KeyModifiedError(key, { cause: err });
  return ambiguous(err, key);
}

/** A write whose answer was lost: it may or may not have been applied. */
function unknownOutcome(err: unknown, what: string): KVError {
  if (!isConnectionError(err)) return toKVError(err, what);
  return new NotReachableError(`connection lost during ${what}; its outcome is unknown`, { cause: err });
}

/** A lost answer to a conditional write: it may or may not have been applied. */
function ambiguous(err: unknown, key: string): unknown {
  if (!isConnectionError(err)) return err;
  return new NotReachableError(`connection lost during an atomic write of ${key}; its outcome is unknown`, {
    cause: err,
  });
}

function underTtlKey(path: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `cannot write ${path}: a key above it has a TTL, and ZooKeeper ephemeral znodes cannot have children`,
  );
}

function ttlOverChildren(path: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `cannot give ${path} a TTL: keys exist beneath it, and ZooKeeper ephemeral znodes cannot have children`,
  );
}
