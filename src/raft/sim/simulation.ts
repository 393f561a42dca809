import { checkLinearizability, type Op } from '../../testing/index.js';
import { createRng } from '../core/index.js';
import { SimClient } from './client.js';
import { type ClusterOptions, SimCluster } from './cluster.js';
import { Nemesis } from './nemesis.js';
import type { SimNode } from './sim-node.js';

/** Decides whether a client history is linearizable (pluggable for tests of the simulator). */
export type HistoryChecker = (ops: Op[]) => { ok: boolean | null; timedOut?: boolean; counterexample?: Op[] };

export interface SimulationOptions {
  seed: number;
  /** Initial voters: 3 or 5. */
  nodes: number;
  /** Virtual milliseconds of faults; then everything heals and the cluster must converge. */
  faultPhaseMs?: number;
  /** Virtual milliseconds of healthy operation after the fault phase. */
  settlePhaseMs?: number;
  checkHistory?: HistoryChecker;
  /** Keep the nemesis trace in the result even when the run passed. */
  keepTrace?: boolean;
  /** Return the client history in the result. */
  keepHistory?: boolean;
  /** Receives a line per delivered message and per Ready (for debugging a seed). */
  debugLog?: (line: string) => void;
  /** Options of every node's `KvStateMachine` (tests shrink the session window to see the checks fire). */
  stateMachine?: ClusterOptions['stateMachine'];
}

/** The knobs a seed picks, reported so a failing run can be understood. */
export interface SimulationParameters {
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  snapshotChunkSize: number;
  snapshotEvery: number;
  /** Entries kept in the log behind each snapshot, for followers slightly behind. */
  retainEntries: number;
  lossRate: number;
  duplicateRate: number;
  maxDelayMs: number;
  diskDelayMaxMs: number;
  readViaIndex: boolean;
  faultIntervalMs: number;
  /** Client workers, each with one operation at a time. */
  clients: number;
  /** Client sessions the workers share (one session with several workers pipelines its requests). */
  sessions: number;
  /** Clients also write keys with a TTL, which the leader's lease clock revokes. */
  leases: boolean;
  /** Replies each client session remembers (`repliesPerSession`); older retries are refused. */
  sessionWindow: number;
  /** Readys each node writes at once (the driver's pipelining). */
  maxWritesInFlight: number;
}

export interface SimulationResult {
  ok: boolean;
  seed: number;
  nodes: number;
  /** What failed: an invariant, liveness after healing, or linearizability. */
  failure?: string;
  /** One-line command that replays this run. */
  replay: string;
  parameters: SimulationParameters;
  stats: {
    events: number;
    messages: number;
    ops: number;
    opsAnswered: number;
    /** Commands the state machine applied (first application of each log index). */
    commandsApplied: number;
    /** Retried requests that reached the log again and were answered from the client session. */
    duplicatesAnswered: number;
    /** Of those, retries the session refused as ALREADY_APPLIED (their answer left its window). */
    duplicatesRefused: number;
    leasePuts: number;
    leaseReads: number;
    /** Leases the leader's clock revoked (and keys they deleted). */
    leasesRevoked: number;
    keysRevoked: number;
    entriesCommitted: number;
    leadersElected: number;
    snapshotsInstalled: number;
    crashes: number;
    partitions: number;
    confChanges: number;
    /** Messages the driver's per-peer merging folded into others (coalesce.ts). */
    messagesMerged: number;
    /** Leader messages sent before their Ready's write completed (early send). */
    messagesSentEarly: number;
    /** Writes issued while an earlier one was still in flight (maxWritesInFlight > 1). */
    writesPipelined: number;
  };
  trace?: string[];
  counterexample?: Op[];
  history?: Op[];
}

const KEYS = ['a', 'b', 'c'];
/** Keys written with a TTL (kept apart: the linearizability checker's registers have no expiry). */
const LEASE_KEYS = ['t/x', 't/y'];

export function replayCommand(seed: number, nodes: number): string {
  return `npm run sim -- --seed ${seed} --nodes ${nodes}`;
}

