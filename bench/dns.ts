/**
 * DNS benchmark (`npm run bench:dns`), in one run on this machine:
 *
 * 1. Throughput: dnsperf (Debian dnsperf) against kvkit's DNS server and against dnsmasq serving
 *    the same names (10,000 services in vip mode → their VIPs; dnsmasq from an --addn-hosts file
 *    with the same TTL). Per round, each server's closed-loop rate, then a search for the highest
 *    offered rate (dnsperf -Q) it serves with 0 lost queries; the two servers' runs alternate step
 *    by step so a neighbour's load falls on both. Median over rounds, the ratio, latency.
 * 2. Freshness: the time from a task reaching `running` (the updateTaskState call starting) to
 *    its address in a DNS answer, polled over UDP, on the memory store and on an embedded
 *    3-node Raft cluster.
 *
 * The kvkit server runs twice: in this process alone, and with KVKIT_BENCH_DNS_PROCESSES processes
 * answering on one socket (`processes`; default one per core).
 *
 * Environment: KVKIT_BENCH_DNS_NAMES (10000), KVKIT_BENCH_DNS_ROUNDS (3), KVKIT_BENCH_DNS_SECONDS
 * (per run, 5), KVKIT_BENCH_DNS_STEPS (rate-search steps, 7), KVKIT_BENCH_DNS_TASKS (tasks timed per store, 300), KVKIT_BENCH_DNS_RAFT_SERVICES
 * (services around them on raft, 1000). Results: a table here and JSON under bench/results/.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import {
  createStore,
  type NetworkState,
  openNetworkState,
  type Store,
  startDnsServer,
  startLocalCluster,
} from '../src/index.js';
import { Dnsmasq } from './lib/dnsmasq.js';
import { percentile, printTable, writeResults } from './lib/measure.js';
import { childrenOf, cpuMsOf } from './lib/proc.js';

const run = promisify(execFile);
const NAMES = Number(process.env.KVKIT_BENCH_DNS_NAMES ?? 10_000);
const ROUNDS = Number(process.env.KVKIT_BENCH_DNS_ROUNDS ?? 3);
const SECONDS = Number(process.env.KVKIT_BENCH_DNS_SECONDS ?? 5);
/** Halvings of the rate interval per round (7: within 1% of the capacity estimate). */
const SEARCH_STEPS = Number(process.env.KVKIT_BENCH_DNS_STEPS ?? 7);
const TASKS = Number(process.env.KVKIT_BENCH_DNS_TASKS ?? 300);
const RAFT_SERVICES = Number(process.env.KVKIT_BENCH_DNS_RAFT_SERVICES ?? 1000);
const TTL_SECONDS = 600;
/** Processes of the multi-process kvkit server (one per core by default). */
const PROCESSES = Number(process.env.KVKIT_BENCH_DNS_PROCESSES ?? availableParallelism());

interface PerfRun {
  server: string;
  round: number;
  /** The offered rate (-Q), or null for a closed-loop run. */
  offeredQps: number | null;
  qps: number;
  sent: number;
  lost: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  noerrorPercent: number;
  /** Server CPU (user + system) per answered query, closed-loop runs only. */
  cpuUsPerQuery: number | null;
}

/** CPU time used so far (µs) by these processes. */
function cpuOf(pids: (number | null)[]): number {
  return pids.reduce((sum: number, pid) => sum + cpuUs(pid), 0);
}

/** CPU time used so far (µs): this process for null, /proc/PID/stat for another. */
function cpuUs(pid: number | null): number {
  if (pid === null) {
    const u = process.cpuUsage();
    return u.user + u.system;
  }
  return cpuMsOf(pid) * 1000;
}

const name = (i: number) => `svc-${String(i).padStart(5, '0')}`;

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** A network on a /16 and `count` vip-mode services with their VIPs allocated. */
async function populate(net: NetworkState, count: number): Promise<void> {
  await net.createNetwork({ name: 'bench', subnets: [{ subnet: '10.64.0.0/16' }] });
  const started = performance.now();
  await forEachLimit(
    Array.from({ length: count }, (_, i) => i),
    32,
    async (i) => {
      await net.createService({ name: name(i), networks: ['bench'], replicas: 0 });
    },
  );
  await net.allocate();
  console.log(`  ${count} services with VIPs in ${Math.round(performance.now() - started)} ms`);
}

