/**
 * ZooKeeper: put / get / atomicPut through kvkit and through node-zookeeper-client doing the
 * same operation, side by side, at 1 and 64 concurrent callers.
 *
 *   npx tsx bench/backends/zookeeper.ts --endpoint 127.0.0.1:2181
 *
 * What "the same operation" is for the raw client:
 * - put: setData(path, value, -1) on an existing znode (kvkit's put starts with exactly that).
 * - get: getData(path).
 * - atomicPut: compare-and-swap against the mzxid the caller saw last, which is what kvkit's
 *   lastIndex means: exists() to compare the mzxid, then setData() at the version read with it.
 *   A bare setData(path, value, version) is also shown (`raw-version`): it is one round trip
 *   cheaper but not the same guarantee, since a data version restarts at 0 when a znode is
 *   deleted and recreated.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type ZkClient, type ZkStat, zookeeper } from '../../src/backends/zookeeper/zk-client.js';
import { createStore, type KVPair } from '../../src/index.js';
import { KeyPool } from '../lib/key-pool.js';
import { type BenchRow, measure, printTable, ratioTable, writeResults } from '../lib/measure.js';

const SUBJECT = 'zookeeper';
const CONCURRENCIES = [1, 64];
const VALUE = Buffer.alloc(100, 'v');
/** Each variant runs ROUNDS times for ROUND_MS, interleaved with the others in rotating order,
 * so drift on a shared machine (JIT warm-up, the server's fsyncs, neighbours) hits all alike. */
const ROUNDS = 10;
const ROUND_MS = 300;

interface Variant {
  via: string;
  run: (i: number) => Promise<unknown>;
}

export async function benchZookeeper(endpoint: string): Promise<BenchRow[]> {
  const base = `bench/zk-${Date.now().toString(36)}`;
  const store = await createStore({ backend: 'zk', endpoints: [endpoint] });
  const raw = await connectRaw(endpoint);
  const rows: BenchRow[] = [];
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
      const compare = async (op: string, variants: Variant[]) => {
        rows.push(...(await interleaved(op, concurrency, variants)));
      };

      await compare('put', [
        { via: 'raw', run: (i) => call<ZkStat>((cb) => raw.setData(paths[i % keyCount], VALUE, -1, cb)) },
        { via: 'kvkit', run: (i) => store.put(keys[i % keyCount], VALUE) },
      ]);

      await compare('get', [
        { via: 'raw', run: (i) => call((cb) => raw.getData(paths[i % keyCount], undefined, cb)) },
        { via: 'kvkit', run: (i) => store.get(keys[i % keyCount]) },
      ]);

      // Each caller takes a key of its own from the pool, so swaps only conflict by accident.
      const rawCas = new KeyPool(rawCasKeys.slice(0, concurrency).map(toPath), async (path) => {
        const stat = await call<ZkStat | null>((cb) => raw.exists(path, undefined, cb));
        if (!stat) throw new Error(`${path} vanished`);
        return stat.mzxid;
      });
      const kvkitCas = new KeyPool(kvkitCasKeys.slice(0, concurrency), (key) => store.get(key));
      const versionCas = new KeyPool(versionCasKeys.slice(0, concurrency).map(toPath), async (path) => {
        const stat = await call<ZkStat | null>((cb) => raw.exists(path, undefined, cb));
        return stat?.version ?? 0;
      });
      await compare('atomicPut', [
        {
          via: 'raw',
          run: () =>
            rawCas.use(async (path, mzxid) => {
              const stat = await call<ZkStat | null>((cb) => raw.exists(path, undefined, cb));
              if (!stat?.mzxid.equals(mzxid)) throw new Error(`${path} changed under the benchmark`);
              return (await call<ZkStat>((cb) => raw.setData(path, VALUE, stat.version, cb))).mzxid;
            }),
        },
        { via: 'kvkit', run: () => kvkitCas.use((key, pair: KVPair) => store.atomicPut(key, VALUE, pair)) },
        {
          via: 'raw-version',
          run: () =>
            versionCas.use(
              async (path, version) =>
                (await call<ZkStat>((cb) => raw.setData(path, VALUE, version, cb))).version,
            ),
        },
      ]);
    }
    await store.deleteTree(base);
  } finally {
    raw.close();
    await store.close();
  }
  return rows;
}

async function interleaved(op: string, concurrency: number, variants: Variant[]): Promise<BenchRow[]> {
  const runs = new Map<string, Awaited<ReturnType<typeof measure>>[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < variants.length; k++) {
      const variant = variants[(round + k) % variants.length];
      const result = await measure({ concurrency, durationMs: ROUND_MS }, variant.run);
      runs.set(variant.via, [...(runs.get(variant.via) ?? []), result]);
    }
  }
  return variants.map(({ via }) => {
    const results = runs.get(via) ?? [];
    const ops = results.reduce((sum, r) => sum + r.ops, 0);
    return {
      subject: SUBJECT,
      op,
      concurrency,
      via,
      ops,
      // The median round: one round that hits a burst of server fsyncs or a busy neighbour
      // says little about either client.
      opsPerSec: Math.round(median(results.map((r) => r.opsPerSec))),
      p50Ms: round3(median(results.map((r) => r.p50Ms))),
      p99Ms: round3(median(results.map((r) => r.p99Ms))),
    };
  });
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
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
  const { values } = parseArgs({ options: { endpoint: { type: 'string', default: '127.0.0.1:2181' } } });
  const rows = await benchZookeeper(values.endpoint as string);
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
