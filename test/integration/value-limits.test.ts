/**
 * capabilities.maxValueBytes is true on real etcd, Consul and ZooKeeper servers: a value of
 * exactly the limit round-trips through every write path (put, atomicPut, a TTL write, under the
 * longest key), and one byte more is VALUE_TOO_LARGE before anything is sent. First against
 * servers with their default limits (single members started here, no raised settings), then
 * against servers with raised limits (test/integration/servers.ts: 4 MiB), which kvkit is told
 * about through the backend's URL parameter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUL_MAX_VALUE_BYTES, TXN_VALUE_MAX_BYTES } from '../../src/backends/consul/consul-store.js';
import { ETCD_MAX_REQUEST_BYTES, etcdRequestOverheadBytes } from '../../src/backends/etcd/etcd-store.js';
import {
  JUTE_MAX_BUFFER_DEFAULT,
  ZK_CLIENT_MAX_DATA_BYTES,
  zkRequestOverheadBytes,
} from '../../src/backends/zookeeper/zookeeper-store.js';
import { failure } from '../../src/conformance/helpers.js';
import { createStore, type Store } from '../../src/index.js';
import { MAX_KEY_BYTES } from '../../src/store/keys.js';
import { type ClusterKind, type RunningCluster, startCluster } from './clusters.js';
import {
  MAX_VALUE_BYTES as RAISED_BYTES,
  type RunningServer,
  requireDocker,
  startServer,
} from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1 is set on purpose.
const dockerAvailable = await requireDocker();

const SCHEME: Record<ClusterKind, string> = { etcd: 'etcd', consul: 'consul', zookeeper: 'zk' };
/** The server's default bound, and what a request carries besides the value. */
const SERVER_DEFAULT: Record<ClusterKind, number> = {
  etcd: ETCD_MAX_REQUEST_BYTES,
  consul: CONSUL_MAX_VALUE_BYTES,
  zookeeper: JUTE_MAX_BUFFER_DEFAULT,
};
const OVERHEAD: Record<ClusterKind, number> = {
  etcd: etcdRequestOverheadBytes(0, 0),
  consul: 0,
  zookeeper: zkRequestOverheadBytes(0),
};
/** How kvkit is told a server's raised limit. */
const RAISED_PARAM: Record<ClusterKind, string> = {
  etcd: `maxRequestBytes=${RAISED_BYTES}`,
  consul: `maxValueBytes=${RAISED_BYTES}`,
  zookeeper: `juteMaxBuffer=${RAISED_BYTES}`,
};

/** Bytes that differ from position to position, so a truncated or shifted value shows. */
function patterned(length: number, seed: number): Uint8Array {
  const value = new Uint8Array(length);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7919 + seed + (i >> 8)) & 0xff;
  return value;
}

/**
 * The longest key, of the characters that cost each backend the most on the wire: emoji (four
 * UTF-8 bytes, twelve in an escaped znode path).
 */
