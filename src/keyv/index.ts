/**
 * kvkit as a keyv storage adapter: `new Keyv({ store: new KeyvKvkit('etcd://...') })` keeps a
 * keyv cache in any kvkit Store (docs/adapters.md). keyv is an optional peer dependency; this
 * module only uses its types.
 */
import { EventEmitter } from 'node:events';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import '../backends/index.js';
import { redactUrl } from '../secrets/redact.js';
import { createStore } from '../store/create-store.js';
import { isKVError } from '../store/errors.js';
import { MAX_TTL_MS } from '../store/limits.js';
import type { Store } from '../store/types.js';
import { text } from '../store/values.js';

export interface KeyvKvkitOptions {
  /** The keyv namespace to start with (a Keyv that wraps the adapter sets its own). */
  namespace?: string;
}

/**
 * A keyv storage adapter over a kvkit Store. Keys: keyv hands over `namespace:key`; each
 * namespace is a directory of the Store, so `keyv:foo` is the Store key `keyv/foo` and
 * `clear()` is `deleteTree(namespace)` (without a namespace, everything in the Store). Values
 * are what keyv's serializer gives (a JSON string by default), stored as UTF-8. A keyv TTL
 * (ms) is the Store's TTL, so the key also goes from the backend; keyv still checks its own
 * `expires` on read. A TTL beyond the Store's maximum (366 days) is left to keyv alone.
 *
 * Built from a URL, the adapter owns its Store (opened at once, closed by `disconnect()`);
 * given a Store, it leaves it open.
 */
export class KeyvKvkit extends EventEmitter implements KeyvStoreAdapter {
  /**
   * keyv reads `opts` (`url` and `dialect` decide whether it wires `keyv.iterator()`; its test
   * suite writes `opts.deserialize`). `url` is the store URL with credentials shown as `***`.
   */
  opts: { url: string; dialect: string; [option: string]: unknown };
  /** The current keyv namespace; Keyv sets it. */
  namespace?: string;
  readonly #store: Promise<Store>;
  readonly #owned: boolean;

  constructor(urlOrStore: string | Store, options: KeyvKvkitOptions = {}) {
    super();
    this.namespace = options.namespace;
    if (typeof urlOrStore === 'string') {
      this.opts = { url: redactUrl(urlOrStore), dialect: 'kvkit' };
      this.#store = createStore(urlOrStore);
      this.#owned = true;
      // Every call reports a failed open; this keeps it from being an unhandled rejection meanwhile.
      this.#store.catch(() => {});
    } else {
      this.opts = { url: 'kvkit:store', dialect: 'kvkit' };
      this.#store = Promise.resolve(urlOrStore);
      this.#owned = false;
    }
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const store = await this.#store;
    try {
      return text(await store.get(this.#storeKey(key))) as StoredData<Value>;
    } catch (err) {
      if (isKVError(err, 'KEY_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    return Promise.all(keys.map((key) => this.get<Value>(key))) as Promise<
      Array<StoredData<Value | undefined>>
    >;
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    const store = await this.#store;
    const bytes = typeof value === 'string' || value instanceof Uint8Array ? value : JSON.stringify(value);
    // keyv passes undefined or 0 for "no TTL"; one above the Store's maximum keyv enforces itself.
    const ttlMs = typeof ttl === 'number' && ttl > 0 && ttl <= MAX_TTL_MS ? ttl : undefined;
    await store.put(this.#storeKey(key), bytes, ttlMs === undefined ? undefined : { ttl: ttlMs });
    return true;
  }

  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    await Promise.all(entries.map(({ key, value, ttl }) => this.set(key, value, ttl)));
  }

  /** True when the key was there: read it, then delete exactly that state (retried on a race). */
  async delete(key: string): Promise<boolean> {
    const store = await this.#store;
    const k = this.#storeKey(key);
    for (;;) {
      try {
        await store.atomicDelete(k, await store.get(k));
        return true;
      } catch (err) {
        if (isKVError(err, 'KEY_NOT_FOUND')) return false;
        if (!isKVError(err, 'KEY_MODIFIED')) throw err;
      }
    }
  }

  /** True when any of the keys was there. */
  async deleteMany(keys: string[]): Promise<boolean> {
    return (await Promise.all(keys.map((key) => this.delete(key)))).some(Boolean);
  }

  async has(key: string): Promise<boolean> {
    return (await this.#store).exists(this.#storeKey(key));
  }

  hasMany(keys: string[]): Promise<boolean[]> {
    return Promise.all(keys.map((key) => this.has(key)));
  }

  /** Deletes the current namespace (or, without one, every key in the Store). */
  async clear(): Promise<void> {
    await (await this.#store).deleteTree(this.namespace ?? '');
  }

  /**
   * Every `[key, value]` of a namespace (default: the current one), keys as keyv gave them.
   * Keyv 5 wires `keyv.iterator()` only for the adapter dialects it lists, so call this on the
   * adapter: `for await (const [key, value] of adapter.iterator('keyv'))`.
   */
  async *iterator<Value>(
    namespace = this.namespace,
  ): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    const store = await this.#store;
    const dir = namespace === undefined ? '' : `${namespace}/`;
    for (const pair of await store.list(dir)) {
      const rest = pair.key.slice(dir.length);
      yield [namespace === undefined ? rest : `${namespace}:${rest}`, text(pair) as Awaited<Value>];
    }
  }

  /** Closes the Store if the adapter opened it. */
  async disconnect(): Promise<void> {
    if (this.#owned) await (await this.#store).close();
  }

  /** `namespace:rest` of the current namespace is `namespace/rest`; any other key is kept as it is. */
  #storeKey(key: string): string {
    const ns = this.namespace;
    if (ns !== undefined && key.startsWith(`${ns}:`)) return `${ns}/${key.slice(ns.length + 1)}`;
    return key;
  }
}
