/**
 * put / get / atomicPut on Redis, side by side in one run, three ways:
 * - `kvkit`: through the Store;
 * - `raw`: the raw node-redis client sending the same commands kvkit sends (the put and create
 *   Lua scripts by SHA1, HMGET of value and rev): the ratio is kvkit's own cost (goal >= 0.95);
 * - `raw-plain`: the raw client doing what a Redis user without revisions would (SET, GET,
 *   SET NX): the ratio adds what the revisioned, atomic layout costs on the server (a Lua script
 *   per write).
 *
 *   npx tsx bench/backends/redis.ts [--endpoint 127.0.0.1:6379] [--duration-ms 3000]
 *
 * Without --endpoint it starts a redis-server process of its own on a loopback port.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient, RESP_TYPES } from '@redis/client';
import { REVISION_COUNTER } from '../../src/backends/redis/key-space.js';
import { CREATE, PUT } from '../../src/backends/redis/scripts.js';
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
/** Replies with bulk strings as Buffers (values are bytes), set once per client as kvkit does. */
const BUFFER_REPLIES = { [RESP_TYPES.BLOB_STRING]: Buffer };
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
  const raw = createClient({
    socket: { host, port },
    commandOptions: { timeout: 0, typeMapping: BUFFER_REPLIES },
  });
  raw.on('error', () => {});
  await raw.connect();
  const rows: InterleavedRow[] = [];
  try {
    const kvkitKey = (i: number) => `${run}/kvkit/${i % KEYSPACE}`;
    const rawKey = (i: number) => `${run}/raw/${i % KEYSPACE}`;
    const plainKey = (i: number) => `${run}/plain/${i % KEYSPACE}`;
    for (let i = 0; i < KEYSPACE; i++) {
      await store.put(kvkitKey(i), VALUE);
      await store.put(rawKey(i), VALUE); // the raw side reads and rewrites kvkit's layout
      await raw.set(plainKey(i), VALUE);
    }
    const script = (sha1: string, key: string) => [
      'EVALSHA',
      sha1,
      '2',
      key,
      REVISION_COUNTER,
      '0',
      VALUE,
      '0',
    ];
    for (const concurrency of CONCURRENCIES) {
      const at = { subject: SUBJECT, concurrency, durationMs };
      rows.push(
        ...(await compareInterleaved(
          { ...at, op: 'put' },
          {
            kvkit: (i) => store.put(kvkitKey(i), VALUE),
            raw: (i) => raw.sendCommand(script(PUT.sha1, rawKey(i))),
            'raw-plain': (i) => raw.set(plainKey(i), VALUE),
          },
        )),
        ...(await compareInterleaved(
          { ...at, op: 'get' },
          {
            kvkit: (i) => store.get(kvkitKey(i)),
            raw: (i) => raw.sendCommand(['HMGET', rawKey(i), 'value', 'rev']),
            'raw-plain': (i) => raw.get(plainKey(i)),
          },
        )),
        // Create-if-absent on a fresh key each time: the compare-and-swap path without conflicts.
        ...(await compareInterleaved(
          { ...at, op: 'atomicPut' },
          {
            kvkit: (i) => store.atomicPut(`${run}/cas/kvkit/${i}`, VALUE, null),
            raw: async (i) => {
              if (Number(await raw.sendCommand(script(CREATE.sha1, `${run}/cas/raw/${i}`))) <= 0) {
                throw new Error('raw atomicPut found the key present');
              }
            },
            'raw-plain': async (i) => {
              if ((await raw.set(`${run}/cas/plain/${i}`, VALUE, { condition: 'NX' })) === null) {
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
    printTable(
      `Redis at ${endpoint}: kvkit vs raw node-redis sending the same commands (goal >= 0.95)`,
      table,
    );
    printTable(
      'kvkit vs raw node-redis doing SET / GET / SET NX (no revisions)',
      ratioTable(rows, 'raw-plain'),
    );
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
