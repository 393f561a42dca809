/**
 * Consul: put / get / atomicPut through kvkit and through the `consul` client doing the same
 * operation, side by side, at 1 and 64 concurrent callers.
 *
 *   npx tsx bench/backends/consul.ts --endpoint 127.0.0.1:8500 [--duration-ms 2000]
 *
 * What "the same operation" is for the raw client:
 * - put: `kv.set(key, value)`, a PUT of the raw value. (kvkit's put is a one-op `/v1/txn` so
 *   it can see whether a session still holds the key; see docs/backends/consul.md.)
 * - get: `kv.get({ key, consistent: true })`, since kvkit's get is consistent by default.
 * - atomicPut: a `/v1/txn` `cas` op against the ModifyIndex the caller saw last, which returns
 *   the new ModifyIndex, so a caller can chain (a `PUT ?cas=` answers only true/false).
 * Each pair is measured kvkit, raw, raw, kvkit (half the duration each) so that drift on a busy
 * machine falls on both sides alike.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Consul from 'consul';
import { createStore, type KVPair } from '../../src/index.js';
import { parseEndpoint } from '../../src/store/endpoints.js';
import { type BenchRow, measure, printTable, writeResults } from '../lib/measure.js';

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
const DEFAULT_DURATION_MS = 2000;

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
      const pair = async (
        op: string,
        kvkit: (i: number) => Promise<unknown>,
        viaRaw: (i: number) => Promise<unknown>,
      ) => {
        const half = { concurrency, durationMs: durationMs / 2 };
        const k1 = await measure(half, kvkit);
        const r1 = await measure(half, viaRaw);
        const r2 = await measure(half, viaRaw);
        const k2 = await measure(half, kvkit);
        rows.push({ subject: SUBJECT, op, concurrency, via: 'kvkit', ...combine(k1, k2) });
        rows.push({ subject: SUBJECT, op, concurrency, via: 'raw', ...combine(r1, r2) });
      };

      await pair(
        'put',
        (i) => store.put(keys[i % keyCount], valueFor(i)),
        (i) => raw.kv.set(keys[i % keyCount], valueFor(i)),
      );
      await pair(
        'get',
        (i) => store.get(keys[i % keyCount]),
        (i) => raw.kv.get({ key: keys[i % keyCount], consistent: true, buffer: true } as never),
      );

      // Each caller takes a key of its own from the pool, so swaps never conflict.
      const kvkitCas = new KeyPool(kvkitCasKeys.slice(0, concurrency), (key) => store.get(key));
      const rawCas = new KeyPool(
        rawCasKeys.slice(0, concurrency),
        async (key) => (await store.get(key)).lastIndex,
      );
      await pair(
        'atomicPut',
        (i) => kvkitCas.use((key, last: KVPair) => store.atomicPut(key, valueFor(i), last)),
        (i) =>
          rawCas.use(async (key, index: number) => {
            const answer = (await raw.transaction.create([
              { KV: { Verb: 'cas', Key: key, Value: valueFor(i).toString('base64'), Index: index } },
            ] as never)) as { Results: { KV: { ModifyIndex: number } }[] };
            return answer.Results[0].KV.ModifyIndex;
          }),
      );
    }
    await store.deleteTree(base);
  } finally {
    raw.destroy();
    await store.close();
  }
  return rows;
}

/** kvkit ops/s over raw ops/s, per op and concurrency. */
export function withRatios(rows: BenchRow[]): (BenchRow & { ratio: string })[] {
  return rows.map((row) => {
    const raw = rows.find((r) => r.op === row.op && r.concurrency === row.concurrency && r.via === 'raw');
    const ratio = row.via === 'raw' || !raw ? '' : (row.opsPerSec / raw.opsPerSec).toFixed(2);
    return { ...row, ratio };
  });
}

type Measured = Awaited<ReturnType<typeof measure>>;

/** Two half-runs as one: total throughput, and the mean of their latency percentiles. */
function combine(a: Measured, b: Measured): Measured {
  const secs = a.ops / a.opsPerSec + b.ops / b.opsPerSec;
  return {
    ops: a.ops + b.ops,
    opsPerSec: Math.round((a.ops + b.ops) / secs),
    p50Ms: round((a.p50Ms + b.p50Ms) / 2),
    p99Ms: round((a.p99Ms + b.p99Ms) / 2),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** A pool of keys with per-key state; each use takes a free key, so no two callers share one. */
class KeyPool<S> {
  readonly #free: string[];
  readonly #state = new Map<string, S>();
  readonly #init: (key: string) => Promise<S>;

  constructor(keys: string[], init: (key: string) => Promise<S>) {
    this.#free = [...keys];
    this.#init = init;
  }

  async use(step: (key: string, state: S) => Promise<S>): Promise<void> {
    const key = this.#free.pop();
    if (key === undefined) throw new Error('more callers than keys');
    try {
      const state = this.#state.has(key) ? (this.#state.get(key) as S) : await this.#init(key);
      this.#state.set(key, await step(key, state));
    } finally {
      this.#free.push(key);
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      endpoint: { type: 'string', default: '127.0.0.1:8500' },
      'duration-ms': { type: 'string', default: String(DEFAULT_DURATION_MS) },
    },
  });
  const rows = withRatios(await benchConsul(values.endpoint, Number(values['duration-ms'])));
  printTable(
    `Consul at ${values.endpoint}: kvkit vs raw consul client (ratio = kvkit / raw ops/s)`,
    rows.map((row) => ({ ...row })),
  );
  console.log(`\nwrote ${writeResults('consul', rows)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
