/**
 * One scale run (issue 18): a store, agent processes holding N simulated nodes, the phases in
 * order, one record. `bench/scale.ts` is the command line around it; the smoke test calls it too.
 *
 * 1. join storm: every agent process joins all its nodes at once (`join` on their stdin);
 * 2. steady state: heartbeat write latency as the agents see it, false node-downs, the store
 *    writes the agents make per second, manager CPU;
 * 3. burst (kvkit pattern): a `nginx` service on an `ingress` overlay and an `alpine` service on a
 *    second overlay (4 : 6 of the tasks), created at once; until every task is allocated, running,
 *    and (sampled addresses, real PTR queries) answered by a `kvkit dns serve` process;
 * 4. failures: SIGKILL of the agent process holding 10 % of the nodes (until they are down, their
 *    tasks replaced and resolvable); then SIGKILL of the store's Raft leader (nodes wrongly marked
 *    down over 7 heartbeat periods, time until a manager acts again).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  createStore,
  type NetworkState,
  type NetworkStateSnapshot,
  openNetworkState,
  type Store,
  type Task,
} from '../../src/index.js';
import { KvkitProcess } from '../../test/discovery/cli-process.js';
import { cpuMsOf } from '../lib/proc.js';
import type { AgentsConfig, AgentsLine } from './agents.js';
import { StateFollower } from './follow.js';
import { type ScaleStore, type StoreKind, startScaleStore } from './stores.js';

export type Pattern = 'kvkit' | 'libkv';

export interface ScaleOptions {
  store: StoreKind;
  pattern: Pattern;
  nodes: number;
  tasks: number;
  heartbeatMs: number;
  /** Steady-state window (ms). */
  steadyMs: number;
  /** Agent processes (the failure phase kills one: 1/processes of the nodes). */
  processes: number;
  /** The longest any one phase may take before the run records it as not finished (ms). */
  phaseTimeoutMs: number;
  /** The longest the whole run may take (ms): later phases get what is left. Default: no bound. */
  runTimeoutMs?: number;
  /** Restart delay of the burst's services (ms). */
  restartDelayMs: number;
  log?: (line: string) => void;
}

/** The issue's fields, then what this bench adds (load, CPU, the failover's act time). */
export interface ScaleRecord {
  store: StoreKind;
  pattern: Pattern;
  nodes: number;
  tasks: number;
  heartbeatMs: number;
  joinMs: number | null;
  heartbeatP50Ms: number | null;
  heartbeatP99Ms: number | null;
  falseDowns: number | null;
  allocatedMs: number | null;
  runningMs: number | null;
  resolvableMs: number | null;
  downDetectedMs: number | null;
  replacedMs: number | null;
  leaderKillFalseDowns: number | null;
  storeWritesPerS: number | null;
  at: string;
  error?: string;
  /** Until a manager placed and ran a new task after the leader's SIGKILL (ms). */
  leaderKillActMs: number | null;
  /** Until the killed agents' replaced tasks answered PTR queries (ms from the kill). */
  replacedResolvableMs: number | null;
  /** CPU of the busiest manager-running process over the steady window (% of one core). */
  managerCpuPercent: number | null;
  /** 1-minute load average at the start and at the end of the run (2 cores, shared). */
  loadStart: number;
  loadEnd: number;
  steadyMs: number;
  processes: number;
  /** Every task running at the end (after the failures). */
  allRunning: boolean;
}

const AGENTS_MAIN = join(import.meta.dirname, 'agents.ts');
const POLL_MS = 500;
const DNS_SAMPLES = 40;

class AgentsProcess {
  readonly child: ChildProcess;
  readonly lines: AgentsLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<void>;
  #listeners = new Set<(line: AgentsLine) => void>();

