// `npm run bench`: every backend through kvkit and through its raw client, side by side in one
// run, on real servers this script starts in Docker (see docs/integration.md for the images).
import { parseArgs } from 'node:util';
import { requireDocker, type ServerKind, startServer } from '../test/integration/servers.js';
import { benchConsul } from './backends/consul.js';
import { benchEtcd } from './backends/etcd.js';
import { benchRedis } from './backends/redis.js';
import { benchZookeeper } from './backends/zookeeper.js';
import { type BenchRow, printTable, ratioTable, writeResults } from './lib/measure.js';

const benches: Partial<Record<ServerKind, (endpoint: string) => Promise<BenchRow[]>>> = {
  etcd: (endpoint) => benchEtcd(endpoint),
  consul: (endpoint) => benchConsul(endpoint),
  zookeeper: (endpoint) => benchZookeeper(endpoint),
  redis: (endpoint) => benchRedis(endpoint),
};

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const kinds = (values.only?.split(',') ?? Object.keys(benches)) as ServerKind[];

await requireDocker();
const rows: BenchRow[] = [];
for (const kind of kinds) {
  const bench = benches[kind];
  if (!bench) throw new Error(`no backend benchmark for ${kind} (have: ${Object.keys(benches).join(', ')})`);
  const server = await startServer(kind);
  try {
    console.error(`[bench] ${kind} at ${server.endpoint}`);
    rows.push(...(await bench(server.endpoint)));
  } finally {
    await server.close();
  }
}
const table = ratioTable(rows);
printTable('kvkit vs raw client (ratio = kvkit ops/s ÷ raw ops/s; goal ≥ 0.95)', table);
console.log(`\nresults: ${writeResults('backends', { rows, table })}`);
