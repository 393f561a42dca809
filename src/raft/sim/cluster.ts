import { createRng, type Message, type RaftConfig, type RaftStatus } from '../core/index.js';
import { EventQueue } from './event-queue.js';
import { InvariantChecker } from './invariants.js';
import { KvInvariantChecker } from './kv-invariants.js';
import { type LinkFaults, SimNetwork } from './network.js';
import { type NodeObserver, SimNode, type SimNodeOptions } from './sim-node.js';

export interface ClusterOptions {
  seed: number;
  raft: Omit<RaftConfig, 'id' | 'storage' | 'rng'>;
  tickMs: number;
  diskDelayMaxMs: number;
  /** Readys each node writes at once (1: one at a time). */
  maxWritesInFlight?: number;
  snapshotEvery: number;
  retainEntries: number;
  faults: LinkFaults;
  /** Options of every node's `KvStateMachine` (tests shrink the session window to see the checks fire). */
  stateMachine?: SimNodeOptions['stateMachine'];
  /** Receives a line per delivered message and per Ready (for debugging a seed). */
  debugLog?: (line: string) => void;
}

/** Nodes, the network between them, virtual time and the invariant checkers. */
export class SimCluster {
  readonly queue = new EventQueue();
  readonly rng: ReturnType<typeof createRng>;
  readonly network: SimNetwork;
  /** Raft's safety properties. */
  readonly checker = new InvariantChecker();
  /** The replicated key space's: same state everywhere, at most once, revoked stays revoked. */
  readonly kvChecker = new KvInvariantChecker(() => this.queue.now);
  private readonly observer: NodeObserver = {
    onPersisted: (node, ready) => this.checker.onPersisted(node, ready),
    onApply: (node, entry) => this.checker.onApply(node, entry),
    onApplied: (node, entry, command) => this.kvChecker.onApplied(node, entry.index, command),
    onRestoreSnapshot: (node, snapshot) => this.checker.onRestoreSnapshot(node, snapshot),
    onRestored: (node, index) => this.kvChecker.onRestored(node, index),
    onSnapshotTaken: (node, index, image) => this.kvChecker.onSnapshotTaken(node, index, image),
  };
  readonly nodes = new Map<string, SimNode>();
  private nextNodeNumber = 1;
  /** Events run so far. */
  events = 0;

  constructor(private readonly opts: ClusterOptions) {
    this.rng = createRng(opts.seed);
    this.network = new SimNetwork(this.queue, this.rng, opts.faults);
  }

  /** Creates (does not start) a node; `bootstrapVoters` empty for a node that joins later. */
  createNode(bootstrapVoters: string[]): SimNode {
    const id = `n${this.nextNodeNumber++}`;
    const node = new SimNode({
      id,
      queue: this.queue,
      rng: this.rng,
      raft: this.opts.raft,
      tickMs: this.opts.tickMs,
      diskDelayMaxMs: this.opts.diskDelayMaxMs,
      maxWritesInFlight: this.opts.maxWritesInFlight ?? 1,
      snapshotEvery: this.opts.snapshotEvery,
      retainEntries: this.opts.retainEntries,
      stateMachine: this.opts.stateMachine,
      observer: this.observer,
      debugLog: this.opts.debugLog
        ? (line) => this.opts.debugLog?.(`${this.queue.now.toFixed(1)} ${line}`)
        : undefined,
      bootstrapVoters: bootstrapVoters.length > 0 ? bootstrapVoters : [],
      send: (from, message) => this.send(from, message),
    });
    this.nodes.set(id, node);
    return node;
  }

  /** Writes a line to the debug log, if any. */
  debug(line: string): void {
    this.opts.debugLog?.(`${this.queue.now.toFixed(1)} ${line}`);
  }

  /** Ids the next `createNode` calls will use. */
  peekIds(count: number): string[] {
    return Array.from({ length: count }, (_, i) => `n${this.nextNodeNumber + i}`);
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  /** The leader with the highest term among running nodes, with its status. */
  leader(): { node: SimNode; status: RaftStatus } | null {
    let best: { node: SimNode; status: RaftStatus } | null = null;
    for (const node of this.upNodes()) {
      const status = (node.core as NonNullable<SimNode['core']>).status();
      if (status.role === 'leader' && (!best || status.term > best.status.term)) best = { node, status };
    }
    return best;
  }

  /** Runs events until virtual time `until`, checking invariants after each. */
  runUntil(until: number): void {
    while (this.queue.runNext(until)) {
      this.events++;
      this.checker.afterEvent(this.nodes.values());
    }
    this.queue.now = Math.max(this.queue.now, until);
  }

  private send(from: string, message: Message): void {
    const copy = cloneMessage(message);
    const log = this.opts.debugLog;
    this.network.send(from, message.to, () => {
      const node = this.nodes.get(message.to);
      if (log && node?.up) log(`${this.queue.now.toFixed(1)} deliver ${describeMessage(copy)}`);
      node?.deliver(cloneMessage(copy));
    });
  }
}

/** A copy as the wire would make it: no object is shared between sender and receiver. */
function cloneMessage(m: Message): Message {
  switch (m.type) {
    case 'app':
      return { ...m, entries: m.entries.map((e) => ({ ...e, data: e.data.slice() })) };
    case 'snap':
      return {
        ...m,
        metadata: {
          ...m.metadata,
          confState: {
            voters: [...m.metadata.confState.voters],
            learners: [...m.metadata.confState.learners],
          },
        },
        chunk: m.chunk.slice(),
      };
    case 'prop':
      return { ...m, entries: m.entries.map((e) => ({ ...e, data: e.data.slice() })) };
    default:
      return { ...m };
  }
}

function describeMessage(m: Message): string {
  const head = `${m.type} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case 'app':
      return `${head} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length}${m.entries.length ? ` [${m.entries[0].index}..${m.entries[m.entries.length - 1].index}]` : ''} commit=${m.commit}`;
    case 'appResp':
      return `${head} index=${m.index}${m.reject ? ` REJECT hint=${m.rejectHint}/${m.rejectTerm}` : ''}`;
    case 'vote':
    case 'preVote':
      return `${head} last=${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? ' transfer' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${head}${m.reject ? ' REJECT' : ' grant'}`;
    case 'heartbeat':
      return `${head} commit=${m.commit} ctx=${m.readContext}`;
    case 'snap':
      return `${head} snap=${m.metadata.index}/${m.metadata.term} off=${m.offset} len=${m.chunk.byteLength}/${m.totalSize}`;
    case 'snapResp':
      return `${head} snap=${m.index} next=${m.nextOffset} for=${m.chunkOffset}`;
    default:
      return head;
  }
}
