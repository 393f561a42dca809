// The README's main job (`npm run demo`): the Swarm loop on an embedded 3-node kvkit Raft
// cluster in this process — workers join, a service is scheduled and runs, kvkit's DNS server
// answers for it through real DNS queries, then a worker and the Raft leader are stopped and the
// service, and DNS, follow.

import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DnsServer, startDnsServer } from '../discovery/index.js';
import { type NetworkState, openNetworkState } from '../network-state/index.js';
import type { Node, Task } from '../network-state/types.js';
import { type LocalCluster, startLocalCluster } from '../raft-node/index.js';
import type { RaftNode } from '../raft-node/start.js';
import { type Agent, runManager, startAgent } from '../swarm/index.js';

/** Short periods so the demo runs in seconds (the defaults are swarmkit's: 5 s and 5 s). */
const HEARTBEAT_MS = 500;
const RESTART_DELAY_MS = 500;
/** The whole demo must end within this, or it fails with a message instead of hanging. */
const DEADLINE_MS = 120_000;
/** Each step waits at most this long for what it expects. */
const STEP_MS = 45_000;

const started = Date.now();
const log = (line = '') => console.log(line);
const at = () => `[${((Date.now() - started) / 1000).toFixed(1).padStart(4)} s]`;
const step = (line: string) => log(`${at()} ${line}`);

const deadline = setTimeout(() => {
  console.error(`demo FAILED: not finished within ${DEADLINE_MS / 1000} s (the machine may be overloaded)`);
  process.exit(1);
}, DEADLINE_MS);

const dir = mkdtempSync(join(tmpdir(), 'kvkit-demo-'));
let cluster: LocalCluster | undefined;
const agents: Agent[] = [];
const managers = new Map<string, { stop: AbortController; done: Promise<void> }>();
let dns: DnsServer | undefined;
let net: NetworkState | undefined;
let failed = false;