/** Picks the run's parameters from its seed (a separate stream from the run's own randomness). */
export function parametersFor(seed: number, nodes: number): SimulationParameters {
  const rng = createRng(seed * 7919 + nodes);
  const choose = <T>(options: T[]): T => options[rng.nextInt(options.length)];
  const params: SimulationParameters = {
    tickMs: 10,
    electionTick: 10,
    heartbeatTick: choose([1, 2, 3]),
    preVote: rng.next() < 0.8,
    checkQuorum: rng.next() < 0.8,
    maxSizePerMsg: choose([64, 512, 1024 * 1024]),
    maxInflightMsgs: choose([1, 4, 256]),
    snapshotChunkSize: choose([64, 512, 1024 * 1024]),
    snapshotEvery: choose([8, 32, 1000]),
    retainEntries: choose([0, 4, 32]),
    lossRate: choose([0, 0.02, 0.1]),
    duplicateRate: choose([0, 0.02, 0.1]),
    maxDelayMs: choose([2, 10, 40]),
    diskDelayMaxMs: choose([0, 1, 5]),
    readViaIndex: rng.next() < 0.7,
    faultIntervalMs: choose([60, 150, 300]),
    clients: choose([3, 5]),
    leases: rng.next() < 0.5,
    sessions: 0,
    sessionWindow: 0,
    maxWritesInFlight: 1,
  };
  params.sessions = choose([1, 2, params.clients]);
  params.sessionWindow = choose([1, 16, 1024]);
  params.maxWritesInFlight = choose([1, 2, 4]);
  return params;
}

/** Runs one simulated cluster from a seed and checks it. Deterministic for (seed, nodes). */
export function runSimulation(options: SimulationOptions): SimulationResult {
  const { seed, nodes } = options;
  const faultPhaseMs = options.faultPhaseMs ?? 3000;
  const settlePhaseMs = options.settlePhaseMs ?? 2000;
  const checkHistory =
    options.checkHistory ?? ((ops: Op[]) => checkLinearizability(ops, { timeoutMs: 30_000 }));
  const p = parametersFor(seed, nodes);

  const cluster = new SimCluster({
    seed,
    debugLog: options.debugLog,
    tickMs: p.tickMs,
    diskDelayMaxMs: p.diskDelayMaxMs,
    maxWritesInFlight: p.maxWritesInFlight,
    snapshotEvery: p.snapshotEvery,
    retainEntries: p.retainEntries,
    stateMachine: options.stateMachine ?? { repliesPerSession: p.sessionWindow },
    faults: {
      lossRate: p.lossRate,
      duplicateRate: p.duplicateRate,
      minDelayMs: 0.5,
      maxDelayMs: p.maxDelayMs,
    },
    raft: {
      electionTick: p.electionTick,
      heartbeatTick: p.heartbeatTick,
      preVote: p.preVote,
      checkQuorum: p.checkQuorum,
      maxSizePerMsg: p.maxSizePerMsg,
      maxInflightMsgs: p.maxInflightMsgs,
      snapshotChunkSize: p.snapshotChunkSize,
    },
  });
  const voters = cluster.peekIds(nodes);
  for (let i = 0; i < nodes; i++) cluster.createNode(voters).start();

  const nemesis = new Nemesis(cluster, {
    minVoters: Math.max(2, nodes - 1),
    maxVoters: nodes + 1,
    maxLearners: 2,
  });
  const history: Op[] = [];
  let processes = 0;
  const sessions = Array.from({ length: p.sessions }, (_, i) => ({ id: `c${i + 1}`, seq: 0 }));
  const clients = Array.from(
    { length: p.clients },
    (_, i) =>
      new SimClient({
        cluster,
        session: sessions[i % sessions.length],
        keys: KEYS,
        leaseKeys: p.leases ? LEASE_KEYS : [],
        leaseTtlMs: [50, 300],
        readViaIndex: p.readViaIndex,
        attemptTimeoutMs: 250,
        opDeadlineMs: 1500,
        thinkMs: 30,
        history,
        newProcess: () => ++processes,
      }),
  );
  for (const client of clients) client.start();

  const scheduleFault = (): void => {
    cluster.queue.schedule(cluster.rng.next() * 2 * p.faultIntervalMs, () => {
      if (cluster.queue.now >= faultPhaseMs) return;
      nemesis.step();
      scheduleFault();
    });
  };
  scheduleFault();
  // Removed servers are shut down once their removal commits (checked throughout the run).
  const scheduleRetire = (): void => {
    cluster.queue.schedule(100, () => {
      nemesis.retireRemovedNodes();
      scheduleRetire();
    });
  };
  scheduleRetire();

  const result = (failure?: string, counterexample?: Op[]): SimulationResult => ({
    ok: failure === undefined,
    seed,
    nodes,
    failure,
    replay: replayCommand(seed, nodes),
    parameters: p,
    stats: {
      events: cluster.events,
      messages: cluster.network.stats.sent,
      ops: history.length,
      opsAnswered: history.filter((op) => op.ret !== null).length,
      commandsApplied: cluster.kvChecker.stats.commandsApplied,
      duplicatesAnswered: cluster.kvChecker.stats.duplicatesAnswered,
      duplicatesRefused: cluster.kvChecker.stats.duplicatesRefused,
      leasePuts: sum(clients.map((c) => c.stats.leasePuts)),
      leaseReads: sum(clients.map((c) => c.stats.leaseReads)),
      leasesRevoked: cluster.kvChecker.stats.leasesRevoked,
      keysRevoked: cluster.kvChecker.stats.keysRevoked,
      entriesCommitted: cluster.checker.stats.entriesCommitted,
      leadersElected: cluster.checker.stats.leadersElected,
      snapshotsInstalled: cluster.checker.stats.snapshotsInstalled,
      crashes: nemesis.stats.crashes,
      partitions: nemesis.stats.partitions,
      confChanges: nemesis.stats.confChanges,
      ...driverTotals(cluster.nodes.values()),
    },
    trace: failure !== undefined || options.keepTrace ? nemesis.trace : undefined,
    counterexample,
    history: options.keepHistory ? history : undefined,
  });

  let liveness: string | undefined;
  try {
    cluster.runUntil(faultPhaseMs);
    // Heal, stop injecting faults, let the cluster converge while clients keep going.
    nemesis.healAll();
    cluster.network.faults = { ...cluster.network.faults, lossRate: 0, duplicateRate: 0 };
    cluster.runUntil(faultPhaseMs + settlePhaseMs);
    for (const client of clients) client.stop();
    // Quiet time: in-flight operations finish or time out, replication catches up.
    cluster.runUntil(faultPhaseMs + settlePhaseMs + 1500);
    // Slow configurations (tiny snapshot chunks over slow links) may need longer.
    liveness = awaitConvergence(cluster, 5000);
    // Every TTL key expires once the clients stop: the last leader's clock revokes them all.
    liveness ??= awaitLeasesRevoked(cluster, 3000) ?? awaitConvergence(cluster, 5000);
    if (!liveness) cluster.kvChecker.checkSameImages(members(cluster));
  } catch (err) {
    // Invariant violations and errors of the core (RaftError, RaftInvariantError) fail the run.
    if (err instanceof Error && 'code' in err) return result(`${err.name}: ${err.message}`);
    throw err;
  }
  if (liveness) return result(liveness);

  const verdict = checkHistory(history);
  if (!verdict.ok) {
    return result(
      verdict.timedOut ? 'linearizability check timed out (undecided)' : 'history is not linearizable',
      verdict.counterexample,
    );
  }
  return result();
}