function longestKey(dir: string): string {
  const emoji = '😀';
  return `${dir}/${emoji.repeat((MAX_KEY_BYTES - dir.length - 1) / 4)}`.slice(0, MAX_KEY_BYTES);
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe.skipIf(!dockerAvailable)('maxValueBytes against real servers', () => {
  const stores: Store[] = [];
  afterAll(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
  }, 60_000);
  const open = async (url: string) => {
    const store = await createStore(url);
    stores.push(store);
    return store;
  };

  describe.each(['etcd', 'consul', 'zookeeper'] as const)('%s with default server settings', (kind) => {
    let server: RunningCluster | undefined;
    let store: Store;
    beforeAll(async () => {
      server = await startCluster(kind, { size: 1 });
      store = await open(`${SCHEME[kind]}://${server.endpoints[0]}`);
    }, 300_000);
    afterAll(async () => {
      await server?.close();
    }, 60_000);

    it('declares the server default minus what a request carries besides the value', () => {
      expect(store.capabilities.maxValueBytes).toBe(SERVER_DEFAULT[kind] - OVERHEAD[kind]);
    });

    it('writes a value of exactly the limit under the longest key through put and atomicPut', async () => {
      const limit = store.capabilities.maxValueBytes;
      const key = longestKey(`limits-${kind}`);
      const first = patterned(limit, 1);
      await store.put(key, first);
      const pair = await store.get(key);
      expect(same(pair.value, first)).toBe(true);
      const second = patterned(limit, 2);
      const swapped = await store.atomicPut(key, second, pair);
      expect(same((await store.get(key)).value, second)).toBe(true);
      expect((await store.get(key)).lastIndex).toBe(swapped.lastIndex);
      const created = `limits-${kind}/created`;
      await store.atomicPut(created, first, null);
      expect(same((await store.get(created)).value, first)).toBe(true);
    }, 120_000);

    it('rejects one byte more with VALUE_TOO_LARGE before anything is sent', async () => {
      const key = `limits-${kind}/over`;
      const over = patterned(store.capabilities.maxValueBytes + 1, 3);
      expect((await failure(() => store.put(key, over))).code).toBe('VALUE_TOO_LARGE');
      expect((await failure(() => store.atomicPut(key, over, null))).code).toBe('VALUE_TOO_LARGE');
      expect(await store.exists(key)).toBe(false);
    }, 60_000);

    it('writes the largest value a TTL write carries under the longest key', async () => {
      // Consul's TTL writes go through /v1/txn (a session acquires the key in the same step).
      const limit = kind === 'consul' ? TXN_VALUE_MAX_BYTES : store.capabilities.maxValueBytes;
      const key = longestKey(`limits-ttl-${kind}`);
      await store.put(key, patterned(limit, 4)); // a plain key first: the TTL write replaces it
      await store.put(key, patterned(limit, 5), { ttl: 60_000 });
      expect(same((await store.get(key)).value, patterned(limit, 5))).toBe(true);
      if (kind === 'consul') {
        const err = await failure(() => store.put(`${key}x`, patterned(limit + 1, 6), { ttl: 60_000 }));
        expect(err.code).toBe('VALUE_TOO_LARGE');
      }
    }, 120_000);
  });

  describe.each(['etcd', 'consul', 'zookeeper'] as const)('%s with raised server limits', (kind) => {
    let server: RunningServer | undefined;
    beforeAll(async () => {
      server = await startServer(kind);
    }, 300_000);
    afterAll(async () => {
      await server?.close();
    }, 60_000);

    it('takes the raised limit from the URL and writes a value of exactly it', async () => {
      const store = await open(`${SCHEME[kind]}://${server?.endpoint}?${RAISED_PARAM[kind]}`);
      const limit = store.capabilities.maxValueBytes;
      // node-zookeeper-client sends at most 1 MiB of data, whatever the server takes.
      const clientCap = kind === 'zookeeper' ? ZK_CLIENT_MAX_DATA_BYTES : Number.POSITIVE_INFINITY;
      expect(limit).toBe(Math.min(RAISED_BYTES - OVERHEAD[kind], clientCap));
      const key = longestKey(`raised-${kind}`);
      // A starved server can drop the connection under a value this size; a put is idempotent,
      // so it is retried as a client would (the limit is what this test is about).
      for (let attempt = 1; ; attempt++) {
        const err = await store.put(key, patterned(limit, 7)).then(
          () => null,
          (e) => e,
        );
        if (err === null) break;
        if (attempt >= 5 || !['NOT_REACHABLE', 'TIMEOUT'].includes(err.code)) throw err;
      }
      expect(same((await store.get(key)).value, patterned(limit, 7))).toBe(true);
      expect((await failure(() => store.put(key, patterned(limit + 1, 8)))).code).toBe('VALUE_TOO_LARGE');
    }, 120_000);

    it('refuses a maxValueBytes the server could not take, naming the setting to raise', async () => {
      if (kind === 'consul') return; // Consul's limit is the value itself: maxValueBytes is the setting
      const param = kind === 'etcd' ? 'maxRequestBytes' : 'juteMaxBuffer';
      const err = await failure(() =>
        createStore(`${SCHEME[kind]}://${server?.endpoint}?maxValueBytes=${2 * 1024 * 1024}`),
      );
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain(param);
    });
  });
});
