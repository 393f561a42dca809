/**
 * The embedded Raft store against a real etcd cluster, on this machine, in one run:
 *
 *   npx tsx bench/raft.ts [--duration-ms 3000] [--keys 1000000] [--skip embedded,client,etcd,memory]
 *
 * - raft-embedded: callers inside node n1 (the leader), n2 and n3 in their own processes;
 * - raft://: three node processes, the client in this process;
 * - etcd: three etcd members (/usr/bin/etcd, default fsync durability) through kvkit's etcd
 *   backend.
 * Put and linearizable get at 1, 16 and 256 concurrent callers (p50/p99), the ratios to
 * etcd, watch delivery latency, and memory and restart time with 1,000,000 keys of 100 bytes
 * (one node in a child process). Results: a table here and JSON under bench/results/.
 *
 * `bench/raft.ts node ...` and `bench/raft.ts memory DIR N` are the child-process modes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import '../src/backends/index.js';
import type { CliContext } from '../src/cli/context.js';
import { run as runRaftCli } from '../src/cli/raft.js';
import { freeLoopbackPorts, startRaftNode } from '../src/raft-node/index.js';
import { createStore } from '../src/store/create-store.js';
import type { Store } from '../src/store/types.js';
import { type BenchRow, measure, percentile, printTable, writeResults } from './lib/measure.js';
import { writePeerFile } from './lib/raft-restart-probe.js';

const SELF = import.meta.filename;
const RESTART_PROBE = join(import.meta.dirname, 'lib', 'raft-restart-probe.ts');
const CONCURRENCIES = [1, 16, 256];
const VALUE = Buffer.alloc(100, 'v');
const GET_KEYS = 1000;

// ---------------------------------------------------------------------------------------
// Child-process modes
// ---------------------------------------------------------------------------------------

async function nodeMode(argv: string[]): Promise<void> {
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  const ctx: CliContext = {
    openStore: () => Promise.reject(new Error('no store in node mode')),
    stdout: (t) => process.stdout.write(`${t}\n`),
    stderr: (t) => process.stderr.write(`${t}\n`),
    signal: stop.signal,
  };
  process.exitCode = await runRaftCli(argv, ctx);
}

/**
 * The longest time the event loop was kept from running a 5 ms timer (GC pauses included):
 * what a heartbeat or a vote would have waited for.
 */
function blockMonitor(): { maxMs: () => number; stop: () => void } {
  let last = performance.now();
  let max = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last - 5);
    last = now;
  }, 5);
  return { maxMs: () => Math.round(max * 10) / 10, stop: () => clearInterval(timer) };
}

/**
 * Loads N keys into a one-node cluster with the default snapshot interval (so it takes a
 * snapshot every 100,000 entries, the last of a million keys), watching the event loop;
 * reports RSS, closes, restarts and times it.
 */
async function memoryMode(dir: string, keys: number): Promise<void> {
  const [peer] = await freeLoopbackPorts(1);
  const opts = {
    id: 'm1',
    dataDir: dir,
    peerAddr: `127.0.0.1:${peer}`,
    initialCluster: `m1=127.0.0.1:${peer}`,
    logger: () => {},
  };
  const node = await startRaftNode(opts);
  await waitLeader(() => node.status().role === 'leader');
  const loadStart = performance.now();
  const monitor = blockMonitor();
  let next = 0;
  await Promise.all(
    Array.from({ length: 512 }, async () => {
      while (next < keys) {
        const i = next++;
        await node.store.put(`mem/${String(i).padStart(8, '0')}`, VALUE);
      }
    }),
  );
  const loadMs = performance.now() - loadStart;
  // The snapshot due at the last key is written in the background: wait for it, still watching.
  const snapshotsDone = performance.now();
  while (performance.now() - snapshotsDone < 60_000 && !snapshotAt(dir, keys))
    await new Promise((r) => setTimeout(r, 50));
  const maxBlockMs = monitor.maxMs();
  monitor.stop();
  const rssLoaded = process.memoryUsage().rss;
  await node.close();
  // The restart is a new process, as a real one is (and nothing of the first node's heap
  // is counted): bench/lib/raft-restart-probe.ts opens the data dir, reads the last key as
  // leader and reports.
  writePeerFile(dir, opts.peerAddr);
  const reopened = JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', RESTART_PROBE, 'open', dir, String(keys)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 300_000,
    })
      .trim()
      .split('\n')
      .at(-1) as string,
  ) as { openedMs: number; restartMs: number; rss: number };
  const { openedMs, restartMs, rss: rssRestarted } = reopened;
  process.stdout.write(
    `${JSON.stringify({ keys, loadMs, maxBlockMs, rssLoaded, restartMs, openedMs, rssRestarted })}\n`,
  );
}

