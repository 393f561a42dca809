import type { KVPair } from '../../store/types.js';
import {
  type ConfChange,
  type Entry,
  MemoryRaftStorage,
  type Message,
  type ProposalResult,
  type RaftConfig,
  type RaftCore,
  type Ready,
  type Rng,
  type Snapshot,
} from '../core/index.js';
import {
  decodeRequest,
  encodeRequest,
  type KvEvent,
  type KvRequest,
  type KvResult,
  KvStateMachine,
  LeaderLeaseClock,
} from '../kv/index.js';
import type { ReplicatedStateMachine } from '../replica.js';
import { bootstrapEntries } from '../runtime/cluster-config.js';
import { RaftDriver } from '../runtime/driver.js';
import type { DriverClock } from '../runtime/driver-io.js';
import { TOKEN_BYTES } from '../runtime/entry-payload.js';
import type { EventQueue } from './event-queue.js';
import { InvariantViolation } from './invariants.js';
import { concat, SimDisk } from './sim-disk.js';

/** Virtual milliseconds before a revoke that did not take effect is proposed again. */
const RETRY_REVOKE_MS = 200;
/** How long a server works on one client request (the client's own attempt timeout is the same). */
const REQUEST_TIMEOUT_MS = 250;

/** A client request as a server receives it. */
export type ServerCall =
  /** A linearizable read: ReadIndex then a local read, or through the log (see `logRead`). */
  | { kind: 'read'; key: string; viaIndex: boolean; client: string; seq: number }
  /** A command of the replicated key space, sent as the client's session. */
  | { kind: 'command'; request: KvRequest & { client: string; seq: number } };

/** What a server answers: the read pair, the command's result, or "try elsewhere". */
export type ServerReply =
  | { kind: 'read'; pair: KVPair | null }
  | { kind: 'command'; result: KvResult }
  | { kind: 'refused' };

/**
 * The command a read through the log commits: compacting to revision 0 changes nothing, so
 * the entry is a pure barrier; the server reads the key when it applies it.
 */
export function logReadRequest(client: string, seq: number): KvRequest {
  return { client, seq, cmd: { op: 'compact', revision: 0 } };
}

/** One applied command, as the KV invariants see it. */
export interface AppliedCommand {
  request: KvRequest;
  result: KvResult;
  /** Key changes it made, from the state machine's change stream. */
  events: KvEvent[];
  /** For a `leaseRevoke`: the pairs it deleted. */
  revoked: KVPair[];
}

/** Hooks the invariant checkers use to watch a node's durable log and its state machine. */
export interface NodeObserver {
  /** After a Ready's snapshot and entries were persisted, before anything was applied. */
  onPersisted(node: SimNode, ready: Ready): void;
  /** Each committed entry, as the node applies it (before `appliedIndex` moves). */
  onApply(node: SimNode, entry: Entry): void;
  /** After the entry was applied (`command` null for no-ops and configuration changes). */
  onApplied(node: SimNode, entry: Entry, command: AppliedCommand | null): void;
  /** A snapshot from the leader is about to replace the node's state (before `appliedIndex` moves). */
  onRestoreSnapshot(node: SimNode, snapshot: Snapshot): void;
  /** The state machine now holds a snapshot's state (a leader's, or its own after a restart). */
  onRestored(node: SimNode, index: number): void;
  /** The node took a snapshot of its state machine at `index`. */
  onSnapshotTaken(node: SimNode, index: number, image: Uint8Array): void;
}

export interface SimNodeOptions {
  id: string;
  queue: EventQueue;
  rng: Rng & { next(): number };
  /** Raft settings shared by the cluster (id, storage and rng are filled in per node). */
  raft: Omit<RaftConfig, 'id' | 'storage' | 'rng'>;
  tickMs: number;
  /** A Ready's write takes uniform [0, diskDelayMaxMs]; the node keeps running meanwhile. */
  diskDelayMaxMs: number;
  /** Readys the driver writes at once. */
  maxWritesInFlight: number;
  /** Take a snapshot (and compact) after this many applied entries. */
  snapshotEvery: number;
  /** Log entries kept behind each snapshot. */
  retainEntries: number;
  /** Passed to every `KvStateMachine` this node builds (tests shrink the session window). */
  stateMachine?: ConstructorParameters<typeof KvStateMachine>[0];
  observer: NodeObserver;
  /** Puts a message on the network. */
  send: (from: string, message: Message) => void;
  /** Initial configuration, or empty for a node that joins later. */
  bootstrapVoters: string[];
  debugLog?: (line: string) => void;
}

/**
 * One simulated server: kvkit's real Raft driver (src/raft/runtime/driver.ts, what the
 * production node runs: Ready loop, merging per peer, early send, proposals, read barriers,
 * apply, snapshots, learner promotion) on virtual time, over MemoryRaftStorage behind a
 * delayed disk (which survives crashes: what it completed is persisted), with kvkit's real
 * replicated key space (`KvStateMachine` of src/raft/kv, lost on crash, rebuilt from snapshot
 * + log) and the leader's lease clock. The harness adds only what a real server's
 * surroundings do: the disk, the network, the clock, client requests, crashes.
 */