  constructor(
    readonly index: number,
    readonly config: AgentsConfig,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', AGENTS_MAIN, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      let line: AgentsLine;
      try {
        line = JSON.parse(text) as AgentsLine;
      } catch {
        return;
      }
      if (line.t !== 'beats') this.lines.push(line);
      for (const l of this.#listeners) l(line);
    });
    createInterface({ input: this.child.stderr as NodeJS.ReadableStream }).on('line', (text) => {
      this.stderr.push(text);
      if (this.stderr.length > 50) this.stderr.shift();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  on(listener: (line: AgentsLine) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  send(command: string): void {
    if (this.alive) this.child.stdin?.write(`${command}\n`);
  }

  wait<T extends AgentsLine['t']>(t: T, timeoutMs: number): Promise<Extract<AgentsLine, { t: T }>> {
    return new Promise((resolve, reject) => {
      const found = this.lines.find((l) => l.t === t);
      if (found) return resolve(found as Extract<AgentsLine, { t: T }>);
      const timer = setTimeout(() => {
        off();
        reject(
          new Error(`agent process ${this.index}: no ${t} within ${timeoutMs} ms ${this.stderr.join(' | ')}`),
        );
      }, timeoutMs);
      const off = this.on((line) => {
        if (line.t !== t) return;
        clearTimeout(timer);
        off();
        resolve(line as Extract<AgentsLine, { t: T }>);
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        off();
        reject(new Error(`agent process ${this.index} exited before ${t}: ${this.stderr.join(' | ')}`));
      });
    });
  }

  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Polls `check` every POLL_MS until it returns a value; null after `timeoutMs`. */
async function poll<T>(check: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch {
      // the store may be failing over: ask again
    }
    if (Date.now() > end) return null;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Weighted percentile: each latency counts once per node its write carried. */
function weightedPercentile(pairs: [latency: number, weight: number][], q: number): number | null {
  if (pairs.length === 0) return null;
  const sorted = [...pairs].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((s, p) => s + p[1], 0);
  let seen = 0;
  for (const [latency, weight] of sorted) {
    seen += weight;
    if (seen >= q * total) return Math.round(latency * 10) / 10;
  }
  return Math.round(sorted[sorted.length - 1][0] * 10) / 10;
}

const load = () => Math.round(loadavg()[0] * 100) / 100;

export async function runScale(opts: ScaleOptions): Promise<ScaleRecord> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const rec: ScaleRecord = {
    store: opts.store,
    pattern: opts.pattern,
    nodes: opts.nodes,
    tasks: opts.pattern === 'kvkit' ? opts.tasks : 0,
    heartbeatMs: opts.heartbeatMs,
    joinMs: null,
    heartbeatP50Ms: null,
    heartbeatP99Ms: null,
    falseDowns: null,
    allocatedMs: null,
    runningMs: null,
    resolvableMs: null,
    downDetectedMs: null,
    replacedMs: null,
    leaderKillFalseDowns: null,
    storeWritesPerS: null,
    at: new Date().toISOString(),
    leaderKillActMs: null,
    replacedResolvableMs: null,
    managerCpuPercent: null,
    loadStart: load(),
    loadEnd: 0,
    steadyMs: opts.steadyMs,
    processes: opts.processes,
    allRunning: false,
  };
  const deadline = Date.now() + (opts.runTimeoutMs ?? Number.POSITIVE_INFINITY);
  const phaseMs = () => Math.max(1000, Math.min(opts.phaseTimeoutMs, deadline - Date.now()));
  const errors: string[] = [];
  const fail = (phase: string, why: string) => {
    errors.push(`${phase}: ${why}`);
    log(`  ${phase}: ${why}`);
  };
  let scale: ScaleStore | undefined;
  let client: Store | undefined;
  let net: NetworkState | undefined;
  let dns: KvkitProcess | undefined;
  let follower: StateFollower | undefined;
  const procs: AgentsProcess[] = [];
  try {
    log(
      `scale: ${opts.store} ${opts.pattern} N=${opts.nodes} tasks=${rec.tasks} heartbeat=${opts.heartbeatMs} ms`,
    );
    scale = await startScaleStore(opts.store, opts.heartbeatMs);
    client = await createStore(scale.url);
    net = await openNetworkState(client);
    const state = net;
    follower = new StateFollower(net);
    const follow = follower;
    const nodesNow = () => follow.latest?.nodes ?? [];

    // 0. Agent processes, connected before the storm starts.
    const per = Math.ceil(opts.nodes / opts.processes);
    for (let p = 0, first = 0; first < opts.nodes; p++, first += per) {
      procs.push(
        new AgentsProcess(p, {
          url: scale.url,
          pattern: opts.pattern,
          prefix: `p${p}`,
          first,
          count: Math.min(per, opts.nodes - first),
          heartbeatMs: opts.heartbeatMs,
          joinConcurrency: 64,
        }),
      );
    }
    await Promise.all(procs.map((p) => p.wait('connected', 120_000)));
    const beats: { at: number; latency: number; weight: number }[] = [];
    const writesSeen = new Map<number, { at: number; writes: number }[]>();
    let vanished = 0;
    const listedBy = new Map<number, number>();
    for (const p of procs) {
      p.on((line) => {
        if (line.t !== 'beats') return;
        for (const [i, latency] of line.latencies.entries()) {
          beats.push({ at: line.at, latency, weight: line.weights[i] });
        }
        let list = writesSeen.get(p.index);
        if (!list) writesSeen.set(p.index, (list = []));
        list.push({ at: line.at, writes: line.writes });
        if (line.vanished !== undefined && p.index === 1) vanished = line.vanished;
        if (line.listed !== undefined) listedBy.set(p.index, line.listed);
      });
    }

    // 1. Join storm.
    const joinStart = Date.now();
    for (const p of procs) p.send('join');
    const joined = await Promise.all(procs.map((p) => p.wait('joined', phaseMs())));
    const registered = joined.reduce((s, j) => s + j.nodes, 0);
    if (registered < opts.nodes) {
      // Why, in the record: the first failure an agent process reported.
      const why = procs.flatMap((p) => p.stderr.filter((l) => l.startsWith('join failed'))).at(0);
      throw new Error(
        `join: only ${registered} of ${opts.nodes} nodes joined${why ? ` (${why.slice(0, 300)})` : ''}`,
      );
    }
    if (opts.pattern === 'kvkit') {
      const ready = await follow.until(
        (s) => s.nodes.filter((n) => n.state === 'ready').length >= opts.nodes,
        phaseMs(),
      );
      if (!ready) throw new Error('join: not every node ready');
    } else {
      const seen = await poll(
        async () => [...listedBy.values()].every((n) => n >= opts.nodes) && listedBy.size === procs.length,
        phaseMs(),
      );
      if (!seen) fail('join', 'not every watcher saw the whole node list');
    }
    rec.joinMs = Math.max(...joined.map((j) => j.at)) - joinStart;
    log(`  join storm: ${rec.joinMs} ms`);

    // 2. Steady state.
    const steadyStart = Date.now();
    const pids = scale.managerPids();
    const cpuStart = pids.map(cpuMsOf);
    const downSeen = new Set<string>();
    const vanishedStart = vanished;
    while (Date.now() < steadyStart + opts.steadyMs) {
      if (opts.pattern === 'kvkit') {
        for (const n of nodesNow()) if (n.state === 'down') downSeen.add(n.id);
      }
      await new Promise((r) => setTimeout(r, Math.min(2000, opts.heartbeatMs)));
    }
    const steadyEnd = Date.now();
    const seconds = (steadyEnd - steadyStart) / 1000;
    const cpuEnd = pids.map(cpuMsOf);
    rec.managerCpuPercent = Math.round(
      Math.max(...pids.map((_, i) => (cpuEnd[i] - cpuStart[i]) / 10 / seconds)),
    );
    const window = beats.filter((b) => b.at > steadyStart + 1000 && b.at <= steadyEnd + 1000);
    const pairs = window.map((b) => [b.latency, b.weight] as [number, number]);
    rec.heartbeatP50Ms = weightedPercentile(pairs, 0.5);
    rec.heartbeatP99Ms = weightedPercentile(pairs, 0.99);
    rec.falseDowns = opts.pattern === 'kvkit' ? downSeen.size : vanished - vanishedStart;
    let writes = 0;
    for (const list of writesSeen.values()) {
      const at = (t: number) => list.filter((x) => x.at <= t).at(-1)?.writes ?? 0;
      writes += at(steadyEnd + 1000) - at(steadyStart + 1000);
    }
    rec.storeWritesPerS = Math.round(writes / seconds);
    log(
      `  steady ${seconds.toFixed(0)} s: heartbeat p50 ${rec.heartbeatP50Ms} ms p99 ${rec.heartbeatP99Ms} ms, false downs ${rec.falseDowns}, ${rec.storeWritesPerS} writes/s, manager CPU ${rec.managerCpuPercent} % (load ${load()})`,
    );

    if (opts.pattern === 'libkv') {
      await libkvFailures(
        { ...opts, phaseTimeoutMs: phaseMs() },
        rec,
        procs,
        scale,
        () => listedBy,
        () => vanished,
        fail,
        log,
      );
      rec.allRunning = true;
      return rec;
    }

    // 3. Burst.
    const port = await (async () => {
      dns = new KvkitProcess(['dns', 'serve', '--listen', '127.0.0.1:0', '--ttl', '0', '--store', scale.url]);
      return Number((await dns.line(/listening on/, 120_000)).split(':').pop());
    })();
    await net.createNetwork({ name: 'ingress', driver: 'overlay', subnets: [{ subnet: '10.0.0.0/16' }] });
    await net.createNetwork({ name: 'backend', driver: 'overlay', subnets: [{ subnet: '10.1.0.0/16' }] });
    const nginx = Math.round((opts.tasks * 4) / 10);
    const alpine = opts.tasks - nginx;
    const burstStart = Date.now();
    await Promise.all([
      net.createService({
        name: 'nginx',
        image: 'nginx',
        networks: ['ingress'],
        replicas: nginx,
        restartDelayMs: opts.restartDelayMs,
      }),
      net.createService({
        name: 'alpine',
        image: 'alpine',
        networks: ['backend'],
        replicas: alpine,
        restartDelayMs: opts.restartDelayMs,
      }),
    ]);
    const total = () => opts.tasks + (scaledUp ? 1 : 0);
    let scaledUp = false;
    const allocated = await follow.until(
      (s) =>
        s.tasks.length >= total() &&
        s.tasks.every((t) => t.state !== 'new' && t.attachments.every((a) => a.addresses.length > 0)),
      phaseMs(),
    );
    if (allocated === null) fail('burst', 'not every task allocated');
    else rec.allocatedMs = allocated.at - burstStart;
    const allRunning = (s: NetworkStateSnapshot) =>
      s.tasks.length >= total() && s.tasks.every((t) => t.state === 'running') && s.tasks;
    const running = await follow.until(allRunning, phaseMs());
    if (running === null) {
      const tasks = follow.latest?.tasks ?? [];
      fail(
        'burst',
        `not every task running (${tasks.filter((t) => t.state === 'running').length} of ${opts.tasks})`,
      );
      throw new Error(errors.join('; '));
    }
    rec.runningMs = running.at - burstStart;
    const resolved = await resolvable(port, sample(running.value, DNS_SAMPLES), phaseMs());
    if (resolved === null) fail('burst', 'sampled tasks not all in DNS');
    else rec.resolvableMs = resolved - burstStart;
    log(
      `  burst: allocated ${rec.allocatedMs} ms, running ${rec.runningMs} ms, resolvable ${rec.resolvableMs} ms`,
    );

    // 4a. Agent process kill.
    const victimProc = procs[0];
    const victims = new Set(
      nodesNow()
        .filter((n) => n.hostname.startsWith(`${victimProc.config.prefix}-`))
        .map((n) => n.id),
    );
    const killStart = Date.now();
    await victimProc.kill();
    const down = await follow.until(
      (s) => s.nodes.filter((n) => victims.has(n.id) && n.state === 'down').length === victims.size,
      phaseMs(),
    );
    if (down === null) fail('agent kill', 'its nodes not all marked down');
    else rec.downDetectedMs = down.at - killStart;
    const replaced = await follow.until((s) => {
      const t = allRunning(s);
      if (!t) return false;
      return t.every((x) => !victims.has(x.nodeId ?? '')) && t;
    }, phaseMs());
    if (replaced === null) fail('agent kill', 'tasks not all replaced');
    else {
      rec.replacedMs = replaced.at - killStart;
      const moved = replaced.value.filter((t) => new Date(t.createdAt).getTime() >= killStart);
      const r = await resolvable(port, sample(moved, DNS_SAMPLES), phaseMs());
      if (r !== null) rec.replacedResolvableMs = r - killStart;
    }
    log(
      `  agent process kill (${victims.size} nodes): down ${rec.downDetectedMs} ms, replaced ${rec.replacedMs} ms, resolvable ${rec.replacedResolvableMs} ms`,
    );

    // 4b. Leader kill.
    const killed = await scale.killLeader();
    const leaderStart = Date.now();
    // Scaled up through the store as it fails over (retried until the write lands).
    const scaled = await poll(async () => {
      const s = await state.inspectService('nginx');
      if (s.replicas === nginx) await state.scaleService('nginx', nginx + 1);
      return true;
    }, phaseMs());
    scaledUp = scaled !== null;
    const acted = await follow.until((s) => {
      const service = s.services.find((x) => x.name === 'nginx');
      const t = s.tasks.filter((x) => x.serviceId === service?.id);
      return t.length === nginx + 1 && t.every((x) => x.state === 'running');
    }, phaseMs());
    if (acted === null) fail('leader kill', 'no manager acted again');
    else rec.leaderKillActMs = acted.at - leaderStart;
    const wrongly = new Set<string>();
    const graceEnd = leaderStart + 7 * opts.heartbeatMs;
    while (Date.now() < graceEnd) {
      for (const n of nodesNow()) {
        if (n.state === 'down' && !victims.has(n.id)) wrongly.add(n.id);
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, opts.heartbeatMs)));
    }
    rec.leaderKillFalseDowns = wrongly.size;
    log(
      `  ${killed} SIGKILLed: a manager acted again in ${rec.leaderKillActMs} ms, ${wrongly.size} nodes wrongly down`,
    );
    rec.allRunning = (await follow.until(allRunning, phaseMs())) !== null;
    return rec;
  } catch (err) {
    fail('run', err instanceof Error ? err.message : String(err));
    return rec;
  } finally {
    rec.loadEnd = load();
    if (errors.length > 0) rec.error = errors.join('; ');
    await Promise.allSettled(procs.map((p) => p.kill()));
    await dns?.kill('SIGKILL');
    await follower?.close();
    await net?.close().catch(() => {});
    await client?.close().catch(() => {});
    await scale?.close().catch(() => {});
  }
}

/** libkv pattern: kill 10 % (their TTL keys must vanish), then the store's leader (none may). */
async function libkvFailures(
  opts: ScaleOptions,
  rec: ScaleRecord,
  procs: AgentsProcess[],
  scale: ScaleStore,
  listed: () => Map<number, number>,
  vanished: () => number,
  fail: (phase: string, why: string) => void,
  log: (line: string) => void,
): Promise<void> {
  const victim = procs[0];
  const expected = opts.nodes - victim.config.count;
  const killStart = Date.now();
  await victim.kill();
  const gone = await poll(
    async () => (listed().get(1) ?? Number.POSITIVE_INFINITY) <= expected && Date.now(),
    opts.phaseTimeoutMs,
  );
  if (gone === null) fail('agent kill', 'the killed nodes’ keys did not all expire');
  else rec.downDetectedMs = gone - killStart;
  const before = vanished();
  const killed = await scale.killLeader();
  await new Promise((r) => setTimeout(r, 7 * opts.heartbeatMs));
  rec.leaderKillFalseDowns = vanished() - before;
  log(
    `  agent process kill: keys gone ${rec.downDetectedMs} ms; ${killed} SIGKILLed: ${rec.leaderKillFalseDowns} live nodes vanished`,
  );
}

function sample<T>(items: T[], n: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, n);
}

/** Until every sampled task's address has a PTR answer naming that task (real UDP queries). */
function resolvable(port: number, tasks: Task[], timeoutMs: number): Promise<number | null> {
  const pending = new Set(tasks);
  return poll(async () => {
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    await Promise.all(
      [...pending].map(async (t) => {
        const ip = t.attachments[0]?.addresses[0]?.split('/')[0];
        if (!ip) return;
        const names = await resolver.reverse(ip).catch(() => [] as string[]);
        if (names.some((name) => name.includes(t.id))) pending.delete(t);
      }),
    );
    return pending.size === 0 && Date.now();
  }, timeoutMs);
}
