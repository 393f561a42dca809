import { createRng } from '../../raft/core/rng.js';
import { shuffle } from '../core/random.js';
import { SimGossipCluster, type SimGossipNode } from './cluster.js';
import { GossipChecker } from './invariants.js';

export interface GossipSimulationOptions {
  seed: number;
  /** Virtual ms of faults and writes; then everything heals and the cluster must agree. */
  faultPhaseMs?: number;
  /** Virtual ms allowed for agreement after healing. */
  settleLimitMs?: number;
  keepTrace?: boolean;
  /** Receives a line per core event (members, records, warnings), for debugging a seed. */
  debugLog?: (line: string) => void;
  /** Called with the cluster when the run ends (debugging). */
  inspect?: (cluster: SimGossipCluster) => void;
}

/** What a seed chose, reported with a failure. */
export interface GossipSimulationParameters {
  nodes: number;
  networks: number;
  lossRate: number;
  duplicateRate: number;
  maxDelayMs: number;
  tombstoneLifetimeMs: number;
  lifeguard: boolean;
  slowNodes: boolean;
  faultIntervalMs: number;
  writeIntervalMs: number;
}

export interface GossipSimulationResult {
  ok: boolean;
  seed: number;
  failure?: string;
  replay: string;
  parameters: GossipSimulationParameters;
  stats: {
    events: number;
    packets: number;
    streams: number;
    writes: number;
    deletes: number;
    crashes: number;
    restarts: number;
    leaves: number;
    partitions: number;
    networkChanges: number;
    recordsApplied: number;
    deletesApplied: number;
    declaredDead: number;
    /** Virtual ms from healing to agreement. */
    settleMs: number;
  };
  trace?: string[];
}

const NETWORKS = ['net-a', 'net-b', 'net-c'];
const TABLES = ['endpoint_table', 'overlay_peer_table'];
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];

export function gossipReplayCommand(seed: number): string {
  return `npm run sim:gossip -- --seed ${seed}`;
}

export function gossipParametersFor(seed: number): GossipSimulationParameters {
  const rng = createRng(seed * 7919 + 17);
  const choose = <T>(options: T[]): T => options[rng.nextInt(options.length)];
  return {
    nodes: 3 + rng.nextInt(8),
    networks: 1 + rng.nextInt(3),
    lossRate: choose([0, 0.01, 0.05, 0.1]),
    duplicateRate: choose([0, 0, 0.02]),
    maxDelayMs: choose([2, 10, 40]),
    tombstoneLifetimeMs: choose([30 * 60_000, 180_000]),
    lifeguard: rng.next() < 0.9,
    slowNodes: rng.next() < 0.3,
    faultIntervalMs: choose([1000, 3000, 6000]),
    writeIntervalMs: choose([100, 400]),
  };
}