export class SimNode {
  readonly id: string;
  readonly storage: MemoryRaftStorage;
  driver: RaftDriver | null = null;
  sm: KvStateMachine;
  /** Index of the last entry applied to `sm` (commands, no-ops and configuration changes). */
  appliedIndex = 0;
  /** Bumped on every start and crash. */
  incarnation = 0;
  /** Stopped for good (removed from the cluster). */
  retired = false;
  /** What the driver did that the simulated clusters must cover (across restarts). */
  readonly driverStats = { messagesMerged: 0, messagesSentEarly: 0, writesPipelined: 0 };
  private disk: SimDisk | null = null;
  private leaseClock: LeaderLeaseClock | null = null;
  /** Events of the command being applied (the state machine reports them synchronously). */
  private applyEvents: KvEvent[] = [];
  /** What the last `apply` did, for the observer's `onApplied`. */
  private lastCommand: AppliedCommand | null = null;

  constructor(private readonly opts: SimNodeOptions) {
    this.id = opts.id;
    this.storage = new MemoryRaftStorage();
    if (opts.bootstrapVoters.length > 0) {
      // What `kvkit raft start --initial-cluster` writes: one committed addVoter per member.
      const entries = bootstrapEntries(
        Object.fromEntries(opts.bootstrapVoters.map((id) => [id, `${id}.sim:1`])),
      );
      this.storage.append(entries);
      this.storage.setHardState({ term: 1, vote: null, commit: entries.length });
    }
    this.sm = this.newStateMachine();
  }

  get up(): boolean {
    return this.driver !== null;
  }

  get core(): RaftCore | null {
    return this.driver?.core ?? null;
  }

  start(): void {
    if (this.driver || this.retired) return;
    this.incarnation++;
    const { queue, rng } = this.opts;
    const disk = new SimDisk(this.storage, queue, () => rng.next() * this.opts.diskDelayMaxMs);
    this.disk = disk;
    this.sm = this.newStateMachine();
    const sm = this.sm;
    const observer = this.opts.observer;
    const token = Uint8Array.from({ length: TOKEN_BYTES }, () => rng.nextInt(256));
    this.driver = new RaftDriver({
      id: this.id,
      disk,
      clock: simClock(queue),
      send: (messages) => {
        for (const message of messages) this.opts.send(this.id, message);
      },
      stateMachine: this.replicated(sm),
      token,
      raft: { ...this.opts.raft, rng: { nextInt: (n) => rng.nextInt(n) } },
      tickMs: this.opts.tickMs,
      // Random phase so nodes do not tick in lockstep.
      firstTickMs: rng.next() * this.opts.tickMs,
      snapshotEvery: this.opts.snapshotEvery,
      keepEntries: this.opts.retainEntries,
      maxWritesInFlight: this.opts.maxWritesInFlight,
      observer: {
        onSent: (messages, mergedAway, early) => {
          this.driverStats.messagesMerged += mergedAway;
          if (early) this.driverStats.messagesSentEarly += messages.length;
        },
        onWriteIssued: (inFlight) => {
          if (inFlight > 0) this.driverStats.writesPipelined++;
        },
        onPersisted: (ready) => {
          this.opts.debugLog?.(`${this.id} ready ${describeReady(ready)}`);
          observer.onPersisted(this, ready);
        },
        onApply: (entry) => observer.onApply(this, entry),
        onApplied: (entry) => {
          this.appliedIndex = entry.index;
          const command = this.lastCommand;
          this.lastCommand = null;
          observer.onApplied(this, entry, command);
        },
        onRestoreSnapshot: (snapshot) => observer.onRestoreSnapshot(this, snapshot),
        onRestored: (index) => {
          this.appliedIndex = index;
          this.applyEvents = [];
          observer.onRestored(this, index);
        },
        onSnapshotTaken: (index, parts) => observer.onSnapshotTaken(this, index, concat(parts)),
        onTick: () => this.leaseClock?.tick(this.driver?.isLeader() ?? false),
      },
      log: (line) => this.opts.debugLog?.(`${this.id} ${line}`),
      onBadMessage: (message, reason) => {
        throw new InvariantViolation(
          `${this.id} received a malformed message (${reason}): ${describe(message)}`,
        );
      },
      onFatal: (err) => {
        throw err;
      },
    });
    // The real leader lease clock, on virtual time, proposing as the node's LeaseExpiryClock does.
    this.leaseClock = new LeaderLeaseClock(sm, {
      now: () => queue.now,
      retryMs: RETRY_REVOKE_MS,
      proposeRevoke: (lease) => {
        this.driver?.propose(
          encodeRequest({ cmd: { op: 'leaseRevoke', lease } }),
          { timeoutMs: 1000 },
          () => {},
        );
        return true;
      },
    });
  }

