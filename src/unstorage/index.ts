/**
 * kvkit as an unstorage driver: `createStorage({ driver: kvkitDriver({ url: 'etcd://...' }) })`
 * puts a Nitro/Nuxt storage mount in any kvkit Store (docs/adapters.md). unstorage is an
 * optional peer dependency; this module only uses its types.
 */
import type { Driver, StorageMeta, TransactionOptions, WatchCallback } from 'unstorage';
import '../backends/index.js';
import { createStore } from '../store/create-store.js';
import { InvalidArgumentError, isKVError } from '../store/errors.js';
import type { KVPair, Store } from '../store/types.js';
import { text } from '../store/values.js';

export interface KvkitDriverOptions {
  /** A store URL (`raft://…`, `etcd://…`, `redis://…`, …): the driver opens it and closes it on dispose. */
  url?: string;
  /** Or a Store the application already has: the driver leaves it open. */
  store?: Store;
  /** A directory of the Store the driver keeps its keys under (`:` or `/` separated). */
  base?: string;
  /** Default TTL of setItem, in seconds (as unstorage's redis and lru-cache drivers); per call: `{ ttl }`. */
  ttl?: number;
}

const DRIVER_NAME = 'kvkit';

/**
 * The driver: unstorage's `a:b:c` keys are the Store's `base/a/b/c`, items are Store values
 * (strings as UTF-8, `setItemRaw` bytes as they are), `getKeys` and `clear` are `list` and
 * `deleteTree` of a directory, `watch` is `watchTree` of the base (so it also sees other
 * processes' writes), `getMeta` gives the item's `lastIndex`, and `dispose` closes a Store the
 * driver opened (and ends its watches).
 */
export default function kvkitDriver(options: KvkitDriverOptions = {}): Driver<KvkitDriverOptions, Store> {
  if ((options.url === undefined) === (options.store === undefined)) {
    throw new InvalidArgumentError('kvkitDriver needs exactly one of url and store');
  }
  const owned = options.url !== undefined;
  let opened: Store | undefined = options.store;
  // Opened on first use, so defining a storage does no I/O.
  let opening: Promise<Store> | undefined = opened && Promise.resolve(opened);
  const store = (): Promise<Store> => {
    opening ??= createStore(options.url as string).then((s) => {
      opened = s;
      return s;
    });
    return opening;
  };
  const base = toPath(options.base ?? '');
  const dir = base === '' ? '' : `${base}/`;
  /** The Store key of an unstorage key. */
  const keyOf = (key: string) => dir + toPath(key);
  /** The Store directory of an unstorage base (`a:b:`, '' or, from `clear()`, undefined). */
  const dirOf = (prefix: string | undefined) => {
    const path = toPath(prefix ?? '');
    return path === '' ? dir : `${dir}${path}/`;
  };
  /** An unstorage key of a Store key under the driver's base. */
  const itemKey = (pair: KVPair) => pair.key.slice(dir.length).replaceAll('/', ':');
  const ttlOf = (opts: TransactionOptions | undefined) => {
    const seconds = (opts?.ttl as number | undefined) ?? options.ttl;
    return typeof seconds === 'number' && seconds > 0 ? { ttl: seconds * 1000 } : undefined;
  };
  const read = async (key: string): Promise<KVPair | null> => {
    try {
      return await (await store()).get(keyOf(key));
    } catch (err) {
      if (isKVError(err, 'KEY_NOT_FOUND')) return null;
      throw err;
    }
  };
  const watches = new Set<AbortController>();

  return {
    name: DRIVER_NAME,
    options,
    getInstance: () => {
      if (!opened) throw new InvalidArgumentError('the kvkit driver has not opened its store yet');
      return opened;
    },
    async hasItem(key) {
      return (await store()).exists(keyOf(key));
    },
    async getItem(key) {
      const pair = await read(key);
      return pair === null ? null : text(pair);
    },
    async getItemRaw(key) {
      return (await read(key))?.value ?? null;
    },
    async setItem(key, value, opts) {
      await (await store()).put(keyOf(key), value, ttlOf(opts));
    },
    async setItemRaw(key, value, opts) {
      const bytes =
        value instanceof Uint8Array ? value : typeof value === 'string' ? value : Buffer.from(value);
      await (await store()).put(keyOf(key), bytes, ttlOf(opts));
    },
    async removeItem(key) {
      await (await store()).delete(keyOf(key));
    },
    async getMeta(key) {
      const pair = await read(key);
      return pair === null ? null : ({ lastIndex: pair.lastIndex } as StorageMeta);
    },
    async getKeys(prefix) {
      return (await (await store()).list(dirOf(prefix))).map(itemKey);
    },
    async clear(prefix) {
      await (await store()).deleteTree(dirOf(prefix));
    },
    async watch(callback: WatchCallback) {
      const stop = new AbortController();
      watches.add(stop);
      const tree = (await store()).watchTree(dir, { signal: stop.signal })[Symbol.asyncIterator]();
      // The first list is the state the watch starts from; every later one is diffed against it.
      const first = await tree.next();
      let known = new Map<string, number>((first.done ? [] : first.value).map((p) => [p.key, p.lastIndex]));
      void (async () => {
        try {
          for (let next = await tree.next(); !next.done; next = await tree.next()) {
            const now = new Map(next.value.map((p) => [p.key, p.lastIndex]));
            for (const pair of next.value) {
              if (known.get(pair.key) !== pair.lastIndex) callback('update', itemKey(pair));
            }
            for (const key of known.keys()) if (!now.has(key)) callback('remove', itemKey({ key } as KVPair));
            known = now;
          }
        } catch {
          // The store closed or failed: the watch ends, as unwatch would end it.
        } finally {
          watches.delete(stop);
        }
      })();
      return () => {
        stop.abort();
        watches.delete(stop);
      };
    },
    async dispose() {
      for (const stop of watches) stop.abort();
      watches.clear();
      if (owned && opening) await (await opening.catch(() => undefined))?.close();
    },
  };
}

/** `a:b:c` (or `a/b/c`, `/a/b/`) as the Store path `a/b/c`. */
function toPath(key: string): string {
  return key.replaceAll(':', '/').replace(/^\/+|\/+$/g, '');
}
