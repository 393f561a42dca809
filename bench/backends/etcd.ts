/**
 * put / get / atomicPut on etcd through kvkit and through the raw etcd3 client doing the same
 * operation on the same key pattern, side by side in one run.
 *
 *   npx tsx bench/backends/etcd.ts --endpoint 127.0.0.1:2379 [--duration-ms 1000] [--rounds 2]
 *
 * Each pair is measured in rounds of raw, kvkit, kvkit, raw, and each side's runs are pooled
 * (total operations over total time), so neither side is favoured by running first or by a
 * server that slows down as its database grows, and a passing hiccup is shared out.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { openEtcdStore } from '../../src/backends/etcd/index.js';
import type { Store } from '../../src/store/types.js';
import { type BenchRow, measure, printTable, ratioTable, writeResults } from '../lib/measure.js';

const CONCURRENCIES = [1, 64];
const VALUE = Buffer.alloc(128, 'v');
/** Keys the put and get loops cycle through. */
const KEYSPACE = 1000;

/**
 * A row with the client CPU each operation cost (user + system, this process). On a loaded
 * machine throughput swings with the neighbours; CPU per operation shows kvkit's own overhead.
 */
export interface EtcdBenchRow extends BenchRow {
  cpuUsPerOp: number;
}

interface Sides {
  kvkit: (i: number) => Promise<unknown>;
  raw: (i: number) => Promise<unknown>;
}

export async function benchEtcd(
  endpoint: string,
  opts: { durationMs?: number; rounds?: number } = {},
): Promise<EtcdBenchRow[]> {
  const durationMs = opts.durationMs ?? 1000;
  const rounds = opts.rounds ?? 2;
  const run = `bench/${Date.now().toString(36)}`;
  const store: Store = await openEtcdStore({ backend: 'etcd', endpoints: [endpoint] });
  const raw = new Etcd3({ hosts: `http://${endpoint}` });
  try {
    await Promise.all(
      Array.from({ length: KEYSPACE }, (_, i) => raw.put(`${run}/get/${i}`).value(VALUE).exec()),
    );
    const ops: Record<string, Sides> = {
      put: {
        kvkit: (i) => store.put(`${run}/put/${i % KEYSPACE}`, VALUE),
        raw: (i) =>
          raw
            .put(`${run}/put/${i % KEYSPACE}`)
            .value(VALUE)
            .exec(),
      },
      get: {
        kvkit: (i) => store.get(`${run}/get/${i % KEYSPACE}`),
        raw: (i) => raw.get(`${run}/get/${i % KEYSPACE}`).buffer(),
      },
      // Create-if-absent on a fresh key each time: the compare-and-swap path without conflicts.
      atomicPut: {
        kvkit: (i) => store.atomicPut(`${run}/cas/kvkit/${i}`, VALUE, null),
        raw: (i) =>
          raw
            .if(`${run}/cas/raw/${i}`, 'Create', '==', 0)
            .then(raw.put(`${run}/cas/raw/${i}`).value(VALUE))
            .commit()
            .then((res) => {
              if (!res.succeeded) throw new Error('raw atomicPut found the key present');
            }),
      },
    };
    const rows: EtcdBenchRow[] = [];
    let runs = 0;
    for (const [op, sides] of Object.entries(ops)) {
      for (const concurrency of CONCURRENCIES) {
        // Every run numbers its operations apart, so create-if-absent keys never repeat.
        const once = async (via: 'kvkit' | 'raw'): Promise<Measured> => {
          const base = ++runs * 1e9;
          const cpu = process.cpuUsage();
          const result = await measure({ concurrency, durationMs }, (i) => sides[via](base + i));
          const used = process.cpuUsage(cpu);
          return { ...result, cpuUs: used.user + used.system };
        };
        const runsOf: Record<'raw' | 'kvkit', Measured[]> = { raw: [], kvkit: [] };
        for (let round = 0; round < rounds; round++) {
          for (const via of ['raw', 'kvkit', 'kvkit', 'raw'] as const) runsOf[via].push(await once(via));
        }
        rows.push(pool('raw', op, concurrency, runsOf.raw), pool('kvkit', op, concurrency, runsOf.kvkit));
      }
    }
    return rows;
  } finally {
    await raw
      .delete()
      .prefix(`${run}/`)
      .exec()
      .catch(() => {});
    raw.close();
    await store.close();
  }
}

/** One run; its CPU includes the warm-up operations measure() does not count (a few). */
type Measured = Awaited<ReturnType<typeof measure>> & { cpuUs: number };

/** One side's runs as one row: throughput over all of them, latency percentiles averaged. */
function pool(via: string, op: string, concurrency: number, runs: Measured[]): EtcdBenchRow {
  const ops = runs.reduce((sum, r) => sum + r.ops, 0);
  const seconds = runs.reduce((sum, r) => sum + r.ops / r.opsPerSec, 0);
  const mean = (pick: (r: Measured) => number) =>
    Math.round((runs.reduce((sum, r) => sum + pick(r), 0) / runs.length) * 1000) / 1000;
  return {
    subject: 'etcd',
    op,
    concurrency,
    via,
    ops,
    opsPerSec: Math.round(ops / seconds),
    p50Ms: mean((r) => r.p50Ms),
    p99Ms: mean((r) => r.p99Ms),
    cpuUsPerOp: Math.round(runs.reduce((sum, r) => sum + r.cpuUs, 0) / ops),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      endpoint: { type: 'string', default: '127.0.0.1:2379' },
      'duration-ms': { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const endpoint = values.endpoint ?? '127.0.0.1:2379';
  const rows = await benchEtcd(endpoint, {
    durationMs: Number(values['duration-ms']),
    rounds: Number(values.rounds),
  });
  printTable(`etcd at ${endpoint}: kvkit vs raw etcd3 (goal: ratio >= 0.95)`, ratioTable(rows));
  const file = writeResults('etcd', { endpoint, rows, ratios: ratioTable(rows) });
  console.log(`\nresults: ${file}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
