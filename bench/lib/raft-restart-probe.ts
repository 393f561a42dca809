/**
 * A one-node data dir of N keys, made once and reopened as often as wanted, to look at
 * restart alone (`bench/raft.ts`'s memory mode runs `open` after its load, in a new process,
 * as a real restart is):
 *
 *   npx tsx bench/lib/raft-restart-probe.ts make DIR [KEYS=1000000]   # loads, waits for the snapshot, closes
 *   npx tsx bench/lib/raft-restart-probe.ts open DIR [KEYS=1000000]   # starts, reads the last key, closes
 *
 * The node's peer address is kept in `DIR.peer`. `open` prints one JSON line: time to open
 * (the snapshot restored, the log replayed), to the first read as leader, CPU time, RSS. The
 * runtime's modules are loaded before the clock starts (compiled, they load in milliseconds;
 * under tsx they are transpiled first). It asserts nothing about time.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { freeLoopbackPorts, startRaftNode } from '../../src/raft-node/index.js';

const VALUE = Buffer.alloc(100, 'v');
const keyName = (i: number) => `mem/${String(i).padStart(8, '0')}`;

async function waitFor(cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function snapshotIndexes(dir: string): number[] {
  return readdirSync(dir)
    .map((name) => /^snap-([0-9a-f]{16})\.snap$/.exec(name))
    .filter((m) => m !== null)
    .map((m) => Number.parseInt((m as RegExpExecArray)[1], 16));
}

async function open(dir: string) {
  // The node keeps its peer address: the same port each time (a free one is asked for once, in make).
  const peer = readFileSync(`${dir}.peer`, 'utf8').trim();
  return startRaftNode({
    id: 'm1',
    dataDir: dir,
    peerAddr: peer,
    initialCluster: `m1=${peer}`,
    logger: () => {},
  });
}

/** The peer address a data dir made here is opened with. */
export function writePeerFile(dir: string, peerAddr: string): void {
  writeFileSync(`${dir}.peer`, peerAddr);
}

async function make(dir: string, keys: number): Promise<void> {
  const [port] = await freeLoopbackPorts(1);
  writePeerFile(dir, `127.0.0.1:${port}`);
  const node = await open(dir);
  await waitFor(() => node.status().role === 'leader');
  let next = 0;
  await Promise.all(
    Array.from({ length: 512 }, async () => {
      while (next < keys) await node.store.put(keyName(next++), VALUE);
    }),
  );
  await waitFor(() => snapshotIndexes(dir).some((i) => i > keys - 100_000), 600_000);
  await node.close();
}

export async function reopen(dir: string, keys: number): Promise<void> {
  await import('../../src/raft-node/node.js');
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const node = await open(dir);
  const openedMs = performance.now() - t0;
  const openCpu = process.cpuUsage(cpu);
  await waitFor(() => node.status().role === 'leader');
  const pair = await node.store.get(keyName(keys - 1));
  const restartMs = performance.now() - t0;
  if (pair?.value.byteLength !== 100) throw new Error('restart lost data');
  const rss = process.memoryUsage().rss;
  const rssMiB = Math.round(rss / 2 ** 20);
  await node.close();
  process.stdout.write(
    `${JSON.stringify({
      keys,
      openedMs: Math.round(openedMs),
      openCpuMs: Math.round((openCpu.user + openCpu.system) / 1000),
      restartMs: Math.round(restartMs),
      rssMiB,
      rss,
      snapshots: snapshotIndexes(dir),
    })}\n`,
  );
}

if (process.argv[1] === import.meta.filename) {
  const [mode, dir, n] = process.argv.slice(2);
  const keys = Number(n ?? 1_000_000);
  if (!dir || (mode !== 'make' && mode !== 'open')) {
    console.error('usage: raft-restart-probe.ts make|open DIR [KEYS]');
    process.exit(2);
  }
  await (mode === 'make' ? make(dir, keys) : reopen(dir, keys));
}
