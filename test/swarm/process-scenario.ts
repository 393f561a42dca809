/**
 * The real-process proof of the Swarm loop, written once for every store: real `kvkit agent
 * start` processes, a real `kvkit dns serve`, `kvkit service create` from the CLI, SIGKILL of an
 * agent and of whatever holds the manager role. The caller brings the store (and the managers).
 */
import { expect } from 'vitest';
import {
  createStore,
  isTerminal,
  type NetworkState,
  type Node,
  openNetworkState,
  type Store,
  type Task,
} from '../../src/index.js';
import { KvkitProcess } from '../discovery/cli-process.js';
import { until as untilWithin } from './harness.js';

const until = <T>(what: string, check: () => Promise<T | undefined | false>) =>
  untilWithin(what, check, 120_000);

import { dig, ipsOf, sortIps } from '../discovery/dns/support.js';

/** Long enough that a store failover (election, client reconnect) never costs a node its place. */
export const HEARTBEAT = '2s';
export const HEARTBEAT_MS = 2000;
export const RESTART_DELAY_MS = 1000;

export interface ScenarioStore {
  url: string;
  /** SIGKILLs what makes the store or its acting manager fail over (the Raft leader, a manager process). */
  killLeader(): Promise<string>;
}

/** Reads tasks (then nodes, so a replaced task's node is never seen "ready" too late) and checks the invariants. */
export async function checkInvariants(net: NetworkState): Promise<void> {
  const tasks = await net.listTasks({ history: true });
  const ready = new Set((await net.listNodes()).filter((n) => n.state === 'ready').map((n) => n.id));
  const runningBySlot = new Map<string, number>();
  const holders = new Map<string, string>();
  for (const t of tasks) {
    if (t.state === 'running' && t.nodeId && ready.has(t.nodeId)) {
      const key = `${t.serviceId}.${t.slot}`;
      runningBySlot.set(key, (runningBySlot.get(key) ?? 0) + 1);
      if ((runningBySlot.get(key) ?? 0) > 1)
        throw new Error(`slot ${key} has two running tasks on ready nodes`);
    }
    if (isTerminal(t.state)) continue;
    for (const a of t.attachments.flatMap((x) => x.addresses)) {
      const other = holders.get(a);
      if (other && other !== t.id) throw new Error(`address ${a} held by ${other} and ${t.id}`);
      holders.set(a, t.id);
    }
  }
}

const bare = (tasks: Task[]) =>
  sortIps(tasks.flatMap((t) => t.attachments.flatMap((a) => a.addresses.map((x) => x.split('/')[0]))));

/** Runs the whole scenario; returns what it measured (ms). */
export async function runSwarmScenario(target: ScenarioStore): Promise<Record<string, number>> {
  const procs: KvkitProcess[] = [];
  const kvkit = (...args: string[]) => {
    const p = new KvkitProcess([...args, '--store', target.url]);
    procs.push(p);
    return p;
  };
  const cli = async (...args: string[]) => {
    const p = kvkit(...args);
    const { code } = await p.exited;
    if (code !== 0) throw new Error(`kvkit ${args.join(' ')} exited ${code}: ${p.stderr.join('\n')}`);
    return p.stdout;
  };
  let store: Store | undefined;
  let net: NetworkState | undefined;
  let violation: unknown = null;
  let checking = true;
  let checker: Promise<void> = Promise.resolve();
  try {
    store = await createStore(target.url);
    net = await openNetworkState(store);
    const state = net;
    const agents = new Map<string, KvkitProcess>();
    for (let i = 1; i <= 4; i++) {
      const agent = kvkit(
        'agent',
        'start',
        '--hostname',
        `w${i}`,
        '--heartbeat',
        HEARTBEAT,
        '--stop-grace',
        '2s',
      );
      agents.set(`w${i}`, agent);
    }
    await Promise.all([...agents.values()].map((a) => a.line(/joined/, 120_000)));
    const dns = kvkit('dns', 'serve', '--listen', '127.0.0.1:0', '--ttl', '0');
    const port = Number((await dns.line(/listening on/, 120_000)).split(':').pop());
    await cli('network', 'create', '--driver', 'overlay', '--subnet', '10.9.0.0/24', 'mh_net');
    await cli(
      'service',
      'create',
      '--name',
      'web',
      '--network',
      'mh_net',
      '--replicas',
      '8',
      '--restart-delay',
      '1s',
      '--detach',
    );
    checker = (async () => {
      while (checking) {
        await checkInvariants(state).catch((err) => {
          if (String(err).includes('slot') || String(err).includes('address')) violation ??= err;
        });
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const allRunning = () =>
      until('8 running tasks of web', async () => {
        const t = await state.listTasks({ service: 'web' });
        return t.length === 8 && t.every((x) => x.state === 'running' && x.desiredState === 'running') && t;
      });
    const dnsMatches = async (tasks: Task[]) =>
      until('dig tasks.web to match the store', async () => {
        const got = ipsOf(await dig(port, 'tasks.web', 'A'));
        return got.join(' ') === bare(tasks).join(' ') && got;
      });
    let tasks = await allRunning();
    expect(new Set(tasks.map((t) => t.nodeId)).size).toBe(4);
    await dnsMatches(tasks);
    expect(ipsOf(await dig(port, 'web', 'A'))).toHaveLength(1);

    // SIGKILL one agent: it stops beating; after 3 periods its node is down and its tasks move.
    const nodes = new Map<string, Node>((await net.listNodes()).map((n) => [n.hostname, n]));
    const victim = nodes.get('w1') as Node;
    const moved = tasks.filter((t) => t.nodeId === victim.id).map((t) => t.slot);
    const killedAt = Date.now();
    await (agents.get('w1') as KvkitProcess).kill('SIGKILL');
    await until('w1 down', async () => (await state.inspectNode('w1')).state === 'down');
    const downMs = Date.now() - killedAt;
    tasks = await until('the killed agent’s tasks replaced on the others', async () => {
      const t = await allRunning();
      return t.every((x) => x.nodeId !== victim.id) && t;
    });
    const replacedMs = Date.now() - killedAt;
    expect(moved.length).toBeGreaterThan(0);
    await dnsMatches(tasks);
    const dnsMs = Date.now() - killedAt;

    // SIGKILL the leader: nobody is marked down, the service stays at 8, the same tasks.
    const before = tasks.map((t) => t.id).sort();
    const leader = await target.killLeader();
    const killedLeaderAt = Date.now();
    await until('another acting manager to change something', async () => {
      // Proof of a live manager: a scale-up gets scheduled and run.
      await state.scaleService('web', 9);
      const t = await state.listTasks({ service: 'web' });
      return t.length === 9 && t.every((x) => x.state === 'running') && t;
    });
    const failoverMs = Date.now() - killedLeaderAt;
    // Let a whole failover grace (6 periods) pass: no agent may be judged down meanwhile.
    await new Promise((r) => setTimeout(r, 7 * HEARTBEAT_MS));
    const down = (await net.listNodes()).filter((n) => n.state === 'down').map((n) => n.hostname);
    expect(down, `nodes down after killing ${leader}`).toEqual(['w1']);
    tasks = (await net.listTasks({ service: 'web' })).filter((t) => t.slot <= 8);
    expect(tasks.map((t) => t.id).sort()).toEqual(before);
    checking = false;
    await checker;
    if (violation) throw violation;
    await checkInvariants(net);
    return { downMs, replacedMs, dnsMs, failoverMs, moved: moved.length };
  } finally {
    checking = false;
    await checker;
    await Promise.allSettled(procs.map((p) => p.kill('SIGKILL')));
    await net?.close();
    await store?.close();
  }
}
