/**
 * Measures the integration harness: how long startServer(), restart() and close() take per kind.
 * Usage: npx tsx scripts/time-servers.ts [rounds=3] [etcd consul zookeeper redis]
 * (source the env file written by scripts/ci-integration-setup.sh first to use the local images)
 */
import { type ServerKind, startServer } from '../test/integration/servers.js';

const KINDS: ServerKind[] = ['etcd', 'consul', 'zookeeper', 'redis'];

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, performance.now() - t0];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const args = process.argv.slice(2);
const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 3);
const kinds = KINDS.filter(
  (k) => args.length === 0 || args.includes(k) || args.every((a) => /^\d+$/.test(a)),
);

console.log(
  `kind        image                          start ms (median)  restart ms  close ms   rounds=${rounds}`,
);
for (const kind of kinds) {
  const starts: number[] = [];
  const restarts: number[] = [];
  const closes: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const [server, startMs] = await timed(() => startServer(kind));
    try {
      starts.push(startMs);
      restarts.push((await timed(() => server.restart()))[1]);
    } finally {
      closes.push((await timed(() => server.close()))[1]);
    }
  }
  const image = process.env[`KVKIT_${kind.toUpperCase()}_IMAGE`] ?? '(official default)';
  console.log(
    `${kind.padEnd(11)} ${image.padEnd(30)} ${median(starts).toFixed(0).padStart(17)}  ` +
      `${median(restarts).toFixed(0).padStart(10)}  ${median(closes).toFixed(0).padStart(8)}`,
  );
}