/** Runs one seeded cluster through faults, then checks agreement. Deterministic for the seed. */
export function runGossipSimulation(options: GossipSimulationOptions): GossipSimulationResult {
  const { seed } = options;
  const faultPhaseMs = options.faultPhaseMs ?? 60_000;
  const settleLimitMs = options.settleLimitMs ?? 400_000;
  const p = gossipParametersFor(seed);
  const cluster = new SimGossipCluster({
    seed,
    faults: {
      lossRate: p.lossRate,
      duplicateRate: p.duplicateRate,
      minDelayMs: 0.5,
      maxDelayMs: p.maxDelayMs,
    },
    config: { tombstoneLifetimeMs: p.tombstoneLifetimeMs, lifeguard: p.lifeguard },
  });
  const debugLog = options.debugLog;
  if (debugLog) {
    cluster.onEvent((node, event) => {
      const { kind, ...rest } = event;
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${v instanceof Uint8Array ? Buffer.from(v).toString() : v}`)
        .join(' ');
      debugLog(`${cluster.queue.now.toFixed(1)} ${node.name}#${node.life} ${kind} ${fields}`);
    });
  }
  const checker = new GossipChecker(cluster);
  const rng = createRng(seed ^ 0x2545f491);
  // A member whose join found nobody tries again, as an agent would after startGossip failed.
  cluster.onEvent((node, event) => {
    if (event.kind !== 'joined' || event.ok) return;
    const life = node.life;
    cluster.queue.schedule(5000, () => {
      const addrs = joinAddrs(node);
      if (node.life === life && node.up && addrs.length > 0) node.host?.run((c, now) => c.join(now, addrs));
    });
  });
  const trace: string[] = [];
  const stats: GossipSimulationResult['stats'] = {
    events: 0,
    packets: 0,
    streams: 0,
    writes: 0,
    deletes: 0,
    crashes: 0,
    restarts: 0,
    leaves: 0,
    partitions: 0,
    networkChanges: 0,
    recordsApplied: 0,
    deletesApplied: 0,
    declaredDead: 0,
    settleMs: 0,
  };
  const networks = NETWORKS.slice(0, p.networks);
  const log = (what: string): void => {
    trace.push(`${cluster.queue.now.toFixed(0)}ms ${what}`);
  };
  const result = (failure?: string): GossipSimulationResult => {
    stats.events = cluster.events;
    stats.packets = cluster.network.totals.packets;
    stats.streams = cluster.network.totals.streams;
    stats.recordsApplied = checker.stats.recordsApplied;
    stats.deletesApplied = checker.stats.deletesApplied;
    stats.declaredDead = checker.stats.declaredDead;
    return {
      ok: failure === undefined,
      seed,
      failure,
      replay: gossipReplayCommand(seed),
      parameters: p,
      stats,
      trace: failure !== undefined || options.keepTrace ? trace : undefined,
    };
  };

  const nodes: SimGossipNode[] = [];
  for (let i = 0; i < p.nodes; i++) nodes.push(cluster.addNode(`node-${i + 1}`));
  const pick = <T>(items: T[]): T | undefined =>
    items.length === 0 ? undefined : items[rng.nextInt(items.length)];
  const joinAddrs = (self: SimGossipNode): string[] =>
    shuffle(
      rng,
      cluster.upNodes().filter((n) => n !== self && n.core.memberState(n.name) !== 'left'),
    )
      .slice(0, 3)
      .map((n) => n.addr);
  const joinNetworks = (node: SimGossipNode): void => {
    for (const network of networks) {
      if (rng.next() < 0.7 || network === networks[0]) {
        checker.noteJoin(node, network);
        node.host?.run((c, now) => c.joinNetwork(now, network));
      }
    }
  };
  const start = (node: SimGossipNode): void => {
    node.start(joinAddrs(node));
    joinNetworks(node);
  };

  try {
    // Bring the cluster up, one member every 200 ms, each joining through those already up.
    for (const node of nodes) {
      start(node);
      cluster.runUntil(cluster.queue.now + 200);
    }
    cluster.runUntil(cluster.queue.now + 3000);

    let faultsOn = true;
    const later = (delayMs: number, run: () => void): void => {
      cluster.queue.schedule(delayMs, run);
    };
    const live = (): SimGossipNode[] =>
      cluster.upNodes().filter((n) => n.core.memberState(n.name) !== 'left');

    const write = (): void => {
      if (!faultsOn) return;
      const node = pick(live());
      if (node) {
        const network = pick(node.core.joinedNetworks());
        if (network) {
          const table = pick(TABLES) as string;
          const key = pick(KEYS) as string;
          if (rng.next() < 0.7) {
            const value = new TextEncoder().encode(`${node.name}@${cluster.queue.now.toFixed(0)}`);
            node.host?.run((c, now) => c.setEntry(now, network, table, key, value));
            stats.writes++;
          } else {
            node.host?.run((c, now) => c.deleteEntry(now, network, table, key));
            stats.deletes++;
          }
        }
      }
      later(rng.next() * 2 * p.writeIntervalMs, write);
    };
    later(0, write);

    const fault = (): void => {
      if (!faultsOn) return;
      const roll = rng.next() * 12;
      const running = live();
      if (roll < 2 && !cluster.network.partitioned && running.length >= 2) {
        const order = shuffle(rng, [...cluster.nodes.values()]);
        const cut = 1 + rng.nextInt(order.length - 1);
        cluster.network.partition([
          order.slice(0, cut).map((n) => n.addr),
          order.slice(cut).map((n) => n.addr),
        ]);
        stats.partitions++;
        log(`partition ${order.slice(0, cut).map((n) => n.name)} | ${order.slice(cut).map((n) => n.name)}`);
        later(2000 + rng.next() * 28_000, () => {
          if (faultsOn && cluster.network.partitioned) {
            cluster.network.heal();
            log('heal');
          }
        });
      } else if (roll < 4 && running.length > 2) {
        const node = pick(running) as SimGossipNode;
        node.crash();
        stats.crashes++;
        log(`crash ${node.name}`);
        if (rng.next() < 0.7) {
          later(3000 + rng.next() * 37_000, () => {
            if (!faultsOn || node.up) return;
            start(node);
            stats.restarts++;
            log(`restart ${node.name}`);
          });
        }
      } else if (roll < 5 && running.length > 2) {
        const node = pick(running) as SimGossipNode;
        for (const network of node.core.joinedNetworks()) checker.noteLeave(node, network);
        node.host?.run((c, now) => c.leave(now));
        stats.leaves++;
        log(`leave ${node.name}`);
        later(2000, () => node.crash());
        if (rng.next() < 0.5) {
          later(5000 + rng.next() * 25_000, () => {
            if (!faultsOn || node.up) return;
            start(node);
            stats.restarts++;
            log(`rejoin ${node.name}`);
          });
        }
      } else if (roll < 8) {
        const node = pick(running);
        const network = pick(networks) as string;
        if (node) {
          stats.networkChanges++;
          if (node.core.isOnNetwork(network)) {
            checker.noteLeave(node, network);
            node.host?.run((c, now) => c.leaveNetwork(now, network));
            log(`${node.name} leaves ${network}`);
          } else {
            checker.noteJoin(node, network);
            node.host?.run((c, now) => c.joinNetwork(now, network));
            log(`${node.name} joins ${network}`);
          }
        }
      } else if (roll < 9 && p.slowNodes) {
        const node = pick(running);
        if (node) {
          node.slowMs = node.slowMs > 0 ? 0 : 200 + rng.next() * 1300;
          log(`${node.name} slow ${node.slowMs.toFixed(0)} ms`);
        }
      } else if (roll < 10) {
        cluster.network.faults = {
          ...cluster.network.faults,
          lossRate: pick([0, p.lossRate, 0.2]) as number,
        };
        log(`loss ${cluster.network.faults.lossRate}`);
      } else if (roll < 12 && running.length >= 2) {
        const node = pick(running) as SimGossipNode;
        cluster.network.partition([[node.addr]]);
        stats.partitions++;
        log(`isolate ${node.name}`);
        later(2000 + rng.next() * 20_000, () => {
          if (faultsOn && cluster.network.partitioned) {
            cluster.network.heal();
            log('heal');
          }
        });
      }
      later(rng.next() * 2 * p.faultIntervalMs, fault);
    };
    later(p.faultIntervalMs, fault);

    const faultEnd = cluster.queue.now + faultPhaseMs;
    cluster.runUntil(faultEnd);

    // Heal everything; restart about half of the stopped members, leave the rest stopped.
    faultsOn = false;
    cluster.network.heal();
    cluster.network.faults = { ...cluster.network.faults, lossRate: 0, duplicateRate: 0 };
    for (const node of cluster.nodes.values()) node.slowMs = 0;
    for (const node of cluster.nodes.values()) {
      if (node.up && node.core.memberState(node.name) === 'left') node.crash();
    }
    for (const node of cluster.nodes.values()) {
      if (!node.up && rng.next() < 0.5) {
        start(node);
        stats.restarts++;
        log(`restart ${node.name} (heal)`);
      }
    }
    if (cluster.upNodes().length === 0) start(nodes[0]);
    log('heal all');
    const healedAt = cluster.queue.now;
    let problem: string | null = checker.agreement();
    const agreed = cluster.runUntilTrue(() => (problem = checker.agreement()) === null, settleLimitMs, 1000);
    stats.settleMs = cluster.queue.now - healedAt;
    options.inspect?.(cluster);
    if (!agreed) return result(`liveness: no agreement ${settleLimitMs} ms after healing: ${problem}`);
  } catch (err) {
    if (err instanceof Error && 'code' in err) return result(`${err.name}: ${err.message}`);
    throw err;
  }
  return result();
}
