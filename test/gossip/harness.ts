import type { GossipConfig } from '../../src/gossip/core/config.js';
import type { CoreEvent, GossipCore } from '../../src/gossip/core/core.js';
import { SimGossipCluster, type SimGossipNode } from '../../src/gossip/sim/cluster.js';

export interface TestCluster {
  cluster: SimGossipCluster;
  nodes: SimGossipNode[];
  /** Advances virtual time. */
  run(ms: number): void;
  /** Runs until `done()` holds, up to `limitMs` of virtual time; throws if it never does. */
  until(done: () => boolean, limitMs?: number, what?: string): void;
  node(name: string): SimGossipNode;
  core(name: string): GossipCore;
  /** Runs `fn` on a node's core at the current virtual time, delivering its output. */
  on<T>(name: string, fn: (core: GossipCore, now: number) => T): T;
  events: { node: string; event: CoreEvent }[];
}

/** A converged cluster of `n` members (node-1 … node-n), each on the networks `networksOf` gives. */
export function startCluster(opts: {
  nodes: number;
  seed?: number;
  config?: Partial<GossipConfig>;
  networksOf?: (index: number) => string[];
  lossRate?: number;
}): TestCluster {
  const cluster = new SimGossipCluster({
    seed: opts.seed ?? 1,
    config: opts.config,
    faults: { lossRate: opts.lossRate ?? 0 },
  });
  const events: TestCluster['events'] = [];
  cluster.onEvent((node, event) => events.push({ node: node.name, event }));
  const nodes: SimGossipNode[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const node = cluster.addNode(`node-${i + 1}`);
    nodes.push(node);
    node.start(i === 0 ? [] : [nodes[0].addr]);
    for (const network of opts.networksOf?.(i) ?? []) node.host?.run((c, now) => c.joinNetwork(now, network));
    cluster.runUntil(cluster.queue.now + 100);
  }
  const t: TestCluster = {
    cluster,
    nodes,
    events,
    run: (ms) => cluster.runUntil(cluster.queue.now + ms),
    until: (done, limitMs = 120_000, what = 'condition') => {
      if (!cluster.runUntilTrue(done, limitMs, 50))
        throw new Error(`${what} did not hold within ${limitMs} virtual ms`);
    },
    node: (name) => cluster.nodes.get(name) as SimGossipNode,
    core: (name) => t.node(name).core,
    on: (name, fn) => {
      const host = t.node(name).host;
      if (!host) throw new Error(`${name} is down`);
      return host.run(fn);
    },
  };
  t.until(() => nodes.every((n) => n.core.liveMembers === opts.nodes), 60_000, 'membership convergence');
  return t;
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (value: Uint8Array | null): string | null =>
  value === null ? null : new TextDecoder().decode(value);
