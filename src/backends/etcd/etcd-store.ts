import { Etcd3, type IKeyValue, type IRangeResponse } from 'etcd3';
import { BaseStore } from '../../store/base-store.js';
import { Channel } from '../../store/channel.js';
import {
  ClosedError,
  KeyExistsError,
  KeyModifiedError,
  KeyNotFoundError,
  type KVError,
  NotReachableError,
} from '../../store/errors.js';
import { MAX_KEY_BYTES, normalizePrefix } from '../../store/keys.js';
import { withTimeout } from '../../store/signals.js';
import type { Capabilities, KVPair, Locker, StoreOptions } from '../../store/types.js';
import { requestBoundValueLimit } from '../request-limits.js';
import { etcdClientOptions } from './client-options.js';
import { toKVError } from './etcd-errors.js';
import { EtcdLock } from './etcd-lock.js';
import { dirRange, keyBytes, lockQueueRange, toPair } from './key-codec.js';
import { LeaseKeeper } from './lease-keeper.js';
import { followRange } from './range-follower.js';

/**
 * How late after its TTL an etcd key goes: the TTL is rounded up to whole seconds (< 1 s),
 * the leader looks for expired leases every 500 ms, then commits the revocation.
 */
const TTL_GRANULARITY_MS = 1600;
/** etcd's default --max-request-bytes: the largest request (as proposed to Raft) a server takes. */
export const ETCD_MAX_REQUEST_BYTES = 1536 * 1024;

/**
 * The most a kvkit request carries besides the value: a compare-and-swap names the key twice
 * (compare and put), a lock's take names its queue key and the lock key; plus the request
 * header with the username, lease ids and protobuf framing.
 */
export function etcdRequestOverheadBytes(prefixBytes: number, usernameBytes: number): number {
  return 2 * (MAX_KEY_BYTES + prefixBytes + 32) + 512 + usernameBytes;
}

/**
 * The Store contract on etcd v3: `lastIndex` is the key's mod revision, compare-and-swap is a
 * transaction on it, TTLs are leases, watches follow etcd's history from the revision they
 * read at, and locks queue fairly on leases (see docs/backends/etcd.md).
 */
export class EtcdStore extends BaseStore {
  readonly capabilities: Capabilities = {
    watch: true,
    watchTree: true,
    locks: true,
    // Updated by connect() to the shortest lease this server grants (2 s with default timing).
    ttl: { minMs: 2000, granularityMs: TTL_GRANULARITY_MS },
    watchCoalesces: false,
    crossProcessWatch: true,
    // Set in the constructor: --max-request-bytes bounds the whole request, key included.
    maxValueBytes: 0,
  };
  readonly #client: Etcd3;
  readonly #leases: LeaseKeeper;
  readonly #timeoutMs: number;
  readonly #hosts: string[];
  readonly #prefix: string;

  constructor(options: StoreOptions) {
    super(options.prefix);
    this.capabilities.maxValueBytes = requestBoundValueLimit({
      params: options.params,
      param: 'maxRequestBytes',
      serverDefaultBytes: ETCD_MAX_REQUEST_BYTES,
      overheadBytes: etcdRequestOverheadBytes(
        Buffer.byteLength(options.prefix ?? ''),
        Buffer.byteLength(options.username ?? ''),
      ),
      configured: options.maxValueBytes,
    });
    const { client, timeoutMs } = etcdClientOptions(options);
    this.#client = new Etcd3(client);
    this.#leases = new LeaseKeeper(this.#client);
    this.#timeoutMs = timeoutMs;
    this.#hosts = typeof client.hosts === 'string' ? [client.hosts] : client.hosts;
    this.#prefix = options.prefix ? normalizePrefix(options.prefix) : '';
  }

  /**
   * Checks that a server answers within the connect timeout, and learns its shortest lease:
   * granting a 1 s lease returns the TTL the server really gives.
   */
  async connect(): Promise<void> {
    const probe = async () => {
      const granted = await this.#client.leaseClient.leaseGrant({ TTL: 1 });
      await this.#client.leaseClient.leaseRevoke({ ID: granted.ID }).catch(() => {});
      return Number(granted.TTL) * 1000;
    };
    let minTtlMs: number;
    try {
      minTtlMs = await withTimeout(probe(), this.#timeoutMs, 'etcd');
    } catch (err) {
      const mapped = toKVError(err, 'connect');
      if (mapped.code === 'NOT_REACHABLE' || mapped.code === 'TIMEOUT') {
        const detail = mapped.code === 'TIMEOUT' ? `no answer within ${this.#timeoutMs} ms` : mapped.message;
        throw new NotReachableError(`cannot reach etcd at ${this.#hosts.join(', ')}: ${detail}`, {
          cause: err,
        });
      }
      throw mapped;
    }
    const ttl = this.capabilities.ttl;
    if (ttl) ttl.minMs = Math.max(1000, minTtlMs);
  }

  protected async doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    try {
      const lease = ttlMs === undefined ? undefined : await this.#grantOnce(ttlMs);
      await this.#client.kv.put({ key: keyBytes(key), value: asBuffer(value), lease });
    } catch (err) {
      throw this.#error(err, `put ${key}`);
    }
  }

  protected async doGet(key: string, consistent: boolean): Promise<KVPair | null> {
    let res: IRangeResponse;
    try {
      res = await this.#client.kv.range({ key: keyBytes(key), serializable: !consistent });
    } catch (err) {
      throw this.#error(err, `get ${key}`);
    }
    return res.kvs.length === 0 ? null : toPair(res.kvs[0], key);
  }

