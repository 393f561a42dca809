/**
 * Consul: put / get / atomicPut through kvkit and through the `consul` client doing the same
 * operation, side by side, at 1 and 64 concurrent callers.
 *
 *   npx tsx bench/backends/consul.ts --endpoint 127.0.0.1:8500 [--duration-ms 2000]
 *
 * What "the same operation" is for the raw client:
 * - put: `kv.set(key, value)`, a PUT of the raw value. kvkit's put is a one-op `/v1/txn`, so it
 *   can see whether a session still holds the key (docs/backends/consul.md); the `raw-txn` row
 *   sends that same request through the raw client, to show what the transaction itself costs.
 * - get: `kv.get({ key, consistent: true })`, since kvkit's get is consistent by default.
 * - atomicPut: a `/v1/txn` `cas` op against the ModifyIndex the caller saw last, which returns
 *   the new ModifyIndex, so a caller can chain (a `PUT ?cas=` answers only true/false).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Consul from 'consul';
import { createStore, type KVPair } from '../../src/index.js';
import { parseEndpoint } from '../../src/store/endpoints.js';
import { KeyPool } from '../lib/key-pool.js';
import { type BenchRow, measure, printTable, ratioTable, writeResults } from '../lib/measure.js';

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
/** Each variant runs in this many rounds of two passes (forward, then reversed order). */
const ROUNDS = 3;

export async function benchConsul(endpoint: string, durationMs = DEFAULT_DURATION_MS): Promise<BenchRow[]> {
  const base = `bench/consul-${Date.now().toString(36)}`;
  const store = await createStore({ backend: 'consul', endpoints: [endpoint] });
  const { host, port } = parseEndpoint(endpoint, 8500);
  const raw = new Consul({ host, port });
  const rows: BenchRow[] = [];
  try {
    const keyCount = Math.max(...CONCURRENCIES);
    const keys = Array.from({ length: keyCount }, (_, i) => `${base}/k${i}`);
    // Compare-and-swap keys apart for each side, so neither invalidates the other's last index.
    const casKeys = (via: string) => Array.from({ length: keyCount }, (_, i) => `${base}/cas-${via}-${i}`);
    const [kvkitCasKeys, rawCasKeys] = [casKeys('kvkit'), casKeys('raw')];
    for (const key of [...keys, ...kvkitCasKeys, ...rawCasKeys]) await store.put(key, valueFor(0));

    for (const concurrency of CONCURRENCIES) {
      /**
       * Measures each variant in ROUNDS rounds, the order reversed every other time
       * (kvkit, raw, raw, kvkit, ...), so drift on a busy machine falls on all alike.
       */
      const compare = async (op: string, variants: Record<string, (i: number) => Promise<unknown>>) => {
        const slice = { concurrency, durationMs: durationMs / (2 * ROUNDS) };
        const names = Object.keys(variants);
        const measured = new Map<string, Measured[]>(names.map((name) => [name, []]));
        for (let pass = 0; pass < 2 * ROUNDS; pass++) {
          for (const name of pass % 2 === 0 ? names : [...names].reverse()) {
            measured.get(name)?.push(await measure(slice, variants[name]));
          }
        }
        for (const name of names) {
          rows.push({ subject: SUBJECT, op, concurrency, via: name, ...combine(measured.get(name) ?? []) });
        }
      };

      await compare('put', {
        kvkit: (i) => store.put(keys[i % keyCount], valueFor(i)),
        raw: (i) => raw.kv.set(keys[i % keyCount], valueFor(i)),
        // The request kvkit's put sends, for reference: what the transaction itself costs.
        'raw-txn': (i) =>
          raw.transaction.create([
            { KV: { Verb: 'set', Key: keys[i % keyCount], Value: valueFor(i).toString('base64') } },
          ] as never),
      });
      await compare('get', {
        kvkit: (i) => store.get(keys[i % keyCount]),
        raw: (i) => raw.kv.get({ key: keys[i % keyCount], consistent: true, buffer: true } as never),
      });

      // Each caller takes a key of its own from the pool, so swaps never conflict.
      const kvkitCas = new KeyPool(kvkitCasKeys.slice(0, concurrency), (key) => store.get(key));
      const rawCas = new KeyPool(
        rawCasKeys.slice(0, concurrency),
        async (key) => (await store.get(key)).lastIndex,
      );
      await compare('atomicPut', {
        kvkit: (i) => kvkitCas.use((key, last: KVPair) => store.atomicPut(key, valueFor(i), last)),
        raw: (i) =>
          rawCas.use(async (key, index: number) => {
            const answer = (await raw.transaction.create([
              { KV: { Verb: 'cas', Key: key, Value: valueFor(i).toString('base64'), Index: index } },
            ] as never)) as { Results: { KV: { ModifyIndex: number } }[] };
            return answer.Results[0].KV.ModifyIndex;
          }),
      });
    }
    await store.deleteTree(base);
  } finally {
    raw.destroy();
    await store.close();
  }
  return rows;
}

type Measured = Awaited<ReturnType<typeof measure>>;

/** Several runs as one: total throughput, and the mean of their latency percentiles. */
function combine(runs: Measured[]): Measured {
  const ops = runs.reduce((sum, r) => sum + r.ops, 0);
  const secs = runs.reduce((sum, r) => sum + r.ops / r.opsPerSec, 0);
  const mean = (pick: (r: Measured) => number) =>
    round(runs.reduce((sum, r) => sum + pick(r), 0) / runs.length);
  return { ops, opsPerSec: Math.round(ops / secs), p50Ms: mean((r) => r.p50Ms), p99Ms: mean((r) => r.p99Ms) };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
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