/** Runs until the cluster has converged or `limitMs` passed; returns what is still wrong, if anything. */
function awaitConvergence(cluster: SimCluster, limitMs: number): string | undefined {
  const deadline = cluster.queue.now + limitMs;
  let problem = checkConverged(cluster);
  while (problem && cluster.queue.now < deadline) {
    cluster.runUntil(cluster.queue.now + 100);
    problem = checkConverged(cluster);
  }
  return problem;
}

/** Running members of the leader's configuration (call once converged). */
function members(cluster: SimCluster): SimNode[] {
  const leader = cluster.leader();
  if (!leader) return [];
  const { voters, learners } = leader.status.confState;
  return [...voters, ...learners].map((id) => cluster.nodes.get(id) as SimNode);
}

/** Runs until no member holds a lease, or `limitMs` passed; returns what is still alive, if anything. */
function awaitLeasesRevoked(cluster: SimCluster, limitMs: number): string | undefined {
  const deadline = cluster.queue.now + limitMs;
  const alive = (): string[] =>
    members(cluster).flatMap((n) => n.sm.leases().map((l) => `${n.id}: lease ${l.lease} (${l.ttlMs} ms)`));
  while (alive().length > 0 && cluster.queue.now < deadline) cluster.runUntil(cluster.queue.now + 50);
  const left = alive();
  if (left.length === 0) return undefined;
  return `liveness: leases still alive ${limitMs} ms after the cluster converged: ${left.join(', ')}`;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** After healing, a leader must exist and every member must have applied all it committed. */
function checkConverged(cluster: SimCluster): string | undefined {
  const leader = cluster.leader();
  if (!leader) return 'liveness: no leader after the network healed and every node restarted';
  const { confState, commit } = leader.status;
  for (const id of [...confState.voters, ...confState.learners]) {
    const node = cluster.nodes.get(id);
    if (!node?.up) return `liveness: member ${id} is not running at the end`;
    if (node.appliedIndex !== commit) {
      return `liveness: member ${id} applied ${node.appliedIndex}, leader ${leader.node.id} committed ${commit}`;
    }
  }
  return undefined;
}

/** The driver counters of every node that ever ran (removed ones included). */
function driverTotals(nodes: Iterable<SimNode>): SimNode['driverStats'] {
  const total = { messagesMerged: 0, messagesSentEarly: 0, writesPipelined: 0 };
  for (const node of nodes) {
    for (const name of Object.keys(total) as (keyof typeof total)[]) total[name] += node.driverStats[name];
  }
  return total;
}
