import type { KVPair } from '../../store/types.js';
import {
  type ConfChange,
  type Entry,
  MemoryRaftStorage,
  type Message,
  type ProposalResult,
  type RaftConfig,
  RaftCore,
  RaftError,
  type Ready,
  type Rng,
  type Snapshot,
  sendableBeforePersist,
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
import type { EventQueue } from './event-queue.js';

/** Virtual milliseconds before a revoke that did not take effect is proposed again. */
const RETRY_REVOKE_MS = 200;

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

interface PendingCommand {
  reply: (reply: ServerReply) => void;
  /** Set for a read through the log: the key to read once the entry is applied. */
  readKey?: string;
}

/**
 * One simulated server: a RaftCore over MemoryRaftStorage (which survives crashes: it is
 * the disk), kvkit's real replicated key space (`KvStateMachine` of src/raft/kv, lost on
 * crash, rebuilt from snapshot + log), the leader's lease clock, and the runtime loop of the
 * real node: tick, step, and handle each Ready asynchronously (persist, send, apply, advance)
 * while new input keeps arriving.
 */
export class SimNode {
  readonly id: string;
  readonly storage: MemoryRaftStorage;
  core: RaftCore | null = null;
  sm: KvStateMachine;
  /** Index of the last entry applied to `sm` (commands, no-ops and configuration changes). */
  appliedIndex = 0;
  /** Bumped on every start and crash; stale callbacks compare it and do nothing. */
  incarnation = 0;
  /** Stopped for good (removed from the cluster). */
  retired = false;
  private leaseClock: LeaderLeaseClock | null = null;
  private writing: Ready | null = null;
  private pendingCommands = new Map<string, PendingCommand>();
  private pendingReads = new Map<string, { key: string; reply: (reply: ServerReply) => void }>();
  private readsAwaitingApply: { index: number; key: string; reply: (reply: ServerReply) => void }[] = [];
  private readSeq = 0;
  /** Events of the command being applied (the state machine reports them synchronously). */
  private applyEvents: KvEvent[] = [];

  constructor(private readonly opts: SimNodeOptions) {
    this.id = opts.id;
    this.storage = new MemoryRaftStorage(
      opts.bootstrapVoters.length > 0 ? { voters: opts.bootstrapVoters, learners: [] } : undefined,
    );
    this.sm = this.newStateMachine();
  }

  get up(): boolean {
    return this.core !== null;
  }

  start(): void {
    if (this.core || this.retired) return;
    this.incarnation++;
    this.core = new RaftCore({
      ...this.opts.raft,
      id: this.id,
      storage: this.storage,
      rng: { nextInt: (n) => this.opts.rng.nextInt(n) },
    });
    const snapshot = this.storage.snapshot();
    this.sm = this.newStateMachine();
    this.restoreStateMachine(snapshot);
    // The real leader lease clock, on virtual time: a run stays a function of its seed.
    this.leaseClock = new LeaderLeaseClock(this.sm, {
      now: () => this.opts.queue.now,
      retryMs: RETRY_REVOKE_MS,
      proposeRevoke: (lease) => this.proposeRevoke(lease),
    });
    // Random phase so nodes do not tick in lockstep.
    this.scheduleTick(this.opts.rng.next() * this.opts.tickMs);
    this.pump();
  }

  /** Power loss: everything not yet persisted (the Ready being written, memory) is gone. */
  crash(): void {
    if (!this.core) return;
    this.opts.debugLog?.(`${this.id} CRASH`);
    this.core = null;
    this.leaseClock?.close();
    this.leaseClock = null;
    this.incarnation++;
    this.writing = null;
    this.pendingCommands.clear();
    this.pendingReads.clear();
    this.readsAwaitingApply = [];
  }

  retire(): void {
    this.crash();
    this.retired = true;
  }

  deliver(message: Message): void {
    if (!this.core) return;
    this.core.step(message);
    this.pump();
  }

  /** A client request arriving at this server. */
  handleClient(call: ServerCall, reply: (reply: ServerReply) => void): void {
    const core = this.core;
    if (!core) return;
    try {
      if (call.kind === 'read' && call.viaIndex) {
        const requestId = `${this.id}/${this.incarnation}/${++this.readSeq}`;
        core.readIndex(requestId);
        this.pendingReads.set(requestId, { key: call.key, reply });
      } else if (call.kind === 'read') {
        core.propose(encodeRequest(logReadRequest(call.client, call.seq)));
        this.pendingCommands.set(`${call.client}:${call.seq}`, { reply, readKey: call.key });
      } else {
        core.propose(encodeRequest(call.request));
        this.pendingCommands.set(`${call.request.client}:${call.request.seq}`, { reply });
      }
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      reply({ kind: 'refused' });
    }
    this.pump();
  }

  /** Admin request on this node (the simulator calls it on the leader). Throws RaftError on refusal. */
  proposeConfChange(change: ConfChange): ProposalResult | null {
    if (!this.core) return null;
    const result = this.core.proposeConfChange(change);
    this.pump();
    return result;
  }

  transferLeadership(to: string): void {
    if (!this.core) return;
    this.core.transferLeadership(to);
    this.pump();
  }

  private newStateMachine(): KvStateMachine {
    const sm = new KvStateMachine(this.opts.stateMachine);
    sm.onChange((events) => this.applyEvents.push(...events));
    return sm;
  }

  /** Loads a snapshot into the state machine; an empty image is the bootstrap snapshot's. */
  private restoreStateMachine(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    if (snapshot.data.byteLength > 0) this.sm.restore(snapshot.data, { index, term });
    this.appliedIndex = index;
    this.applyEvents = [];
    this.opts.observer.onRestored(this, index);
  }

  /** The lease clock's revoke, proposed like the real node's: no client session. */
  private proposeRevoke(lease: number): boolean {
    const core = this.core;
    if (!core) return false;
    try {
      core.propose(encodeRequest({ cmd: { op: 'leaseRevoke', lease } }));
    } catch (err) {
      if (err instanceof RaftError) return false;
      throw err;
    }
    this.pump();
    return true;
  }

  private scheduleTick(delay: number): void {
    const incarnation = this.incarnation;
    this.opts.queue.schedule(delay, () => {
      if (this.incarnation !== incarnation || !this.core) return;
      this.core.tick();
      this.leaseClock?.tick(this.core.status().role === 'leader');
      this.pump();
      this.scheduleTick(this.opts.tickMs);
    });
  }

  /** Starts writing the next Ready unless one is already being written. */
  private pump(): void {
    const core = this.core;
    if (!core || this.writing || !core.hasReady()) return;
    const ready = core.ready();
    this.writing = ready;
    // The leader's replication traffic leaves while the write is under way (thesis §10.2.1).
    for (const message of ready.messages)
      if (sendableBeforePersist(message)) this.opts.send(this.id, message);
    const incarnation = this.incarnation;
    this.opts.queue.schedule(this.opts.rng.next() * this.opts.diskDelayMaxMs, () => {
      if (this.incarnation === incarnation) this.finishReady(ready);
    });
  }

  /** The Ready's write completed: now send, apply, advance — in the order `Ready` prescribes. */
  private finishReady(ready: Ready): void {
    const core = this.core as RaftCore;
    this.opts.debugLog?.(`${this.id} ready ${describeReady(ready)}`);
    this.storage.persist(ready);
    this.opts.observer.onPersisted(this, ready);
    for (const message of ready.messages)
      if (!sendableBeforePersist(message)) this.opts.send(this.id, message);
    if (ready.snapshot) {
      this.opts.observer.onRestoreSnapshot(this, ready.snapshot);
      this.restoreStateMachine(ready.snapshot);
    }
    for (const entry of ready.committedEntries) this.apply(entry);
    for (const rs of ready.readStates) {
      const read = this.pendingReads.get(rs.requestId);
      if (!read) continue;
      this.pendingReads.delete(rs.requestId);
      this.readsAwaitingApply.push({ index: rs.index, key: read.key, reply: read.reply });
    }
    core.advance(ready);
    this.writing = null;
    this.serveReads();
    this.maybeSnapshot();
    this.pump();
  }

  private apply(entry: Entry): void {
    this.opts.observer.onApply(this, entry);
    this.appliedIndex = entry.index;
    if (entry.type !== 'normal' || entry.data.byteLength === 0) {
      this.opts.observer.onApplied(this, entry, null);
      return;
    }
    // Decoded here only to route the answer; the state machine applies the bytes, as the real node does.
    const request = decodeRequest(entry.data);
    const revoked = request.cmd.op === 'leaseRevoke' ? this.sm.list('') : [];
    this.applyEvents = [];
    const result = this.sm.apply(entry.data, { index: entry.index, term: entry.term });
    const events = this.applyEvents;
    this.applyEvents = [];
    this.opts.observer.onApplied(this, entry, {
      request,
      result,
      events,
      revoked: revoked.filter((pair) => events.some((e) => e.key === pair.key && e.state === null)),
    });
    if (request.client === undefined) return;
    const key = `${request.client}:${request.seq}`;
    const pending = this.pendingCommands.get(key);
    if (!pending) return;
    this.pendingCommands.delete(key);
    pending.reply(
      pending.readKey === undefined
        ? { kind: 'command', result }
        : { kind: 'read', pair: this.sm.get(pending.readKey) },
    );
  }

  private serveReads(): void {
    const ready = this.readsAwaitingApply.filter((r) => r.index <= this.appliedIndex);
    if (ready.length === 0) return;
    this.readsAwaitingApply = this.readsAwaitingApply.filter((r) => r.index > this.appliedIndex);
    for (const r of ready) r.reply({ kind: 'read', pair: this.sm.get(r.key) });
  }

  private maybeSnapshot(): void {
    const core = this.core as RaftCore;
    const snapIndex = this.storage.snapshot().metadata.index;
    if (this.appliedIndex - snapIndex < this.opts.snapshotEvery) return;
    const image = this.sm.snapshot();
    this.opts.observer.onSnapshotTaken(this, this.appliedIndex, image);
    this.storage.createSnapshot(
      this.appliedIndex,
      core.confStateAt(this.appliedIndex),
      image,
      this.opts.retainEntries,
    );
  }
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