async function dnsperf(
  server: string,
  port: number,
  queries: string,
  round: number,
  offeredQps: number | null,
  pids: (number | null)[],
): Promise<PerfRun> {
  const cpuBefore = cpuOf(pids);
  const args = [
    '-s',
    '127.0.0.1',
    '-p',
    String(port),
    '-d',
    queries,
    '-l',
    String(SECONDS),
    '-q',
    '100',
    '-t',
    '2',
  ];
  if (offeredQps !== null) args.push('-Q', String(Math.round(offeredQps)));
  const { stdout } = await run('dnsperf', args, { maxBuffer: 1 << 24 });
  const cpu = cpuOf(pids) - cpuBefore;
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? Number.NaN);
  return {
    server,
    round,
    offeredQps: offeredQps === null ? null : Math.round(offeredQps),
    qps: Math.round(num(/Queries per second:\s+([\d.]+)/)),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: Math.round(num(/Average Latency \(s\):\s+([\d.]+)/) * 1e6) / 1000,
    maxLatencyMs: Math.round(num(/Average Latency \(s\):.*max ([\d.]+)\)/) * 1e6) / 1000,
    noerrorPercent: num(/NOERROR \d+ \(([\d.]+)%\)/),
    cpuUsPerQuery:
      offeredQps === null ? Math.round((cpu / num(/Queries completed:\s+(\d+)/)) * 100) / 100 : null,
  };
}

/**
 * Asks one server over one UDP socket (the poll must not cost a socket per question, in the
 * process the server runs in); each ask resolves with the answer count, or -1 after `ms`.
 */
class Asker {
  readonly #socket = createSocket('udp4');
  #id = 0;
  #waiting: { id: number; done: (n: number) => void } | null = null;

  constructor(readonly port: number) {
    this.#socket.on('message', (msg) => {
      if (msg.length >= 12 && this.#waiting?.id === msg.readUInt16BE(0))
        this.#waiting.done(msg.readUInt16BE(6));
    });
  }

  answerCount(name: string, ms = 1000): Promise<number> {
    this.#id = (this.#id + 1) & 0xffff;
    const id = this.#id;
    const query = dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name }] });
    return new Promise<number>((resolve) => {
      const timer = setTimeout(() => done(-1), ms);
      const done = (n: number) => {
        clearTimeout(timer);
        this.#waiting = null;
        resolve(n);
      };
      this.#waiting = { id, done };
      this.#socket.send(query, this.port, '127.0.0.1');
    });
  }

  close(): void {
    this.#socket.close();
  }
}

/**
 * Times `count` tasks from running to answered: for each, the state is written and the name
 * `<service>.<slot>.<task-id>` is asked over UDP until it has an answer.
 */