  protected override async doExists(key: string): Promise<boolean> {
    try {
      const res = await this.#client.kv.range({ key: keyBytes(key), count_only: true });
      return Number(res.count) > 0;
    } catch (err) {
      throw this.#error(err, `exists ${key}`);
    }
  }

  protected async doDelete(key: string): Promise<void> {
    try {
      await this.#client.kv.deleteRange({ key: keyBytes(key) });
    } catch (err) {
      throw this.#error(err, `delete ${key}`);
    }
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    try {
      return (await this.#readDir(dir)).pairs;
    } catch (err) {
      throw this.#error(err, `list ${dir}`);
    }
  }

  protected async doDeleteTree(dir: string): Promise<void> {
    try {
      await this.#client.kv.deleteRange(dirRange(dir));
    } catch (err) {
      throw this.#error(err, `deleteTree ${dir}`);
    }
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    const k = keyBytes(key);
    let lease: string | undefined;
    let succeeded: boolean;
    let revision: number;
    try {
      lease = ttlMs === undefined ? undefined : await this.#grantOnce(ttlMs);
      const res = await this.#client.kv.txn({
        compare: [
          previous === null
            ? { key: k, target: 'Create', result: 'Equal', create_revision: 0 }
            : { key: k, target: 'Mod', result: 'Equal', mod_revision: previous.lastIndex },
        ],
        success: [{ request_put: { key: k, value: asBuffer(value), lease } }],
      });
      succeeded = res.succeeded;
      revision = Number(res.header.revision);
    } catch (err) {
      throw this.#error(err, `atomicPut ${key}`);
    }
    if (!succeeded) {
      if (lease !== undefined) this.#revokeQuietly(lease);
      throw previous === null ? new KeyExistsError(key) : new KeyModifiedError(key);
    }
    return { key, value, lastIndex: revision };
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    const k = keyBytes(key);
    let succeeded: boolean;
    let present: boolean;
    try {
      const res = await this.#client.kv.txn({
        compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: previous.lastIndex }],
        success: [{ request_delete_range: { key: k } }],
        failure: [{ request_range: { key: k, count_only: true } }],
      });
      succeeded = res.succeeded;
      present = !succeeded && Number(res.responses[0].response_range.count) > 0;
    } catch (err) {
      throw this.#error(err, `atomicDelete ${key}`);
    }
    if (succeeded) return;
    throw present ? new KeyModifiedError(key) : new KeyNotFoundError(key);
  }

  protected doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    const stop = new AbortController();
    const channel = new Channel<KVPair | null>({ signal, onEnd: () => stop.abort() });
    const read = async () => {
      const res = await this.#client.kv.range({ key: keyBytes(key) });
      channel.push(res.kvs.length === 0 ? null : toPair(res.kvs[0]));
      return Number(res.header.revision);
    };
    void read().then(
      (revision) => {
        if (stop.signal.aborted) return;
        followRange(
          this.#client,
          { key: keyBytes(key) },
          revision + 1,
          {
            onRevision: (events) => {
              const last = events[events.length - 1];
              channel.push(last.type === 'Put' ? toPair(last.kv) : null);
            },
            onCompacted: read,
            onFatal: (err) => channel.fail(err),
          },
          stop.signal,
        );
      },
      (err) => channel.fail(this.#error(err, `watch ${key}`)),
    );
    return channel;
  }

  protected doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    const stop = new AbortController();
    // Latest only: a reader slower than the changes sorts the newest full list, not each one.
    const channel = new Channel<KVPair[]>({ signal, latestOnly: true, onEnd: () => stop.abort() });
    // The directory as of the last revision delivered, kept up to date from the events.
    const current = new Map<string, KVPair>();
    const read = async () => {
      const { pairs, revision } = await this.#readDir(dir);
      current.clear();
      for (const pair of pairs) current.set(pair.key, pair);
      channel.push(pairs);
      return revision;
    };
    void read().then(
      (revision) => {
        if (stop.signal.aborted) return;
        followRange(
          this.#client,
          dirRange(dir),
          revision + 1,
          {
            onRevision: (events) => {
              for (const event of events) {
                const pair = toPair(event.kv);
                if (event.type === 'Put') current.set(pair.key, pair);
                else current.delete(pair.key);
              }
              channel.push([...current.values()]);
            },
            onCompacted: read,
            onFatal: (err) => channel.fail(err),
          },
          stop.signal,
        );
      },
      (err) => channel.fail(this.#error(err, `watchTree ${dir}`)),
    );
    return channel;
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
    const context = { client: this.#client, leases: this.#leases, closeSignal: this.closeSignal };
    return new EtcdLock(context, key, lockQueueRange(this.#prefix, this.callerKey(key)), value, ttlMs);
  }

  protected async doClose(): Promise<void> {
    // Watches already ended on the close signal; held locks now expire after their TTL.
    this.#leases.close();
    this.#client.close();
  }

  async #readDir(dir: string): Promise<{ pairs: KVPair[]; revision: number }> {
    const res = await this.#client.kv.range(dirRange(dir));
    return { pairs: res.kvs.map((kv: IKeyValue) => toPair(kv)), revision: Number(res.header.revision) };
  }

  /** A lease for one write with a TTL; nobody keeps it alive, so the key goes when it ends. */
  async #grantOnce(ttlMs: number): Promise<string> {
    return (await this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) })).ID;
  }

  #revokeQuietly(lease: string): void {
    // It would expire anyway; revoking just frees it sooner.
    this.#client.leaseClient.leaseRevoke({ ID: lease }).catch(() => {});
  }

  #error(err: unknown, what: string): KVError {
    return this.closed ? new ClosedError() : toKVError(err, what);
  }
}

/** A Buffer view of the bytes, without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
