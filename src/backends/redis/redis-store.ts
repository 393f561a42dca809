import type { RedisArgument } from '@redis/client';
import { BaseStore } from '../../store/base-store.js';
import { Channel } from '../../store/channel.js';
import {
  BackendError,
  isKVError,
  KeyExistsError,
  KeyModifiedError,
  KeyNotFoundError,
  type KVError,
} from '../../store/errors.js';
import type { Capabilities, KVPair, Locker, Value } from '../../store/types.js';
import { toBytes } from '../../store/values.js';
import type { EventListener, RedisConnection } from './connection.js';
import {
  isInternalKey,
  keyOfChannel,
  keyspaceChannel,
  keyspacePattern,
  REVISION_COUNTER,
  scanPattern,
} from './key-space.js';
import type { RedisSettings } from './options.js';
import { replyCode } from './redis-errors.js';
import { RedisLock } from './redis-lock.js';
import { Reread } from './reread.js';
import {
  CREATE,
  DELETE_IF,
  DELETE_MANY,
  PUT,
  RAISE_COUNTER,
  READ_MANY,
  READ_ONE,
  SCRIPT_EXISTS,
  SCRIPT_FOREIGN,
  SCRIPT_MODIFIED,
  SCRIPT_NOT_FOUND,
  SWAP,
} from './scripts.js';

/** The shortest TTL accepted (ms): PEXPIRE counts milliseconds; below this a lock could not be kept. */
const MIN_TTL_MS = 10;
/**
 * A read never sees an expired key (Redis checks on access); watches re-read when the TTL they
 * read runs out, so they see it go within a read's time, not only at Redis's next expiry cycle.
 */
const TTL_GRANULARITY_MS = 100;
/** Keys per SCAN step, and so per batched read or delete: each step holds the server briefly. */
const SCAN_COUNT = 1000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A state read with its remaining TTL (ms; undefined: none). */
interface Read {
  pair: KVPair | null;
  ttlLeftMs: number | undefined;
}

/**
 * The Store contract on a Redis primary (docs/backends/redis.md): a key is a hash of `value`
 * and `rev`, every change takes `rev` from one counter and runs as a Lua script, TTLs are
 * PEXPIRE, directories are walked with SCAN (never KEYS), watches are keyspace notifications
 * with a re-read, and locks are owner-tokened keys whose revision is the fencing value.
 */
export class RedisStore extends BaseStore {
  readonly capabilities: Capabilities;
  readonly #conn: RedisConnection;
  /** The highest revision this store has seen: no change it makes gets one at or below it. */
  #floor = 0;