/** Whether the node took the snapshot due after `keys` puts (every 100,000 entries by default). */
function snapshotAt(dir: string, keys: number): boolean {
  if (keys < 100_000) return true;
  return readdirSync(dir).some((name) => {
    const m = /^snap-([0-9a-f]{16})\.snap$/.exec(name);
    return m !== null && Number.parseInt(m[1], 16) > keys - 100_000;
  });
}

// ---------------------------------------------------------------------------------------
// The floor: what one replicated write cannot beat on this machine
// ---------------------------------------------------------------------------------------

/** Child mode `sync FILE MS`: small write + fdatasync in a loop for MS ms; prints the latencies' median (ms). */
function syncMode(file: string, durationMs: number): void {
  const fd = openSync(file, 'w', 0o600);
  const block = Buffer.alloc(128, 1);
  const samples: number[] = [];
  const end = performance.now() + durationMs;
  let at = 0;
  while (performance.now() < end) {
    const t0 = performance.now();
    writeSync(fd, block, 0, block.byteLength, at);
    fdatasyncSync(fd);
    samples.push(performance.now() - t0);
    at += block.byteLength;
  }
  closeSync(fd);
  samples.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ p50Ms: percentile(samples, 0.5), n: samples.length })}\n`);
}

/** Child mode `echo`: a TCP echo server on loopback; prints its port. */
function echoMode(): void {
  const server = createNetServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (d) => socket.write(d));
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${(server.address() as { port: number }).port}\n`);
  });
}

function childOutput(args: string[]): { child: ChildProcess; firstLine: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const firstLine = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`${args[0]} child exited with ${code}`)));
  });
  firstLine.catch(() => {});
  return { child, firstLine };
}

interface Floor {
  syncMs: number;
  rttMs: number;
  putsPerSec: number;
}

/**
 * One small write + fdatasync while two other processes do the same on this disk (the three
 * nodes share it), plus one loopback round trip: a replicated put at one caller waits for at
 * least a follower's sync and a round trip, so 1 ÷ (sync + RTT) bounds it.
 */
async function measureFloor(dir: string): Promise<Floor> {
  mkdirSync(dir, { recursive: true });
  const syncers = [0, 1, 2].map((i) => childOutput(['sync', join(dir, `sync-${i}`), '3000']));
  const medians = (await Promise.all(syncers.map((s) => s.firstLine))).map(
    (l) => JSON.parse(l).p50Ms as number,
  );
  const syncMs = medians.sort((a, b) => a - b)[1];
  const echo = childOutput(['echo']);
  const port = Number(await echo.firstLine);
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  const rtts: number[] = [];
  const ping = Buffer.alloc(64, 7);
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      let got = 0;
      const onData = (d: Buffer) => {
        got += d.byteLength;
        if (got >= ping.byteLength) {
          socket.off('data', onData);
          resolve();
        }
      };
      socket.on('data', onData);
      socket.write(ping);
    });
    if (i >= 100) rtts.push(performance.now() - t0);
  }
  socket.destroy();
  echo.child.kill('SIGKILL');
  rtts.sort((a, b) => a - b);
  const rttMs = percentile(rtts, 0.5);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { syncMs: round(syncMs), rttMs: round(rttMs), putsPerSec: Math.round(1000 / (syncMs + rttMs)) };
}

// ---------------------------------------------------------------------------------------
// Processes and ports
// ---------------------------------------------------------------------------------------

const children: ChildProcess[] = [];