  /** Power loss: everything not yet persisted (writes in flight, memory) is gone. */
  crash(): void {
    if (!this.driver) return;
    this.opts.debugLog?.(`${this.id} CRASH`);
    this.driver.stop(null);
    this.driver = null;
    this.disk?.crash();
    this.disk = null;
    this.leaseClock?.close();
    this.leaseClock = null;
    this.incarnation++;
  }

  retire(): void {
    this.crash();
    this.retired = true;
  }

  deliver(message: Message): void {
    this.driver?.step(message);
  }

  /** A client request arriving at this server, served as the client port serves it. */
  handleClient(call: ServerCall, reply: (reply: ServerReply) => void): void {
    const driver = this.driver;
    if (!driver) return;
    const sm = this.sm;
    const refuse = () => reply({ kind: 'refused' });
    const timeout = { timeoutMs: REQUEST_TIMEOUT_MS };
    if (call.kind === 'read' && call.viaIndex) {
      driver.readBarrier(timeout, (err) =>
        err ? refuse() : reply({ kind: 'read', pair: sm.get(call.key) }),
      );
    } else if (call.kind === 'read') {
      // Answered as the entry applies, before anything after it in the log.
      driver.propose(encodeRequest(logReadRequest(call.client, call.seq)), timeout, (err) =>
        err ? refuse() : reply({ kind: 'read', pair: sm.get(call.key) }),
      );
    } else {
      driver.propose(encodeRequest(call.request), timeout, (err, result) =>
        err ? refuse() : reply({ kind: 'command', result: result as KvResult }),
      );
    }
  }

  /** Admin request on this node (the simulator calls it on the leader). Throws RaftError on refusal. */
  proposeConfChange(change: ConfChange): ProposalResult | null {
    return this.driver?.proposeConfChange(change) ?? null;
  }

  transferLeadership(to: string): void {
    this.driver?.transferLeadership(to);
  }

  private newStateMachine(): KvStateMachine {
    const sm = new KvStateMachine(this.opts.stateMachine);
    sm.onChange((events) => this.applyEvents.push(...events));
    return sm;
  }

  /** The key space as the driver sees it, recording what each command did for the checkers. */
  private replicated(sm: KvStateMachine): ReplicatedStateMachine {
    return {
      apply: (command, ctx) => {
        const request = decodeRequest(command);
        const revoked = request.cmd.op === 'leaseRevoke' ? sm.list('') : [];
        this.applyEvents = [];
        const result = sm.apply(command, ctx);
        const events = this.applyEvents;
        this.applyEvents = [];
        this.lastCommand = {
          request,
          result,
          events,
          revoked: revoked.filter((pair) => events.some((e) => e.key === pair.key && e.state === null)),
        };
        return result;
      },
      snapshot: () => sm.snapshot(),
      restore: (image, ctx) => sm.restore(image, ctx),
    };
  }
}

/** The driver's clock on virtual time: timers are events of the queue, "soon" the end of the current one. */
function simClock(queue: EventQueue): DriverClock {
  return {
    now: () => queue.now,
    after: (ms, run) => queue.schedule(ms, run),
    soon: (run) => queue.defer(run),
  };
}

function describeReady(rd: Ready): string {
  const parts: string[] = [];
  if (rd.softState) parts.push(`soft=${rd.softState.role}/${rd.softState.lead}`);
  if (rd.hardState) parts.push(`hard=t${rd.hardState.term}/v${rd.hardState.vote}/c${rd.hardState.commit}`);
  if (rd.confState) parts.push(`conf=${rd.confState.voters.join(',')}|${rd.confState.learners.join(',')}`);
  if (rd.snapshot) parts.push(`snap=${rd.snapshot.metadata.index}/${rd.snapshot.metadata.term}`);
  if (rd.entries.length)
    parts.push(
      `ents=${rd.entries.map((e) => `${e.index}/${e.term}${e.type === 'confChange' ? 'C' : ''}`).join(',')}`,
    );
  if (rd.committedEntries.length)
    parts.push(
      `apply=${rd.committedEntries[0].index}..${rd.committedEntries[rd.committedEntries.length - 1].index}`,
    );
  if (rd.readStates.length) parts.push(`reads=${rd.readStates.length}`);
  return parts.join(' ');
}

function describe(message: unknown): string {
  const m = message as { type?: unknown; from?: unknown; to?: unknown; term?: unknown };
  const entries = (message as { entries?: { index?: unknown; term?: unknown }[] }).entries;
  const head = `${String(m.type)} ${String(m.from)}->${String(m.to)} t${String(m.term)}`;
  if (!Array.isArray(entries)) return head;
  const prev = message as { prevIndex?: unknown; prevTerm?: unknown };
  const list = entries.map((e) => `${String(e?.index)}/${String(e?.term)}`).join(',');
  return `${head} prev=${String(prev.prevIndex)}/${String(prev.prevTerm)} entries=[${list.slice(0, 200)}]`;
}