  constructor(conn: RedisConnection, settings: RedisSettings) {
    super(settings.prefix);
    this.#conn = conn;
    this.capabilities = {
      watch: true,
      watchTree: true,
      locks: true,
      ttl: { minMs: MIN_TTL_MS, granularityMs: TTL_GRANULARITY_MS },
      // Notifications carry no value: a re-read may find a later state than the one announced.
      watchCoalesces: true,
      crossProcessWatch: true,
      maxValueBytes: settings.maxValueBytes,
    };
    // A server that came back without its data restarts the counter; lift it past what we saw.
    conn.onResync(() => {
      if (this.#floor === 0) return;
      conn.script(RAISE_COUNTER, [REVISION_COUNTER], [String(this.#floor)], 'raise revision').catch(() => {});
    });
  }

  /**
   * The bytes only go to the socket: a copy in Buffer's pool costs a tenth of a fresh
   * ArrayBuffer (V8 keeps arrays over 64 bytes off its heap, ~2 us each here) and still keeps a
   * change the caller makes after the call off the wire. Never handed back to a caller.
   */
  protected override valueBytes(value: Value): Uint8Array {
    if (typeof value === 'string') return Buffer.from(value, 'utf8');
    if (value instanceof Uint8Array) return Buffer.from(value);
    return toBytes(value); // the typed error for anything else
  }

  protected async doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    const rev = await this.#conn.script(
      PUT,
      [key, REVISION_COUNTER],
      [String(this.#floor), asBuffer(value), String(ttlMs ?? 0)],
      'put',
      key,
    );
    this.#saw(Number(rev));
  }

  protected async doGet(key: string): Promise<KVPair | null> {
    // One HMGET serves every key kvkit wrote; anything else (absent included) goes through the
    // read script, which also adopts a string another client wrote.
    let reply: unknown;
    try {
      reply = await this.#conn.send(['HMGET', key, 'value', 'rev'], 'get', key);
    } catch (err) {
      if (replyCode((err as KVError).cause) !== 'WRONGTYPE') throw err;
      return (await this.#read(key)).pair;
    }
    const [value, rev] = reply as (Buffer | null)[];
    if (value !== null && rev !== null) return this.#pair(key, value, rev);
    if (value === null && rev === null) return null;
    return (await this.#read(key)).pair;
  }

  protected override async doExists(key: string): Promise<boolean> {
    return (await this.#conn.send(['EXISTS', key], 'exists', key)) === 1;
  }

  protected async doDelete(key: string): Promise<void> {
    await this.#conn.send(['DEL', key], 'delete', key);
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    return (await this.#list(dir)).pairs;
  }

  protected async doDeleteTree(dir: string): Promise<void> {
    await this.#scan(dir, 'deleteTree', async (keys) => {
      await this.#conn.script(DELETE_MANY, keys, [], 'deleteTree', dir);
    });
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    const args: RedisArgument[] = [String(this.#floor), asBuffer(value), String(ttlMs ?? 0)];
    if (previous !== null) args.push(String(previous.lastIndex));
    const result = Number(
      await this.#conn.script(
        previous === null ? CREATE : SWAP,
        [key, REVISION_COUNTER],
        args,
        'atomicPut',
        key,
      ),
    );
    if (result === SCRIPT_EXISTS) throw new KeyExistsError(this.callerKey(key));
    if (result === SCRIPT_MODIFIED) throw new KeyModifiedError(this.callerKey(key));
    this.#saw(result);
    // A copy of its own: `value` is a view of Buffer's pool (valueBytes).
    return { key, value: new Uint8Array(value), lastIndex: result };
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    const result = Number(
      await this.#conn.script(DELETE_IF, [key], [String(previous.lastIndex)], 'atomicDelete', key),
    );
    if (result === SCRIPT_NOT_FOUND) throw new KeyNotFoundError(this.callerKey(key));
    if (result === SCRIPT_MODIFIED) throw new KeyModifiedError(this.callerKey(key));
  }

  protected doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    return this.#follow<KVPair | null>(
      signal,
      async () => {
        const read = await this.#read(key);
        return { state: read.pair, ttlLeftMs: read.ttlLeftMs };
      },
      (listener) => this.#conn.subscribe(keyspaceChannel(key), listener),
    );
  }

  protected doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    return this.#follow<KVPair[]>(
      signal,
      async () => {
        const { pairs, ttlLeftMs } = await this.#list(dir);
        return { state: pairs, ttlLeftMs };
      },
      (listener) =>
        this.#conn.psubscribe(keyspacePattern(dir), (event, channel) => {
          if (!isInternalKey(keyOfChannel(channel))) listener(event, channel);
        }),
    );
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
    return new RedisLock(
      {
        conn: this.#conn,
        closeSignal: this.closeSignal,
        floor: () => this.#floor,
        saw: (rev) => this.#saw(rev),
      },
      key,
      this.callerKey(key),
      asBuffer(value),
      ttlMs,
    );
  }

  protected async doClose(): Promise<void> {
    // Watches ended on the close signal; held locks stop refreshing and expire after their TTL.
    this.#conn.close();
  }

  /**
   * A watch: subscribe first, then read, then re-read on every event, on every reconnection
   * and when a TTL read runs out, so nothing that happens after the first read goes unseen.
   * While the server is away the watch waits (the reconnection re-reads); any other failure
   * ends it with the error.
   */
  #follow<T>(
    signal: AbortSignal,
    read: () => Promise<{ state: T; ttlLeftMs: number | undefined }>,
    subscribe: (listener: EventListener) => Promise<() => void>,
  ): AsyncIterable<T> {
    let unsubscribe: (() => void) | undefined;
    let offResync: (() => void) | undefined;
    const reread: Reread = new Reread(
      async () => {
        const { state, ttlLeftMs } = await read();
        channel.push(state);
        // +1: the key is gone once its TTL has passed, not at the same millisecond.
        if (ttlLeftMs !== undefined) reread.requestAfter(ttlLeftMs + 1);
      },
      (err) => {
        if (!isKVError(err, 'NOT_REACHABLE') && !isKVError(err, 'TIMEOUT')) channel.fail(err);
      },
    );
    const channel = new Channel<T>({
      signal,
      onEnd: () => {
        reread.stop();
        unsubscribe?.();
        offResync?.();
      },
    });
    void (async () => {
      try {
        const off = await subscribe(() => reread.request());
        if (channel.ended) return off();
        unsubscribe = off;
        offResync = this.#conn.onResync(() => reread.request());
        const first = await read();
        if (channel.ended) return;
        channel.push(first.state);
        if (first.ttlLeftMs !== undefined) reread.requestAfter(first.ttlLeftMs + 1);
      } catch (err) {
        channel.fail(err);
      }
    })();
    return channel;
  }