try {
  log(`kvkit demo: the Swarm loop on an embedded 3-node Raft cluster`);
  log(
    `(heartbeats every ${HEARTBEAT_MS} ms and a ${RESTART_DELAY_MS} ms restart delay here; the defaults are 5 s)\n`,
  );
  cluster = await startLocalCluster({ size: 3, dataDir: dir, logger: () => {} });
  const leader = await cluster.leader();
  const followers = cluster.nodes.filter((n) => n !== leader);
  step(`Raft cluster ${cluster.nodes.map((n) => n.id).join(', ')} up, leader ${leader.id}`);

  // A manager in every Raft node, as `kvkit raft start` runs one; the leader's starts first.
  let acting = '';
  const startManager = (node: RaftNode) => {
    const stop = new AbortController();
    const done = runManager(node.store, {
      signal: stop.signal,
      heartbeatPeriodMs: HEARTBEAT_MS,
      lockTtlMs: 2000,
      onActing: (on) => {
        if (on) acting = node.id;
      },
    });
    managers.set(node.id, { stop, done });
  };
  startManager(leader);
  await until('the first manager to act', async () => acting !== '');
  for (const n of followers) startManager(n);
  step(`managers running in ${cluster.nodes.map((n) => n.id).join(', ')}; acting: the one in ${acting}`);

  // Workers talk to the followers (the leader is stopped later); DNS reads from one too.
  for (let i = 1; i <= 5; i++) {
    const store = followers[i % followers.length].store;
    agents.push(
      await startAgent(store, { hostname: `w${i}`, heartbeatPeriodMs: HEARTBEAT_MS, stopGraceMs: 2000 }),
    );
  }
  net = await openNetworkState(followers[0].store);
  const state = net;
  await until(
    '5 ready workers',
    async () => (await state.listNodes()).filter((n) => n.state === 'ready').length === 5,
  );
  step(`5 workers joined: ${agents.map((a) => a.hostname).join(' ')}`);

  const network = await net.createNetwork({
    name: 'mh_net',
    driver: 'overlay',
    subnets: [{ subnet: '10.9.0.0/24' }],
  });
  step(
    `network mh_net: ${network.subnets.map((s) => `${s.subnet}, gateway ${s.gateway}`).join('; ')}, VXLAN ${network.vxlanIds.join(',')}`,
  );
  await net.createService({
    name: 'nginx',
    networks: ['mh_net'],
    replicas: 3,
    restartDelayMs: RESTART_DELAY_MS,
  });
  let tasks = await runningTasks(net, 3);
  step('service nginx: 3 replicas allocated, scheduled and running');
  await table(net, tasks);

  dns = await startDnsServer({ store: followers[0].store, listen: '127.0.0.1:0', ttl: 0 });
  const port = dns.address.port;
  step(`DNS server on 127.0.0.1:${port} (UDP and TCP)`);
  const vip = await answers(port, 'nginx');
  let taskIps = await answersBecome(port, 'tasks.nginx', ips(tasks));
  log(`      dig @127.0.0.1 -p ${port} nginx        → ${vip.join(' ')}  (the service's virtual IP)`);
  log(`      dig @127.0.0.1 -p ${port} tasks.nginx  → ${taskIps.join(' ')}`);

  // Stop a worker that runs a task: its node goes down, its task is replaced on another.
  const nodes = new Map((await net.listNodes()).map((n) => [n.id, n]));
  const victimTask = tasks[0];
  const victim = agents.find((a) => a.nodeId === victimTask.nodeId) as Agent;
  log();
  step(`stopping worker ${victim.hostname} (it runs nginx.${victimTask.slot})`);
  const stoppedAt = Date.now();
  await victim.close();
  agents.splice(agents.indexOf(victim), 1);
  await until(
    `${victim.hostname} marked down`,
    async () => (await state.inspectNode(victim.nodeId)).state === 'down',
  );
  step(`${victim.hostname} is down (${(await net.inspectNode(victim.nodeId)).message})`);
  tasks = await until('nginx back at 3 running, none on the stopped worker', async () => {
    const t = await runningTasks(state, 3);
    return t.every((x) => x.nodeId !== victim.nodeId) && t;
  });
  const replacement = tasks.find((t) => t.slot === victimTask.slot) as Task;
  step(
    `nginx.${replacement.slot} replaced on ${nameOf(nodes, replacement.nodeId)} with ${ips([replacement]).join(' ')} (was ${ips([victimTask]).join(' ')}) in ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`,
  );
  taskIps = await answersBecome(port, 'tasks.nginx', ips(tasks));
  log(`      dig tasks.nginx → ${taskIps.join(' ')}  (follows the store)`);
  await table(net, tasks);

  // Stop the Raft leader, its manager with it: another node leads, another manager acts.
  log();
  const old = await cluster.leader();
  const oldManager = acting;
  step(`stopping the Raft leader ${old.id} (the acting manager runs in ${oldManager})`);
  const before = new Set(tasks.map((t) => t.id));
  managers.get(old.id)?.stop.abort();
  await old.close();
  cluster.nodes.splice(cluster.nodes.indexOf(old), 1);
  const next = await cluster.leader(STEP_MS);
  step(`new Raft leader: ${next.id}`);
  await until('another manager acting', async () => acting !== '' && acting !== old.id);
  step(
    `manager failed over: the one in ${acting} acts (it gives every worker 6 heartbeats before judging it)`,
  );
  await new Promise((r) => setTimeout(r, 8 * HEARTBEAT_MS));
  tasks = await runningTasks(net, 3);
  const down = (await net.listNodes()).filter((n) => n.state === 'down' && n.id !== victim.nodeId);
  const kept = tasks.filter((t) => before.has(t.id)).length;
  if (down.length > 0)
    throw new Error(`workers marked down after the failover: ${down.map((n) => n.hostname).join(', ')}`);
  step(`nginx still at 3 running (${kept} of 3 the same tasks); no worker marked down`);
  taskIps = await answersBecome(port, 'tasks.nginx', ips(tasks));
  log(`      dig tasks.nginx → ${taskIps.join(' ')}`);
  log();
  log(
    `demo OK in ${((Date.now() - started) / 1000).toFixed(1)} s: 5 workers, nginx 3/3 running through a worker stop and a Raft leader stop, DNS followed`,
  );
} catch (err) {
  failed = true;
  console.error(`demo FAILED: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await Promise.allSettled(agents.map((a) => a.close()));
  await dns?.close().catch(() => undefined);
  await net?.close().catch(() => undefined);
  for (const m of managers.values()) m.stop.abort();
  await Promise.allSettled([...managers.values()].map((m) => m.done));
  await cluster?.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  clearTimeout(deadline);
  process.exit(failed ? 1 : 0);
}

async function until<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + STEP_MS;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`gave up waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function runningTasks(state: NetworkState, count: number): Promise<Task[]> {
  return until(`${count} running nginx tasks`, async () => {
    const t = await state.listTasks({ service: 'nginx' });
    return t.length === count && t.every((x) => x.state === 'running' && x.desiredState === 'running') && t;
  });
}

function ips(tasks: Task[]): string[] {
  return tasks
    .flatMap((t) => t.attachments.flatMap((a) => a.addresses.map((x) => x.split('/')[0])))
    .sort(byIp);
}

function byIp(a: string, b: string): number {
  const n = (ip: string) => ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  return n(a) - n(b);
}

function nameOf(nodes: Map<string, Node>, id: string | undefined): string {
  return (id && nodes.get(id)?.hostname) || String(id);
}

async function table(state: NetworkState, tasks: Task[]): Promise<void> {
  const nodes = new Map((await state.listNodes()).map((n) => [n.id, n]));
  log(`      ${'TASK'.padEnd(9)} ${'NODE'.padEnd(5)} ${'ADDRESS'.padEnd(13)} STATE`);
  for (const t of tasks) {
    log(
      `      ${`nginx.${t.slot}`.padEnd(9)} ${nameOf(nodes, t.nodeId).padEnd(5)} ${t.attachments
        .flatMap((a) => a.addresses)
        .join(' ')
        .padEnd(13)} ${t.state}`,
    );
  }
}

/** One real DNS query (a fresh resolver each time, so nothing is cached). */
async function answers(port: number, name: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return (await resolver.resolve4(name)).sort(byIp);
}

/** Queries until DNS answers exactly `expected` (it follows the store within moments). */
function answersBecome(port: number, name: string, expected: string[]): Promise<string[]> {
  return until(`DNS to answer ${name} with ${expected.join(' ')}`, async () => {
    const got = await answers(port, name);
    return got.join(' ') === expected.join(' ') && got;
  });
}
