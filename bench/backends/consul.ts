/**
 * Consul: put / get / atomicPut through kvkit and through the `consul` client doing the same
 * operation, side by side, at 1 and 64 concurrent callers.
 *
 *   npx tsx bench/backends/consul.ts --endpoint 127.0.0.1:8500 [--duration-ms 2000]
 *
 * What "the same operation" is for the raw client:
 * - put: `kv.set(key, value)`, a PUT of the raw value, which is what kvkit's put sends (with a
 *   stamp in `flags`; docs/backends/consul.md on why no session check is needed).
 * - get: `kv.get({ key, consistent: true })`, since kvkit's get is consistent by default.
 * - atomicPut: a compare-and-swap against the ModifyIndex the caller saw last that tells the
 *   new ModifyIndex, so a caller can chain: `PUT ?cas=` and a read (`raw`), or one `/v1/txn`
 *   `cas` (`raw-txn`, what kvkit sends).
 * Variants run in interleaved rounds (bench/lib/interleaved.ts).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Consul from 'consul';
import { createStore, type KVPair } from '../../src/index.js';
import { parseEndpoint } from '../../src/store/endpoints.js';
import { compareInterleaved, type InterleavedRow } from '../lib/interleaved.js';
import { KeyPool } from '../lib/key-pool.js';
import { printTable, ratioTable, writeResults } from '../lib/measure.js';

const SUBJECT = 'consul';
const CONCURRENCIES = [1, 64];
const VALUE_BYTES = 100;

/**
 * A 100-byte value that differs from write to write: Consul skips a write identical to the
 * entry it replaces, which would make the raw side measure no-ops (kvkit stamps every write so
 * that each one is a change, see kv-ops.ts).
 */
function valueFor(i: number): Buffer {
  return Buffer.from(String(i).padStart(VALUE_BYTES, 'v'));
}
/** Measuring time per op, concurrency and side (ms). */
const DEFAULT_DURATION_MS = 3000;

export async function benchConsul(
  endpoint: string,
  durationMs = DEFAULT_DURATION_MS,
): Promise<InterleavedRow[]> {
  const base = `bench/consul-${Date.now().toString(36)}`;
  const store = await createStore({ backend: 'consul', endpoints: [endpoint] });
  const { host, port } = parseEndpoint(endpoint, 8500);
  const raw = new Consul({ host, port });
  const rows: InterleavedRow[] = [];
  try {
    const keyCount = Math.max(...CONCURRENCIES);
    const keys = Array.from({ length: keyCount }, (_, i) => `${base}/k${i}`);
    // Compare-and-swap keys apart for each side, so neither invalidates the other's last index.
    const casKeys = (via: string) => Array.from({ length: keyCount }, (_, i) => `${base}/cas-${via}-${i}`);
    const [kvkitCasKeys, rawCasKeys, txnCasKeys] = ['kvkit', 'raw', 'txn'].map(casKeys);
    for (const key of [...keys, ...kvkitCasKeys, ...rawCasKeys, ...txnCasKeys])
      await store.put(key, valueFor(0));
    const key = (i: number) => keys[i % keyCount];

    for (const concurrency of CONCURRENCIES) {
      const at = { subject: SUBJECT, concurrency, durationMs };
      rows.push(
        ...(await compareInterleaved(
          { ...at, op: 'put' },
          {
            kvkit: (i) => store.put(key(i), valueFor(i)),
            raw: (i) => raw.kv.set(key(i), valueFor(i)),
          },
        )),
        ...(await compareInterleaved(
          { ...at, op: 'get' },
          {
            kvkit: (i) => store.get(key(i)),
            raw: (i) => raw.kv.get({ key: key(i), consistent: true, buffer: true } as never),
          },
        )),
      );

      // Each caller takes a key of its own from the pool, so swaps never conflict.
      const kvkitCas = new KeyPool(kvkitCasKeys.slice(0, concurrency), (k) => store.get(k));
      const lastIndex = async (k: string) => (await store.get(k)).lastIndex;
      const rawCas = new KeyPool(rawCasKeys.slice(0, concurrency), lastIndex);
      const txnCas = new KeyPool(txnCasKeys.slice(0, concurrency), lastIndex);
      rows.push(
        ...(await compareInterleaved(
          { ...at, op: 'atomicPut' },
          {
            kvkit: (i) => kvkitCas.use((k, last: KVPair) => store.atomicPut(k, valueFor(i), last)),
            // A compare-and-swap a caller can chain: `PUT ?cas=` answers only true/false, so the
            // new ModifyIndex takes a read.
            raw: (i) =>
              rawCas.use(async (k, index: number) => {
                if (!(await raw.kv.set({ key: k, value: valueFor(i), cas: index } as never))) {
                  throw new Error(`${k} changed under the benchmark`);
                }
                return ((await raw.kv.get({ key: k } as never)) as { ModifyIndex: number }).ModifyIndex;
              }),
            // The same in one request: what kvkit sends.
            'raw-txn': (i) =>
              txnCas.use(async (k, index: number) => {
                const answer = (await raw.transaction.create([
                  { KV: { Verb: 'cas', Key: k, Value: valueFor(i).toString('base64'), Index: index } },
                ] as never)) as { Results: { KV: { ModifyIndex: number } }[] };
                return answer.Results[0].KV.ModifyIndex;
              }),
          },
        )),
      );
    }
    await store.deleteTree(base);
  } finally {
    raw.destroy();
    await store.close();
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      endpoint: { type: 'string', default: '127.0.0.1:8500' },
      'duration-ms': { type: 'string', default: String(DEFAULT_DURATION_MS) },
    },
  });
  const rows = await benchConsul(values.endpoint, Number(values['duration-ms']));
  printTable(
    `Consul at ${values.endpoint}: kvkit vs raw consul client (goal: ratio >= 0.95)`,
    ratioTable(rows),
  );
  console.log(`\nwrote ${writeResults('consul', rows)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
