/**
 * The stores of the scale bench, each with what the failure phase needs to kill:
 * - raft: 3 real `kvkit raft start` processes on loopback (a Swarm manager inside each, as the
 *   CLI runs them); the leader is SIGKILLed.
 * - etcd / consul: a real 3-member cluster in Docker (test/integration/clusters.ts, the kvkit/*
 *   images) through kvkit's backend, with two `kvkit manager run` processes; the store's Raft
 *   leader is SIGKILLed (`docker kill -s KILL`).
 */
import { KvkitProcess } from '../../test/discovery/cli-process.js';
import { leaderOf, type RunningCluster, startCluster } from '../../test/integration/clusters.js';
import { ProcessCluster } from '../../test/raft-cluster/processes.js';

/** How long the leader kill looks for the leader before it gives up (ms). */
const LEADER_SEARCH_MS = 60_000;

export type StoreKind = 'raft' | 'etcd' | 'consul';

export interface ScaleStore {
  kind: StoreKind;
  url: string;
  /** Processes that run managers (their CPU is the manager's cost; raft: the nodes themselves). */
  managerPids(): number[];
  /** SIGKILLs the store's Raft leader; resolves with what was killed. */
  killLeader(): Promise<string>;
  close(): Promise<void>;
}

export async function startScaleStore(kind: StoreKind, heartbeatMs: number): Promise<ScaleStore> {
  if (kind === 'raft') return startRaft();
  return startExternal(kind, heartbeatMs);
}

async function startRaft(): Promise<ScaleStore> {
  // --tick-ms 100 is the CLI's default: the Raft timing a user runs.
  const cluster = await ProcessCluster.start(3, { manager: true, tickMs: 100 });
  try {
    await cluster.leader(60_000);
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return {
    kind: 'raft',
    url: `raft://${cluster.clientAddrs().join(',')}?connectTimeoutMs=30000`,
    managerPids: () => [...cluster.procs.values()].filter((p) => p.alive).map((p) => p.child.pid ?? 0),
    async killLeader() {
      const id = await cluster.leader(60_000);
      await cluster.kill9(id);
      return `Raft leader ${id}`;
    },
    close: () => cluster.close(),
  };
}

async function startExternal(kind: 'etcd' | 'consul', heartbeatMs: number): Promise<ScaleStore> {
  // Every simulated host connects from 127.0.0.1, where a real deployment has an address per
  // host: Consul's per-client-address cap (limits.http_max_conns_per_client, 200) would refuse
  // the 10 agent processes' connections together ("socket hang up"), so it is raised here.
  const extra = kind === 'consul' ? ['-hcl', 'limits { http_max_conns_per_client = 4096 }'] : [];
  const cluster: RunningCluster = await startCluster(kind, { size: 3, extra });
  const url = `${kind}://${cluster.endpoints.join(',')}?connectTimeoutMs=30000`;
  const managers: KvkitProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      managers.push(new KvkitProcess(['manager', 'run', '--heartbeat', `${heartbeatMs}ms`, '--store', url]));
    }
    await Promise.any(managers.map((m) => m.line(/manager acting/, 120_000)));
  } catch (err) {
    await Promise.allSettled(managers.map((m) => m.kill('SIGKILL')));
    await cluster.close();
    throw err;
  }
  return {
    kind,
    url,
    managerPids: () => managers.filter((m) => m.alive).map((m) => m.child.pid ?? 0),
    async killLeader() {
      // Under the full load a member may not answer the probe in time: ask again for a while.
      const deadline = performance.now() + LEADER_SEARCH_MS;
      let leader = await leaderOf(cluster);
      let asked = 1;
      while (!leader && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
        leader = await leaderOf(cluster);
        asked++;
      }
      if (!leader)
        throw new Error(
          `${kind}: no member said it leads (asked ${asked} times in ${LEADER_SEARCH_MS / 1000} s)`,
        );
      await leader.kill();
      return `${kind} leader ${leader.name}`;
    },
    async close() {
      await Promise.allSettled(managers.map((m) => m.kill('SIGKILL')));
      await cluster.close();
    },
  };
}
