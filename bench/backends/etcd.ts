/**
 * put / get / atomicPut on etcd through kvkit and through the raw etcd3 client doing the same
 * operation on the same key pattern, side by side in one run.
 *
 *   npx tsx bench/backends/etcd.ts --endpoint 127.0.0.1:2379 [--duration-ms 3000] [--rounds 3]
 *
 * Each pair is measured in interleaved rounds (bench/lib/interleaved.ts): raw, kvkit, kvkit,
 * raw, ..., each side's passes pooled, so neither side is favoured by running first or by a
 * server that slows down as its database grows, and a passing hiccup is shared out.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { openEtcdStore } from '../../src/backends/etcd/index.js';
import type { Store } from '../../src/store/types.js';
import { compareInterleaved, type InterleavedRow } from '../lib/interleaved.js';
import { printTable, ratioTable, writeResults } from '../lib/measure.js';

const CONCURRENCIES = [1, 64];
const VALUE = Buffer.alloc(128, 'v');
/** Keys the put and get loops cycle through. */
const KEYSPACE = 1000;

export async function benchEtcd(
  endpoint: string,
  opts: { durationMs?: number; rounds?: number } = {},
): Promise<InterleavedRow[]> {
  const durationMs = opts.durationMs ?? 3000;
  const run = `bench/${Date.now().toString(36)}`;
  const store: Store = await openEtcdStore({ backend: 'etcd', endpoints: [endpoint] });
  const raw = new Etcd3({ hosts: `http://${endpoint}` });
  try {
    await Promise.all(
      Array.from({ length: KEYSPACE }, (_, i) => raw.put(`${run}/get/${i}`).value(VALUE).exec()),
    );
    const ops: Record<string, Record<'kvkit' | 'raw', (i: number) => Promise<unknown>>> = {
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
    const rows: InterleavedRow[] = [];
    for (const [op, sides] of Object.entries(ops)) {
      for (const concurrency of CONCURRENCIES) {
        rows.push(
          ...(await compareInterleaved(
            { subject: 'etcd', op, concurrency, durationMs, rounds: opts.rounds },
            { raw: sides.raw, kvkit: sides.kvkit },
          )),
        );
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      endpoint: { type: 'string', default: '127.0.0.1:2379' },
      'duration-ms': { type: 'string', default: '3000' },
      rounds: { type: 'string', default: '3' },
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
