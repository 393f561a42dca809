// `npm run bench:backends`: every backend through kvkit and through its raw client, side by side
// in interleaved rounds (bench/lib/interleaved.ts), on real servers this script starts in Docker
// (see docs/integration.md for the images). `--only etcd,consul` picks some; `--duration-ms`
// sets each variant's measuring time per operation and concurrency (default 3000).
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { requireDocker, type ServerKind, startServer } from '../test/integration/servers.js';
import { benchConsul } from './backends/consul.js';
import { benchEtcd } from './backends/etcd.js';
import { benchRedis } from './backends/redis.js';
import { benchZookeeper } from './backends/zookeeper.js';
import { type BenchRow, printTable, ratioTable, writeResults } from './lib/measure.js';

/** One line per backend: its server kind and its bench (a new backend adds one line here). */
const benches: Partial<Record<ServerKind, (endpoint: string, durationMs: number) => Promise<BenchRow[]>>> = {
  etcd: (endpoint, durationMs) => benchEtcd(endpoint, { durationMs }),
  consul: (endpoint, durationMs) => benchConsul(endpoint, durationMs),
  zookeeper: (endpoint, durationMs) => benchZookeeper(endpoint, durationMs),
  redis: (endpoint, durationMs) => benchRedis(endpoint, durationMs),
};

const { values } = parseArgs({
  options: { only: { type: 'string' }, 'duration-ms': { type: 'string', default: '3000' } },
});
const kinds = (values.only?.split(',') ?? Object.keys(benches)) as ServerKind[];
const durationMs = Number(values['duration-ms']);

/** The machine's load while measuring, to read the numbers against. */
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

await requireDocker();
const rows: BenchRow[] = [];
const loadBefore = load();
for (const kind of kinds) {
  const bench = benches[kind];
  if (!bench) throw new Error(`no backend benchmark for ${kind} (have: ${Object.keys(benches).join(', ')})`);
  const server = await startServer(kind);
  try {
    console.error(`[bench] ${kind} at ${server.endpoint} (load average ${load()})`);
    rows.push(...(await bench(server.endpoint, durationMs)));
  } finally {
    await server.close();
  }
}
const loadAfter = load();
const table = ratioTable(rows);
printTable('kvkit vs raw client (ratio = kvkit ops/s ÷ raw ops/s; goal ≥ 0.95)', table);
printTable(
  'client CPU per operation (µs, this process)',
  rows.flatMap((r) =>
    'cpuUsPerOp' in r
      ? [{ subject: r.subject, op: r.op, concurrency: r.concurrency, via: r.via, cpuUsPerOp: r.cpuUsPerOp }]
      : [],
  ),
);
console.log(`\nload average (1, 5, 15 min): ${loadBefore} before, ${loadAfter} after`);
console.log(`results: ${writeResults('backends', { loadBefore, loadAfter, durationMs, rows, table })}`);