function spawnChild(command: string, args: string[], readyLine?: RegExp): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stdout?.resume();
  if (!readyLine) {
    child.stderr?.resume();
    return Promise.resolve(child);
  }
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      if (readyLine.test(buffered)) {
        buffered = '';
        resolve(child);
      } else if (buffered.length > 100_000) {
        buffered = buffered.slice(-10_000);
      }
    });
    child.on('exit', (code) =>
      reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${buffered}`)),
    );
  });
}

function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

async function waitLeader(isLeader: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!isLeader()) {
    if (Date.now() > deadline) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface RaftAddrs {
  peers: Record<string, string>;
  clients: Record<string, string>;
  initialCluster: string;
}

async function raftAddrs(ids: string[]): Promise<RaftAddrs> {
  const ports = await freeLoopbackPorts(ids.length * 2);
  const peers: Record<string, string> = {};
  const clients: Record<string, string> = {};
  ids.forEach((id, i) => {
    peers[id] = `127.0.0.1:${ports[2 * i]}`;
    clients[id] = `127.0.0.1:${ports[2 * i + 1]}`;
  });
  return { peers, clients, initialCluster: ids.map((id) => `${id}=${peers[id]}`).join(',') };
}

function startNodeProcess(dir: string, id: string, a: RaftAddrs): Promise<ChildProcess> {
  return spawnChild(
    process.execPath,
    [
      '--import',
      'tsx',
      SELF,
      'node',
      'start',
      '--id',
      id,
      '--data-dir',
      join(dir, id),
      '--peer-addr',
      a.peers[id],
      '--client-addr',
      a.clients[id],
      '--initial-cluster',
      a.initialCluster,
    ],
    /\] started: peer/,
  );
}

/**
 * The etcd binary: KVKIT_ETCD_BIN, /usr/bin/etcd, or the one inside the local image
 * KVKIT_ETCD_IMAGE (copied out with `docker create` + `docker cp`, so etcd runs as a plain
 * process on the same disk as the Raft nodes, not behind Docker's network and overlay fs).
 */
function etcdBinary(dir: string): string {
  if (process.env.KVKIT_ETCD_BIN) return process.env.KVKIT_ETCD_BIN;
  if (existsSync('/usr/bin/etcd')) return '/usr/bin/etcd';
  const image = process.env.KVKIT_ETCD_IMAGE;
  if (!image) throw new Error('no etcd: set KVKIT_ETCD_BIN or KVKIT_ETCD_IMAGE (or --skip etcd)');
  const container = execFileSync('docker', ['create', image], { encoding: 'utf8' }).trim();
  try {
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'etcd-bin');
    execFileSync('docker', ['cp', `${container}:/usr/local/bin/etcd`, out]);
    return out;
  } finally {
    execFileSync('docker', ['rm', container]);
  }
}

async function startEtcd(dir: string): Promise<string[]> {
  const bin = etcdBinary(dir);
  const ids = ['e1', 'e2', 'e3'];
  const ports = await freeLoopbackPorts(6);
  const peer = (i: number) => `http://127.0.0.1:${ports[2 * i]}`;
  const client = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const initial = ids.map((id, i) => `${id}=${peer(i)}`).join(',');
  await Promise.all(
    ids.map((id, i) =>
      spawnChild(bin, [
        '--name',
        id,
        '--data-dir',
        join(dir, id),
        '--listen-client-urls',
        client(i),
        '--advertise-client-urls',
        client(i),
        '--listen-peer-urls',
        peer(i),
        '--initial-advertise-peer-urls',
        peer(i),
        '--initial-cluster',
        initial,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        'kvkit-bench',
        '--log-level',
        'error',
      ]),
    ),
  );
  return ids.map((_, i) => `127.0.0.1:${ports[2 * i + 1]}`);
}

// ---------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------

