/**
 * The consistent-read test every remote backend runs: clients pinned to different members of a
 * real 3-member cluster do get / put / compare-and-swap through kvkit while members are killed
 * (SIGKILL), stopped (SIGTERM), frozen (SIGSTOP) and cut off from the others, one at a time; the history must be
 * linearizable (kvkit/testing) and every acknowledged write still there at the end.
 *
 * Reads pinned to a follower are what exposes a stale read: a client on a lagging member reads
 * a value another client's acknowledged write had already replaced (issue 12: ZooKeeper read
 * `v19008` that way before `get` synced the path).
 */
import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';
import { type BackendName, createStore, type Store } from '../../src/index.js';
import { checkLinearizability } from '../../src/testing/index.js';
import { RegisterWorkload } from '../raft-cluster/workload.js';
import {
  type ClusterKind,
  type ClusterMember,
  leaderOf,
  type RunningCluster,
  startCluster,
} from './clusters.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const report = (kind: string, line: string) => process.stdout.write(`[linearizable-reads ${kind}] ${line}\n`);

/** Two clients per member, each talking to that member only. */
const CLIENTS_PER_MEMBER = 2;
const REGISTERS = 3;
/** How long a member stays down or frozen (ms): long enough for the others to move on. */
const FAULT_MS = 2500;
/**
 * A hiccup: a follower frozen for less than the cluster takes to drop it and less than a
 * client takes to give up on it, so on waking it answers the reads queued meanwhile — before or
 * after catching up with the writes the others committed in between (the stale-read window).
 */
const HICCUP_MS = 800;
/** Quiet time after each fault, so the member catches up and serves again (ms). */
const SETTLE_MS = 1500;

export interface LinearizableReadsOptions {
  kind: ClusterKind;
  backend: BackendName;
  /** The store's connect timeout: how long a call waits for an absent member (ms). */
  connectTimeoutMs?: number;
  /** The faults injected, in order (default FAULTS). */
  faults?: Fault[];
}

/** One fault on one member, by role at the time it is chosen. */
export type Fault = {
  action: 'kill' | 'stop' | 'freeze' | 'hiccup' | 'isolate';
  target: 'leader' | 'follower';
};

export const FAULTS: Fault[] = [
  { action: 'isolate', target: 'follower' },
  { action: 'kill', target: 'leader' },
  { action: 'hiccup', target: 'follower' },
  { action: 'isolate', target: 'follower' },
  { action: 'stop', target: 'follower' },
  { action: 'freeze', target: 'leader' },
  { action: 'kill', target: 'follower' },
  { action: 'stop', target: 'leader' },
];

async function pick(cluster: RunningCluster, target: Fault['target'], round: number): Promise<ClusterMember> {
  const leader = await leaderOf(cluster);
  if (target === 'leader' && leader) return leader;
  const followers = cluster.members.filter((m) => m !== leader);
  return followers[round % followers.length];
}

async function inject(member: ClusterMember, fault: Fault): Promise<void> {
  if (fault.action === 'isolate') {
    await member.isolate();
    await sleep(FAULT_MS);
    await member.heal();
  } else if (fault.action === 'freeze' || fault.action === 'hiccup') {
    await member.freeze();
    await sleep(fault.action === 'freeze' ? FAULT_MS : HICCUP_MS);
    await member.thaw();
  } else {
    await (fault.action === 'kill' ? member.kill() : member.stop());
    await sleep(FAULT_MS);
    await member.start();
  }
}

/** How long a member restarted by the last fault may take to serve again (ms). */
const SERVE_AGAIN_MS = 120_000;