  /** One key through the read script: adopts a string another client wrote. */
  async #read(key: string): Promise<Read> {
    const reply = await this.#conn.script(
      READ_ONE,
      [key, REVISION_COUNTER],
      [String(this.#floor)],
      'get',
      key,
    );
    const read = this.#decodeRead(key, reply);
    if (read === undefined) {
      throw new BackendError(`redis key ${this.callerKey(key)} holds data kvkit did not write`);
    }
    return read;
  }

  /** The pairs under `dir`, and the soonest TTL among them. */
  async #list(dir: string): Promise<{ pairs: KVPair[]; ttlLeftMs: number | undefined }> {
    const pairs: KVPair[] = [];
    let ttlLeftMs: number | undefined;
    await this.#scan(dir, 'list', async (keys) => {
      const replies = (await this.#conn.script(
        READ_MANY,
        [...keys, REVISION_COUNTER],
        [String(this.#floor)],
        'list',
        dir,
      )) as unknown[];
      keys.forEach((key, i) => {
        const read = this.#decodeRead(key, replies[i]);
        if (!read?.pair) return; // gone since the scan, or not kvkit's
        pairs.push(read.pair);
        if (read.ttlLeftMs !== undefined) ttlLeftMs = Math.min(ttlLeftMs ?? read.ttlLeftMs, read.ttlLeftMs);
      });
    });
    return { pairs, ttlLeftMs };
  }

  /** Walks the keys under `dir` with SCAN, a page at a time; each key once, kvkit's own skipped. */
  async #scan(dir: string, op: string, onPage: (keys: string[]) => Promise<void>): Promise<void> {
    const seen = new Set<string>();
    const pattern = scanPattern(dir);
    let cursor = '0';
    do {
      const [next, found] = (await this.#conn.send(
        ['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(SCAN_COUNT)],
        op,
        dir,
      )) as [Buffer, Buffer[]];
      cursor = next.toString();
      const page: string[] = [];
      for (const raw of found) {
        const key = decodeKey(raw);
        // SCAN may return a key twice; keys that are not UTF-8 are not kvkit keys.
        if (key === undefined || isInternalKey(key) || !key.startsWith(dir) || seen.has(key)) continue;
        seen.add(key);
        page.push(key);
      }
      if (page.length > 0) await onPage(page);
    } while (cursor !== '0');
  }

  /** A read script's answer: undefined for data kvkit did not write. */
  #decodeRead(key: string, reply: unknown): Read | undefined {
    if (reply === null) return { pair: null, ttlLeftMs: undefined };
    if (!Array.isArray(reply)) {
      if (Number(reply) === SCRIPT_FOREIGN) return undefined;
      throw new BackendError(`redis read of ${this.callerKey(key)} gave an unexpected answer`);
    }
    const [value, rev, pttl] = reply as [Buffer, Buffer | number, number];
    return { pair: this.#pair(key, value, rev), ttlLeftMs: pttl > 0 ? pttl : undefined };
  }

  #pair(key: string, value: Buffer, rev: Buffer | number): KVPair {
    const lastIndex = Number(typeof rev === 'number' ? rev : rev.toString());
    this.#saw(lastIndex);
    return { key, value, lastIndex };
  }

  #saw(rev: number): void {
    if (rev > this.#floor) this.#floor = rev;
  }
}

/** A Buffer view of the bytes, without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function decodeKey(raw: Buffer): string | undefined {
  try {
    return utf8.decode(raw);
  } catch {
    return undefined;
  }
}
