import { createRng, hashSeed } from '../../raft/core/rng.js';
import { EventQueue } from '../../raft/sim/event-queue.js';
import type { GossipConfig } from '../core/config.js';
import { type CoreEvent, GossipCore } from '../core/core.js';
import type { CoreRng } from '../core/random.js';
import type { AttachmentRecord, MemberRecord } from '../core/streams.js';
import { GossipHost } from '../host.js';
import { type GossipLinkFaults, type SimEndpoint, SimGossipNetwork } from './network.js';

/** Receives every event of every node (the invariant checker, benchmarks). */
export type ClusterObserver = (node: SimGossipNode, event: CoreEvent) => void;

/**
 * One simulated process: a name and address, and while it runs a GossipHost around a fresh
 * GossipCore (a restart loses all state, as a SIGKILL does). A slow node processes every
 * packet and timer late by a random delay up to `slowMs` (a starved CPU, Lifeguard §V).
 */
export class SimGossipNode implements SimEndpoint {
  host: GossipHost | null = null;
  /** Increases at every start; callbacks of an older life are ignored. */
  life = 0;
  slowMs = 0;
  private wakeAt = Number.POSITIVE_INFINITY;
  private cancelWake: (() => void) | null = null;

  constructor(
    readonly cluster: SimGossipCluster,
    readonly name: string,
    readonly addr: string,
  ) {}

  get up(): boolean {
    return this.host !== null;
  }

  get core(): GossipCore {
    if (!this.host) throw new Error(`${this.name} is not running`);
    return this.host.core;
  }

  start(join: string[] = []): void {
    if (this.host) return;
    const life = ++this.life;
    const cluster = this.cluster;
    const core = new GossipCore({
      name: this.name,
      addr: this.addr,
      seed: hashSeed(`${cluster.seed}/${this.name}/${life}`),
      now: cluster.queue.now,
      config: cluster.config,
      observe: true,
    });
    this.host = new GossipHost(core, {
      now: () => cluster.queue.now,
      sendPacket: (to, bytes) => cluster.network.sendPacket(this.addr, to, bytes),
      openStream: (id, to, bytes) =>
        cluster.network.openStream(this.addr, to, bytes, (answer, error) => {
          this.later(life, () => this.host?.streamAnswer(id, answer, error));
        }),
      wakeAt: (at) => this.arm(life, at),
      onEvent: (event) => cluster.observe(this, event),
    });
    if (join.length > 0) this.host.run((c, now) => c.join(now, join));
  }

  /** Stops without telling anyone (close without leave). */
  crash(): void {
    this.host = null;
    this.cancelWake?.();
    this.cancelWake = null;
    this.wakeAt = Number.POSITIVE_INFINITY;
  }

  deliverPacket(from: string, bytes: Uint8Array): void {
    const life = this.life;
    this.later(life, () => this.host?.packet(from, bytes));
  }

  deliverStream(from: string, bytes: Uint8Array): Uint8Array | null {
    // Streams are answered at once: a slow node's late answers are modelled on packets and timers.
    return this.host ? this.host.stream(from, bytes) : null;
  }

  private later(life: number, run: () => void): void {
    if (this.slowMs > 0) {
      this.cluster.queue.schedule(this.cluster.rng.next() * this.slowMs, () => {
        if (this.life === life) run();
      });
    } else if (this.life === life) run();
  }

  private arm(life: number, at: number): void {
    if (at >= this.wakeAt || at === Number.POSITIVE_INFINITY) return;
    this.cancelWake?.();
    this.wakeAt = at;
    const queue = this.cluster.queue;
    this.cancelWake = queue.schedule(at - queue.now, () => {
      this.cancelWake = null;
      this.wakeAt = Number.POSITIVE_INFINITY;
      if (this.life !== life || !this.host) return;
      this.later(life, () => this.host?.tick());
    });
  }
}

export interface SimClusterOptions {
  seed: number;
  faults?: Partial<GossipLinkFaults>;
  config?: Partial<GossipConfig>;
}

/** Nodes on one simulated network in virtual time; deterministic for a seed. */
export class SimGossipCluster {
  readonly seed: number;
  readonly queue = new EventQueue();
  readonly rng: CoreRng;
  readonly network: SimGossipNetwork;
  readonly config: Partial<GossipConfig>;
  readonly nodes = new Map<string, SimGossipNode>();
  private readonly observers: ClusterObserver[] = [];
  events = 0;

  constructor(opts: SimClusterOptions) {
    this.seed = opts.seed;
    this.rng = createRng(opts.seed);
    this.config = opts.config ?? {};
    this.network = new SimGossipNetwork(this.queue, createRng(opts.seed ^ 0x5bd1e995), {
      lossRate: 0,
      duplicateRate: 0,
      minDelayMs: 0.5,
      maxDelayMs: 5,
      ...opts.faults,
    });
  }

  addNode(name: string): SimGossipNode {
    const addr = `10.${(this.nodes.size >> 16) & 255}.${(this.nodes.size >> 8) & 255}.${this.nodes.size & 255}:7946`;
    const node = new SimGossipNode(this, name, addr);
    this.nodes.set(name, node);
    this.network.attach(addr, node);
    return node;
  }

  /**
   * Adds and starts `count` members that already know each other, every one on `networks`
   * (as if push-pulls had converged): benchmarks start clusters of thousands this way.
   */
  startConverged(count: number, networks: string[], prefix = 'n'): SimGossipNode[] {
    const nodes: SimGossipNode[] = [];
    for (let i = 0; i < count; i++) nodes.push(this.addNode(`${prefix}${i}`));
    const members: MemberRecord[] = nodes.map((n) => ({
      name: n.name,
      addr: n.addr,
      incarnation: 0,
      state: 'alive',
    }));
    const attachments: AttachmentRecord[] = nodes.flatMap((n) =>
      networks.map((network) => ({ node: n.name, network, ltime: 1, leaving: false })),
    );
    for (const node of nodes) {
      node.start();
      node.host?.run((core, now) => {
        for (const network of networks) core.joinNetwork(now, network);
        core.bootstrap(now, members, attachments);
      });
    }
    return nodes;
  }

  onEvent(observer: ClusterObserver): void {
    this.observers.push(observer);
  }

  observe(node: SimGossipNode, event: CoreEvent): void {
    for (const observer of this.observers) observer(node, event);
  }

  upNodes(): SimGossipNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  /** Runs events until virtual time `until`; `afterEach` runs after every event (invariant checks). */
  runUntil(until: number, afterEach?: () => void): void {
    while (this.queue.runNext(until)) {
      this.events++;
      afterEach?.();
    }
    if (this.queue.now < until) this.queue.now = until;
  }

  /** Runs until `done()` holds (checked every `stepMs`) or `limitMs` passed; returns whether it held. */
  runUntilTrue(done: () => boolean, limitMs: number, stepMs = 100, afterEach?: () => void): boolean {
    const deadline = this.queue.now + limitMs;
    while (!done()) {
      if (this.queue.now >= deadline) return false;
      this.runUntil(Math.min(deadline, this.queue.now + stepMs), afterEach);
    }
    return true;
  }
}
