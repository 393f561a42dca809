/**
 * put / get / atomicPut on Redis through kvkit and through the raw node-redis client doing the
 * same operation the way a Redis user would (SET, GET, SET NX), side by side in one run; and,
 * for reference, the raw client sending what kvkit sends for a put (the same Lua script), which
 * shows kvkit's own client-side cost apart from the extra work a revisioned write does on the server.
 *
 *   npx tsx bench/backends/redis.ts [--endpoint 127.0.0.1:6379] [--duration-ms 3000]
 *
 * Without --endpoint it starts a redis-server process of its own on a loopback port.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient } from '@redis/client';
import { REVISION_COUNTER } from '../../src/backends/redis/key-space.js';
import { PUT } from '../../src/backends/redis/scripts.js';
import { createStore } from '../../src/index.js';
import { parseEndpoint } from '../../src/store/endpoints.js';
import { startRedisServer } from '../../test/backends/redis-server.js';
import { compareInterleaved, type InterleavedRow } from '../lib/interleaved.js';
import { printTable, ratioTable, writeResults } from '../lib/measure.js';

const SUBJECT = 'redis';
const CONCURRENCIES = [1, 64];
const VALUE = Buffer.alloc(128, 'v');
/** Keys the put and get loops cycle through. */
const KEYSPACE = 1000;
/** Measuring time per op, concurrency and side (ms). */
const DEFAULT_DURATION_MS = 3000;

export async function benchRedis(
  endpoint: string,
  durationMs = DEFAULT_DURATION_MS,
): Promise<InterleavedRow[]> {
  const run = `bench/${Date.now().toString(36)}`;
  const store = await createStore(`redis://${endpoint}`);
  const { host, port } = parseEndpoint(endpoint, 6379);
  // The raw client at its fastest: node-redis's default per-command timeout costs an
  // AbortSignal.timeout per call (kvkit turns it off and keeps its own deadline).
  const raw = createClient({ socket: { host, port }, commandOptions: { timeout: 0 } });
  raw.on('error', () => {});
  await raw.connect();
  const rows: InterleavedRow[] = [];
  try {
    const kvkitKey = (i: number) => `${run}/kvkit/${i % KEYSPACE}`;
    const rawKey = (i: number) => `${run}/raw/${i % KEYSPACE}`;
    for (let i = 0; i < KEYSPACE; i++) {
      await store.put(kvkitKey(i), VALUE);
      await raw.set(rawKey(i), VALUE);
    }
    for (const concurrency of CONCURRENCIES) {
      const at = { subject: SUBJECT, concurrency, durationMs };
      rows.push(
        ...(await compareInterleaved(
          { ...at, op: 'put' },
          {
            kvkit: (i) => store.put(kvkitKey(i), VALUE),
            raw: (i) => raw.set(rawKey(i), VALUE),
            // What kvkit's put sends: its Lua script, by SHA1 (loaded by the warm-up puts above).
            'raw-script': (i) =>
              raw.sendCommand(['EVALSHA', PUT.sha1, '2', kvkitKey(i), REVISION_COUNTER, '0', VALUE, '0']),
          },
        )),
        ...(await compareInterleaved(
          { ...at, op: 'get' },
          {
            kvkit: (i) => store.get(kvkitKey(i)),
            raw: (i) => raw.get(rawKey(i)),
          },
        )),
        // Create-if-absent on a fresh key each time: the compare-and-swap path without conflicts.
        ...(await compareInterleaved(
          { ...at, op: 'atomicPut' },
          {
            kvkit: (i) => store.atomicPut(`${run}/cas/kvkit/${i}`, VALUE, null),
            raw: async (i) => {
              if ((await raw.set(`${run}/cas/raw/${i}`, VALUE, { condition: 'NX' })) === null) {
                throw new Error('raw atomicPut found the key present');
              }
            },
          },
        )),
      );
    }
  } finally {
    await store.deleteTree(run).catch(() => {});
    raw.destroy();
    await store.close();
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      endpoint: { type: 'string' },
      'duration-ms': { type: 'string', default: String(DEFAULT_DURATION_MS) },
    },
  });
  const server = values.endpoint === undefined ? await startRedisServer() : undefined;
  const endpoint = values.endpoint ?? (server?.endpoint as string);
  try {
    const rows = await benchRedis(endpoint, Number(values['duration-ms']));
    const table = ratioTable(rows);
    printTable(`Redis at ${endpoint}: kvkit vs raw node-redis (goal: ratio >= 0.95)`, table);
    printTable('kvkit put vs the raw client sending the same script', ratioTable(rows, 'raw-script'));
    printTable(
      'client CPU per operation (µs, this process)',
      rows.map(({ op, concurrency, via, cpuUsPerOp }) => ({ op, concurrency, via, cpuUsPerOp })),
    );
    console.log(`\nresults: ${writeResults('redis', { endpoint, rows, table })}`);
  } finally {
    await server?.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