async function retryUntilUp(f: () => Promise<unknown>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await f();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function benchStore(subject: string, store: Store, durationMs: number): Promise<BenchRow[]> {
  const run = `bench/${subject}/${Date.now().toString(36)}`;
  await retryUntilUp(() => store.put(`${run}/probe`, 'x'));
  await Promise.all(
    Array.from({ length: 64 }, async (_, w) => {
      for (let i = w; i < GET_KEYS; i += 64) await store.put(`${run}/get/${i}`, VALUE);
    }),
  );
  const rows: BenchRow[] = [];
  const ops: Record<string, (i: number) => Promise<unknown>> = {
    put: (i) => store.put(`${run}/put/${i % 10_000}`, VALUE),
    get: (i) => store.get(`${run}/get/${i % GET_KEYS}`),
  };
  for (const [op, f] of Object.entries(ops)) {
    for (const concurrency of CONCURRENCIES) {
      const result = await measure({ concurrency, durationMs }, f);
      rows.push({ subject, op, concurrency, via: 'kvkit', ...result });
      console.error(
        `[bench] ${subject} ${op} ×${concurrency}: ${result.opsPerSec} ops/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms`,
      );
    }
  }
  return rows;
}

interface WatchRow {
  subject: string;
  updates: number;
  p50Ms: number;
  p99Ms: number;
}

/** Time from a put's start to its delivery by a watch (writer and watcher in this process). */
async function watchLatency(
  subject: string,
  writer: Store,
  watcher: Store,
  updates = 300,
): Promise<WatchRow> {
  const key = `bench/watch/${subject}/${Date.now().toString(36)}`;
  await writer.put(key, '0');
  const stop = new AbortController();
  const latencies: number[] = [];
  let delivered: (v: number) => void = () => {};
  const watching = (async () => {
    for await (const pair of watcher.watch(key, { signal: stop.signal })) {
      if (pair === null) continue;
      const sent = Number(new TextDecoder().decode(pair.value));
      if (sent > 0) {
        latencies.push(performance.now() - sent);
        delivered(sent);
      }
    }
  })().catch(() => {});
  await new Promise((r) => setTimeout(r, 200)); // the watch's initial state
  for (let i = 0; i < updates; i++) {
    const seen = new Promise<number>((resolve) => {
      delivered = resolve;
    });
    await writer.put(key, String(performance.now()));
    await Promise.race([seen, new Promise((r) => setTimeout(r, 2000))]);
  }
  stop.abort();
  await watching;
  latencies.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    subject,
    updates: latencies.length,
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-ms': { type: 'string', default: '3000' },
      keys: { type: 'string', default: '1000000' },
      skip: { type: 'string', default: '' },
    },
  });
  const durationMs = Number(values['duration-ms']);
  const skip = new Set(values.skip.split(',').filter(Boolean));
  const dir = mkdtempSync(join(tmpdir(), 'kvkit-bench-raft-'));
  process.once('SIGINT', () => {
    killChildren();
    process.exit(130);
  });
  const rows: BenchRow[] = [];
  const watches: WatchRow[] = [];
  let memory: Record<string, number> | null = null;
  let floor: Floor | null = null;
  try {
    floor = await measureFloor(join(dir, 'floor'));
    console.error(
      `[bench] floor: fdatasync ${floor.syncMs} ms (3 writers), loopback RTT ${floor.rttMs} ms → ${floor.putsPerSec} puts/s at 1 caller`,
    );
    // Embedded: n1 here, n2 and n3 in child processes; n1 must lead.
    if (!skip.has('embedded')) {
      const a = await raftAddrs(['n1', 'n2', 'n3']);
      await Promise.all(['n2', 'n3'].map((id) => startNodeProcess(join(dir, 'embedded'), id, a)));
      const n1 = await startRaftNode({
        id: 'n1',
        dataDir: join(dir, 'embedded', 'n1'),
        peerAddr: a.peers.n1,
        clientAddr: a.clients.n1,
        initialCluster: a.initialCluster,
        logger: () => {},
      });
      try {
        await waitLeader(() => n1.status().leader !== null);
        for (let i = 0; i < 50 && n1.status().role !== 'leader'; i++) {
          n1.transferLeadership('n1');
          await new Promise((r) => setTimeout(r, 200));
        }
        console.error(`[bench] raft-embedded: n1 is ${n1.status().role}`);
        rows.push(...(await benchStore('raft-embedded', n1.store, durationMs)));
        const watcher = n1.openStore();
        watches.push(await watchLatency('raft-embedded', n1.store, watcher));
        await watcher.close();
      } finally {
        await n1.close();
        killChildren();
      }
    }
    // raft://: three node processes.
    if (!skip.has('client')) {
      const a = await raftAddrs(['n1', 'n2', 'n3']);
      await Promise.all(['n1', 'n2', 'n3'].map((id) => startNodeProcess(join(dir, 'client'), id, a)));
      const url = `raft://${Object.values(a.clients).join(',')}`;
      const client = await createStore(url);
      const watcher = await createStore(url);
      try {
        rows.push(...(await benchStore('raft://', client, durationMs)));
        watches.push(await watchLatency('raft://', client, watcher));
      } finally {
        await client.close();
        await watcher.close();
        killChildren();
      }
    }
    if (!skip.has('etcd')) {
      const endpoints = await startEtcd(join(dir, 'etcd'));
      const client = await createStore({ backend: 'etcd', endpoints });
      const watcher = await createStore({ backend: 'etcd', endpoints });
      try {
        rows.push(...(await benchStore('etcd', client, durationMs)));
        watches.push(await watchLatency('etcd', client, watcher));
      } finally {
        await client.close();
        await watcher.close();
        killChildren();
      }
    }
    if (!skip.has('memory')) {
      const keys = Number(values.keys);
      console.error(`[bench] memory: loading ${keys} keys into one node (child process)`);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', SELF, 'memory', join(dir, 'memory'), String(keys)],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      let out = '';
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
      });
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      if (code !== 0) throw new Error(`memory child exited with ${code}`);
      memory = JSON.parse(out.trim().split('\n').at(-1) as string);
    }
  } finally {
    killChildren();
    rmSync(dir, { recursive: true, force: true });
  }

  printTable(
    'raft store vs etcd (3 members each; put = durable write, get = linearizable read)',
    rows.map((r) => ({
      subject: r.subject,
      op: r.op,
      callers: r.concurrency,
      'ops/s': r.opsPerSec,
      'p50 ms': r.p50Ms,
      'p99 ms': r.p99Ms,
    })),
  );
  const ratios: Record<string, unknown>[] = [];
  /** Goals of issue 15: embedded put ≥ 2× etcd at 1 caller, ≥ 5× at 16 and 256; raft:// put ≥ 1.5× at 16 and 256. */
  const goalFor = (r: BenchRow): number | null => {
    if (r.op !== 'put') return r.subject === 'raft-embedded' ? 5 : r.concurrency >= 16 ? 1 : null;
    if (r.subject === 'raft-embedded') return r.concurrency === 1 ? 2 : 5;
    return r.concurrency >= 16 ? 1.5 : null;
  };
  for (const r of rows.filter((x) => x.subject !== 'etcd')) {
    const e = rows.find((x) => x.subject === 'etcd' && x.op === r.op && x.concurrency === r.concurrency);
    if (!e) continue;
    const goal = goalFor(r);
    const ratio = r.opsPerSec / e.opsPerSec;
    ratios.push({
      subject: r.subject,
      op: r.op,
      callers: r.concurrency,
      'ops/s': r.opsPerSec,
      'etcd ops/s': e.opsPerSec,
      '× etcd': ratio.toFixed(2),
      goal: goal === null ? '-' : `≥ ${goal}×`,
      met: goal === null ? '-' : ratio >= goal ? 'yes' : 'NO',
    });
  }
  printTable('ratios to etcd (throughput)', ratios);
  const embedded1 = rows.find((r) => r.subject === 'raft-embedded' && r.op === 'put' && r.concurrency === 1);
  const floorRatio = floor && embedded1 ? embedded1.opsPerSec / floor.putsPerSec : null;
  if (floor) {
    printTable('the floor: 1 ÷ (small write + fdatasync with 3 writers + loopback RTT)', [
      {
        'fdatasync ms': floor.syncMs,
        'RTT ms': floor.rttMs,
        'floor puts/s': floor.putsPerSec,
        'embedded put ×1': embedded1?.opsPerSec ?? '-',
        '× floor': floorRatio === null ? '-' : floorRatio.toFixed(2),
        goal: '≥ 0.7×',
        met: floorRatio === null ? '-' : floorRatio >= 0.7 ? 'yes' : 'NO',
      },
    ]);
  }
  printTable(
    'watch delivery latency (put start → watch delivery; goal p99 < 5 ms embedded)',
    watches.map((w) => ({ ...w })),
  );
  if (memory) {
    printTable(
      `${memory.keys.toLocaleString('en')} keys of 100 bytes, one node, default snapshots (goals: longest event-loop block < 50 ms, RSS ≤ 600 MiB, restart ≤ 3 s)`,
      [
        {
          keys: memory.keys,
          'load s': (memory.loadMs / 1000).toFixed(1),
          'load ops/s': Math.round(memory.keys / (memory.loadMs / 1000)),
          'longest block ms': memory.maxBlockMs,
          'RSS MiB': Math.round(memory.rssLoaded / 2 ** 20),
          'restart s': (memory.restartMs / 1000).toFixed(2),
          'opened s': (memory.openedMs / 1000).toFixed(2),
          'RSS after restart MiB': Math.round(memory.rssRestarted / 2 ** 20),
        },
      ],
    );
  }
  const load = loadavg().map((x) => x.toFixed(2));
  console.log(`\nload average at the end: ${load.join(' ')} (2 cores; ratios are side by side in this run)`);
  console.log(
    `\nresults: ${writeResults('raft', { rows, ratios, watches, memory, floor, floorRatio, loadAverage: loadavg() })}`,
  );
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'node') await nodeMode(rest);
else if (mode === 'memory') await memoryMode(rest[0], Number(rest[1]));
else if (mode === 'sync') syncMode(rest[0], Number(rest[1]));
else if (mode === 'echo') echoMode();
else await main();
