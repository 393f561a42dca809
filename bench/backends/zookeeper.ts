/**
 * ZooKeeper: put / get / atomicPut through kvkit and through node-zookeeper-client doing the
 * same operation, side by side in interleaved rounds (bench/lib/interleaved.ts), at 1 and 64
 * concurrent callers.
 *
 *   npx tsx bench/backends/zookeeper.ts --endpoint 127.0.0.1:2181 [--duration-ms 3000]
 *
 * What "the same operation" is for the raw client:
 * - put: setData(path, value, -1) on an existing znode (kvkit's put starts with exactly that).
 * - get: kvkit's get is linearizable by default: sync(path) and getData(path) sent together.
 *   The raw client has no sync(), so it sends the same SyncRequest kvkit builds (sendSync)
 *   before its getData. `get-local` is get({ consistent: false }) against a bare getData.
 * - atomicPut: compare-and-swap against the mzxid the caller saw last, which is what kvkit's
 *   lastIndex means: exists() to compare the mzxid, then setData() at the version read with it.
 *   A bare setData(path, value, version) is also shown (`raw-version`): one round trip cheaper
 *   but not the same guarantee, since a data version restarts at 0 when a znode is deleted and
 *   recreated (why kvkit cannot skip the exists() with a cached version, docs/backends/zookeeper.md).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { sendSync, type ZkClient, type ZkStat, zookeeper } from '../../src/backends/zookeeper/zk-client.js';
import { createStore, type KVPair } from '../../src/index.js';
import { compareInterleaved, type InterleavedRow } from '../lib/interleaved.js';
import { KeyPool } from '../lib/key-pool.js';
import { printTable, ratioTable, writeResults } from '../lib/measure.js';

const SUBJECT = 'zookeeper';
const CONCURRENCIES = [1, 64];
const VALUE = Buffer.alloc(100, 'v');
const DEFAULT_DURATION_MS = 3000;

export async function benchZookeeper(
  endpoint: string,
  durationMs = DEFAULT_DURATION_MS,
): Promise<InterleavedRow[]> {
  const base = `bench/zk-${Date.now().toString(36)}`;
  const store = await createStore({ backend: 'zk', endpoints: [endpoint] });
  const raw = await connectRaw(endpoint);
  const rows: InterleavedRow[] = [];
  try {
    const keyCount = Math.max(...CONCURRENCIES);
    const keys = Array.from({ length: keyCount }, (_, i) => `${base}/k${i}`);
    const paths = keys.map(toPath);
    // Compare-and-swap variants each get keys of their own, so they never invalidate each other.
    const casKeys = (via: string) => Array.from({ length: keyCount }, (_, i) => `${base}/cas-${via}/k${i}`);
    const [rawCasKeys, kvkitCasKeys, versionCasKeys] = ['raw', 'kvkit', 'version'].map(casKeys);
    for (const key of [...keys, ...rawCasKeys, ...kvkitCasKeys, ...versionCasKeys])
      await store.put(key, VALUE);

    for (const concurrency of CONCURRENCIES) {
      const at = { subject: SUBJECT, concurrency, durationMs };
      const path = (i: number) => paths[i % keyCount];
      rows.push(
        ...(await compareInterleaved(
          { ...at, op: 'put' },
          {
            raw: (i) => call<ZkStat>((cb) => raw.setData(path(i), VALUE, -1, cb)),
            kvkit: (i) => store.put(keys[i % keyCount], VALUE),
          },
        )),
        ...(await compareInterleaved(
          { ...at, op: 'get' },
          {
            raw: (i) =>
              Promise.all([
                call((cb) => sendSync(raw, path(i), (err) => cb(err, undefined))),
                call((cb) => raw.getData(path(i), undefined, cb)),
              ]),
            kvkit: (i) => store.get(keys[i % keyCount]),
          },
        )),
        ...(await compareInterleaved(
          { ...at, op: 'get-local' },
          {
            raw: (i) => call((cb) => raw.getData(path(i), undefined, cb)),
            kvkit: (i) => store.get(keys[i % keyCount], { consistent: false }),
          },
        )),
      );

      // Each caller takes a key of its own from the pool, so swaps only conflict by accident.
      const rawCas = new KeyPool(rawCasKeys.slice(0, concurrency).map(toPath), async (p) => {
        const stat = await call<ZkStat | null>((cb) => raw.exists(p, undefined, cb));
        if (!stat) throw new Error(`${p} vanished`);
        return stat.mzxid;
      });
      const kvkitCas = new KeyPool(kvkitCasKeys.slice(0, concurrency), (key) => store.get(key));
      const versionCas = new KeyPool(versionCasKeys.slice(0, concurrency).map(toPath), async (p) => {
        const stat = await call<ZkStat | null>((cb) => raw.exists(p, undefined, cb));
        return stat?.version ?? 0;
      });
      rows.push(
        ...(await compareInterleaved(
          { ...at, op: 'atomicPut' },
          {
            raw: () =>
              rawCas.use(async (p, mzxid) => {
                const stat = await call<ZkStat | null>((cb) => raw.exists(p, undefined, cb));
                if (!stat?.mzxid.equals(mzxid)) throw new Error(`${p} changed under the benchmark`);
                return (await call<ZkStat>((cb) => raw.setData(p, VALUE, stat.version, cb))).mzxid;
              }),
            kvkit: () => kvkitCas.use((key, pair: KVPair) => store.atomicPut(key, VALUE, pair)),
            'raw-version': () =>
              versionCas.use(
                async (p, version) =>
                  (
                    await call<ZkStat>((cb) => raw.setData(p, VALUE, version, cb))
                  ).version,
              ),
          },
        )),
      );
    }
    await store.deleteTree(base);
  } finally {
    raw.close();
    await store.close();
  }
  return rows;
}

/** The znode of a benchmark key (plain names: no escaping needed). */
function toPath(key: string): string {
  return `/${key}`;
}

function connectRaw(endpoint: string): Promise<ZkClient> {
  const client = zookeeper.createClient(endpoint, { sessionTimeout: 4000, spinDelay: 500, retries: 0 });
  return new Promise((resolve, reject) => {
    // (close() on a never-connected client throws inside the client, so it is left to exit.)
    const timer = setTimeout(() => reject(new Error(`raw client: no answer from ${endpoint}`)), 10_000);
    client.on('state', (state) => {
      if (state !== zookeeper.State.SYNC_CONNECTED) return;
      clearTimeout(timer);
      resolve(client);
    });
    client.connect();
  });
}

function call<T = unknown>(send: (cb: (err: Error | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => send((err, value) => (err ? reject(err) : resolve(value))));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      endpoint: { type: 'string', default: '127.0.0.1:2181' },
      'duration-ms': { type: 'string', default: String(DEFAULT_DURATION_MS) },
    },
  });
  const rows = await benchZookeeper(values.endpoint as string, Number(values['duration-ms']));
  printTable(
    `ZooKeeper at ${values.endpoint}: kvkit vs node-zookeeper-client (goal: ratio >= 0.95)`,
    ratioTable(rows),
  );
  console.log(`\nwrote ${writeResults(SUBJECT, rows)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