async function freshness(subject: string, store: Store, net: NetworkState, count: number) {
  await net.createService({ name: 'fresh', networks: ['bench'], replicas: count });
  await net.allocate();
  const tasks = await net.listTasks({ service: 'fresh' });
  await using dns = await startDnsServer({ store, listen: '127.0.0.1:0' });
  const fromCall: number[] = [];
  const fromCommit: number[] = [];
  const asker = new Asker(dns.address.port);
  try {
    for (const task of tasks) {
      const name = `fresh.${task.slot}.${task.id}`;
      const t0 = performance.now();
      await net.updateTaskState(task.id, 'running');
      const committed = performance.now();
      for (;;) {
        if ((await asker.answerCount(name)) > 0) break;
        if (performance.now() - t0 > 10_000)
          throw new Error(`${subject}: task ${task.id} not answered after 10 s`);
      }
      const answered = performance.now();
      fromCall.push(answered - t0);
      fromCommit.push(answered - committed);
    }
  } finally {
    asker.close();
  }
  const ms = (xs: number[], q: number) =>
    Math.round(
      percentile(
        [...xs].sort((a, b) => a - b),
        q,
      ) * 10,
    ) / 10;
  return {
    subject,
    tasks: count,
    'p50 ms': ms(fromCall, 0.5),
    'p99 ms': ms(fromCall, 0.99),
    'max ms': ms(fromCall, 1),
    'p99 ms after the write returned': ms(fromCommit, 0.99),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kvkit-bench-dns-'));
  chmodSync(dir, 0o755);
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    console.log(`kvkit DNS benchmark: ${NAMES} names, ${ROUNDS} rounds of ${SECONDS} s per server`);
    const store = await createStore('memory:');
    cleanups.push(() => store.close());
    const net = await openNetworkState(store);
    cleanups.push(() => net.close());
    await populate(net, NAMES);
    const services = await net.listServices();
    const hosts = services.map((s) => `${s.virtualIps[0].addr.split('/')[0]} ${s.name}`).join('\n');
    const hostsFile = join(dir, 'hosts');
    writeFileSync(hostsFile, `${hosts}\n`, { mode: 0o644 });
    const queries = join(dir, 'queries');
    const order = services.map((s) => s.name).sort(() => Math.random() - 0.5);
    writeFileSync(queries, `${order.map((n) => `${n} A`).join('\n')}\n`);

    const dns = await startDnsServer({ store, listen: '127.0.0.1:0', ttl: TTL_SECONDS });
    cleanups.push(() => dns.close());
    const before = new Set(childrenOf('self'));
    const multi = await startDnsServer({
      store,
      listen: '127.0.0.1:0',
      ttl: TTL_SECONDS,
      processes: PROCESSES,
    });
    cleanups.push(() => multi.close());
    const multiPids = childrenOf('self').filter((pid) => !before.has(pid));
    const dnsmasq = await Dnsmasq.start([], [`--addn-hosts=${hostsFile}`, `--local-ttl=${TTL_SECONDS}`]);
    cleanups.push(() => dnsmasq.stop());
    const MULTI = `kvkit ×${PROCESSES}`;
    const names = ['kvkit', MULTI, 'dnsmasq'];
    const servers: Record<string, number> = {
      kvkit: dns.address.port,
      [MULTI]: multi.address.port,
      dnsmasq: dnsmasq.port,
    };
    // Whose CPU a server spends: this process (and, for the multi-process one, its children).
    const pids: Record<string, (number | null)[]> = {
      kvkit: [null],
      [MULTI]: [null, ...multiPids],
      dnsmasq: [dnsmasq.pid ?? null],
    };

    // Same answers from every server before timing them.
    for (const n of [order[0], order[order.length - 1]]) {
      const answer = async (port: number) =>
        (await run('dig', ['@127.0.0.1', '-p', String(port), n, '+short'])).stdout.trim();
      const theirs = await answer(servers.dnsmasq);
      for (const server of names) {
        const ours = await answer(servers[server]);
        if (ours === '' || ours !== theirs)
          throw new Error(`answers differ for ${n}: ${server} ${ours}, dnsmasq ${theirs}`);
      }
    }
    // Warm each (kvkit fills its encoded-answer cache; dnsmasq reads its hosts file).
    for (const [server, port] of Object.entries(servers)) {
      await run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', queries, '-n', '1', '-q', '200']);
      console.log(`  warmed ${server}`);
    }

    const runs: PerfRun[] = [];
    const best: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const say = (r: PerfRun) =>
      console.log(
        `  round ${r.round} ${r.server.padEnd(8)} ${r.offeredQps === null ? 'closed loop' : `-Q ${r.offeredQps}`.padEnd(11)} ${String(r.qps).padStart(7)} q/s  lost ${r.lost}  avg ${r.avgLatencyMs} ms`,
      );
    for (let round = 1; round <= ROUNDS; round++) {
      const pair = names.map((_, i) => names[(i + round) % names.length]);
      const search = Object.fromEntries(names.map((n) => [n, { lo: 0, hi: 0, at: 0 }]));
      for (const server of pair) {
        const r = await dnsperf(server, servers[server], queries, round, null, pids[server]);
        runs.push(r);
        say(r);
        search[server].hi = r.qps * 1.5;
      }
      // Bisect the offered rate: a step passes when nothing was lost and the rate was delivered.
      for (let step = 0; step < SEARCH_STEPS; step++) {
        for (const server of step % 2 === 0 ? pair : [...pair].reverse()) {
          const s = search[server];
          const offered = (s.lo + s.hi) / 2;
          const r = await dnsperf(server, servers[server], queries, round, offered, pids[server]);
          runs.push(r);
          say(r);
          if (r.lost === 0 && r.qps >= offered * 0.97) {
            s.lo = offered;
            s.at = Math.max(s.at, r.qps);
          } else {
            s.hi = offered;
          }
        }
      }
      for (const server of pair) best[server].push(search[server].at);
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)];
    };
    const summary = names.map((server) => {
      const mine = runs.filter((r) => r.server === server);
      const clean = mine.filter((r) => r.lost === 0 && r.offeredQps !== null);
      const closed = mine.filter((r) => r.offeredQps === null);
      return {
        server,
        'q/s at 0 loss (median of rounds)': median(best[server]),
        'per round': best[server].join(' / '),
        'closed-loop q/s (median)': median(closed.map((r) => r.qps)),
        'closed-loop lost': closed.reduce((n, r) => n + r.lost, 0),
        'server CPU µs/query': median(closed.map((r) => r.cpuUsPerQuery ?? Number.NaN)),
        'avg latency ms at 0 loss': median(clean.map((r) => r.avgLatencyMs)),
        'max latency ms at 0 loss': Math.max(...clean.map((r) => r.maxLatencyMs)),
        'NOERROR %': Math.min(...mine.map((r) => r.noerrorPercent)),
      };
    });
    const atZeroLoss = (i: number) => summary[i]['q/s at 0 loss (median of rounds)'];
    const cpu = (i: number) => summary[i]['server CPU µs/query'];
    const ratio = atZeroLoss(0) / atZeroLoss(2);
    const multiRatio = atZeroLoss(1) / atZeroLoss(2);
    printTable(`dnsperf, ${NAMES} names, ${ROUNDS} rounds, ${SECONDS} s runs`, summary);
    console.log(`\nkvkit / dnsmasq queries/s at 0 loss: ${ratio.toFixed(3)}× (one process)`);
    console.log(`${MULTI} / dnsmasq queries/s at 0 loss: ${multiRatio.toFixed(3)}× (goal ≥ 1.0×)`);
    const cpuRatio = cpu(2) / cpu(0);
    console.log(`dnsmasq / kvkit server CPU per query: ${cpuRatio.toFixed(3)}× (> 1: kvkit spends less)`);
    await multi.close();
    await dns.close();
    await dnsmasq.stop();

    const fresh = [await freshness('memory', store, net, TASKS)];
    const raftDir = join(dir, 'raft');
    const cluster = await startLocalCluster({ size: 3, dataDir: raftDir, logger: () => {} });
    cleanups.push(() => cluster.close());
    const leader = await cluster.leader(30_000);
    const raftNet = await openNetworkState(leader.store);
    cleanups.push(() => raftNet.close());
    await populate(raftNet, RAFT_SERVICES);
    fresh.push(await freshness('raft (3 nodes, embedded)', leader.store, raftNet, TASKS));
    printTable('time from a task reaching running to its address in a DNS answer (goal p99 < 100 ms)', fresh);

    const file = writeResults('dns', {
      names: NAMES,
      rounds: ROUNDS,
      secondsPerRun: SECONDS,
      runs,
      summary,
      ratio,
      processes: PROCESSES,
      multiRatio,
      cpuRatio,
      freshness: fresh,
      raftServices: RAFT_SERVICES,
    });
    console.log(`\nresults: ${file}`);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