/** `list` through `store`, retried while its member does not answer yet (a JVM restarting). */
async function listOnceServing(store: Store, prefix: string) {
  const deadline = performance.now() + SERVE_AGAIN_MS;
  for (;;) {
    try {
      return await store.list(prefix);
    } catch (err) {
      if (performance.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/**
 * A failed verdict in brief: the faults (ms from the start) and the counterexample's ops, each
 * with its client's member, its times and its answer.
 */
function whyNot(
  verdict: ReturnType<typeof checkLinearizability>,
  injected: string[],
  members: string[],
  started: number,
): string {
  if (verdict.timedOut) return `check timed out; faults: ${injected.join('; ')}`;
  const at = (t: number | null) => (t === null ? 'never' : String(Math.round(t - started)));
  const ops = (verdict.counterexample ?? []).slice(-8).map((op) => {
    const member = members[Math.floor(op.process / CLIENTS_PER_MEMBER)];
    return `p${op.process}(${member}) ${op.f} ${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)} [${at(op.call)}..${at(op.ret)}]`;
  });
  return [
    `NOT LINEARIZABLE; faults: ${injected.join('; ')}`,
    `key ${verdict.counterexample?.[0]?.key}, last ops:`,
    ...ops,
  ].join('\n');
}

/** Runs the whole test; resolves when the history checked out (assertions inside). */
export async function checkLinearizableReads(options: LinearizableReadsOptions): Promise<void> {
  const { kind, backend } = options;
  const cluster = await startCluster(kind);
  const stores: Store[] = [];
  try {
    const open = (endpoints: string[]) =>
      createStore({ backend, endpoints, connectTimeoutMs: options.connectTimeoutMs ?? 2000 });
    for (const member of cluster.members) {
      for (let i = 0; i < CLIENTS_PER_MEMBER; i++) stores.push(await open([member.endpoint]));
    }
    const run = `lin/${Date.now().toString(36)}`;
    const keys = Array.from({ length: REGISTERS }, (_, i) => `${run}/r${i}`);
    const workload = new RegisterWorkload(stores, keys, `${run}/acks`, 2);
    const injected: string[] = [];
    const started = performance.now();
    try {
      await sleep(SETTLE_MS);
      for (const [round, fault] of (options.faults ?? FAULTS).entries()) {
        const member = await pick(cluster, fault.target, round);
        injected.push(
          `${fault.action} ${fault.target} ${member.name} @${Math.round(performance.now() - started)}`,
        );
        await inject(member, fault);
        await sleep(fault.action === 'hiccup' ? HICCUP_MS : SETTLE_MS);
      }
    } finally {
      await workload.stop();
    }
    const { history, stats } = workload;
    report(
      kind,
      `${Math.round((performance.now() - started) / 1000)} s of load, faults: ${injected.join('; ')}; ` +
        `${stats.ops} ops, ${stats.ok} ok, ${stats.indeterminate} indeterminate writes, ` +
        `${stats.failedReads} failed reads, ${stats.acked.length} acknowledged appends`,
    );

    const checkStarted = performance.now();
    const verdict = checkLinearizability(history, { timeoutMs: 60_000 });
    report(kind, `checked ${history.length} ops in ${Math.round(performance.now() - checkStarted)} ms`);
    if (!verdict.ok) report(kind, `NOT LINEARIZABLE: ${JSON.stringify(verdict).slice(0, 4000)}`);
    // An undecided check fails too: `timedOut` would show up in the verdict. The message says
    // why in a few lines (the tail of a CI log may be all a reader sees).
    expect(
      verdict,
      verdict.ok
        ? ''
        : whyNot(
            verdict,
            injected,
            cluster.members.map((m) => m.name),
            started,
          ),
    ).toEqual({
      ok: true,
    });

    // Not a vacuous pass: reads, writes and swaps completed on every register, around the faults.
    const completed = (f: string) => history.filter((op) => op.f === f && op.ret !== null).length;
    expect(completed('get')).toBeGreaterThan(200);
    expect(completed('put')).toBeGreaterThan(100);
    expect(
      history.filter((op) => op.f === 'cas' && op.ret !== null && op.output === true).length,
    ).toBeGreaterThan(20);

    // Every acknowledged append is there, listed through each member in turn: `list` is
    // consistent, so even the member restarted last (possibly still catching up) shows them all.
    for (const member of cluster.members) {
      const check = await open([member.endpoint]);
      stores.push(check);
      const listed = await listOnceServing(check, `${run}/acks`);
      const present = new Set(listed.map((p) => p.key));
      expect({ member: member.name, missing: stats.acked.filter((k) => !present.has(k)) }).toEqual({
        member: member.name,
        missing: [],
      });
    }
  } finally {
    await Promise.allSettled(stores.map((s) => s.close()));
    await cluster.close();
  }
}
