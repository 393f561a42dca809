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
} from '../core/index.js';
import type { EventQueue } from './event-queue.js';
import {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  type KvResult,
  KvStateMachine,
} from './kv-state-machine.js';

/** What a server answers a client: the result, or "try elsewhere". */
export type ClientReply = { ok: true; result: KvResult } | { ok: false };

/** Hooks the invariant checker uses to watch a node's durable log and its applies. */
export interface NodeObserver {
  /** After a Ready's snapshot and entries were persisted, before anything was applied. */
  onPersisted(node: SimNode, ready: Ready): void;
  /** Each committed entry, as the node applies it. */
  onApply(node: SimNode, entry: Entry): void;
  /** A snapshot from the leader is about to replace the node's state (before `appliedIndex` moves). */
  onRestoreSnapshot(node: SimNode, snapshot: Snapshot): void;
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
  observer: NodeObserver;
  /** Puts a message on the network. */
  send: (from: string, message: Message) => void;
  /** Initial configuration, or empty for a node that joins later. */
  bootstrapVoters: string[];
  debugLog?: (line: string) => void;
}

/**
 * One simulated server: a RaftCore over MemoryRaftStorage (which survives crashes: it is
 * the disk), the KV state machine (lost on crash, rebuilt from snapshot + log), and the
 * runtime loop the real node will have: tick, step, and handle each Ready asynchronously
 * (persist, send, apply, advance) while new input keeps arriving.
 */
export class SimNode {
  readonly id: string;
  readonly storage: MemoryRaftStorage;
  core: RaftCore | null = null;
  sm = new KvStateMachine();
  /** Index of the last entry applied to `sm`. */
  appliedIndex = 0;
  /** Bumped on every start and crash; stale callbacks compare it and do nothing. */
  incarnation = 0;
  /** Stopped for good (removed from the cluster). */
  retired = false;
  private writing: Ready | null = null;
  private pendingCommands = new Map<string, (reply: ClientReply) => void>();
  private pendingReads = new Map<string, { key: string; reply: (reply: ClientReply) => void }>();
  private readsAwaitingApply: { index: number; key: string; reply: (reply: ClientReply) => void }[] = [];
  private readSeq = 0;

  constructor(private readonly opts: SimNodeOptions) {
    this.id = opts.id;
    this.storage = new MemoryRaftStorage(
      opts.bootstrapVoters.length > 0 ? { voters: opts.bootstrapVoters, learners: [] } : undefined,
    );
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
    this.sm = new KvStateMachine();
    this.sm.restore(snapshot.data);
    this.appliedIndex = snapshot.metadata.index;
    // Random phase so nodes do not tick in lockstep.
    this.scheduleTick(this.opts.rng.next() * this.opts.tickMs);
    this.pump();
  }

  /** Power loss: everything not yet persisted (the Ready being written, memory) is gone. */
  crash(): void {
    if (!this.core) return;
    this.opts.debugLog?.(`${this.id} CRASH`);
    this.core = null;
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
  handleClient(cmd: KvCommand, readViaIndex: boolean, reply: (reply: ClientReply) => void): void {
    const core = this.core;
    if (!core) return;
    try {
      if (cmd.op.f === 'get' && readViaIndex) {
        const requestId = `${this.id}/${this.incarnation}/${++this.readSeq}`;
        core.readIndex(requestId);
        this.pendingReads.set(requestId, { key: cmd.op.key, reply });
      } else {
        core.propose(encodeKvCommand(cmd));
        this.pendingCommands.set(`${cmd.clientId}:${cmd.seq}`, reply);
      }
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      reply({ ok: false });
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

  private scheduleTick(delay: number): void {
    const incarnation = this.incarnation;
    this.opts.queue.schedule(delay, () => {
      if (this.incarnation !== incarnation || !this.core) return;
      this.core.tick();
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
    for (const message of ready.messages) this.opts.send(this.id, message);
    if (ready.snapshot) {
      this.opts.observer.onRestoreSnapshot(this, ready.snapshot);
      this.sm.restore(ready.snapshot.data);
      this.appliedIndex = ready.snapshot.metadata.index;
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
    if (entry.type !== 'normal' || entry.data.byteLength === 0) return;
    const cmd = decodeKvCommand(entry.data);
    const outcome = this.sm.applyCommand(cmd);
    const key = `${cmd.clientId}:${cmd.seq}`;
    const reply = this.pendingCommands.get(key);
    if (reply && outcome.kind !== 'stale') {
      this.pendingCommands.delete(key);
      reply({ ok: true, result: outcome.result });
    }
  }

  private serveReads(): void {
    const ready = this.readsAwaitingApply.filter((r) => r.index <= this.appliedIndex);
    if (ready.length === 0) return;
    this.readsAwaitingApply = this.readsAwaitingApply.filter((r) => r.index > this.appliedIndex);
    for (const r of ready) r.reply({ ok: true, result: this.sm.get(r.key) });
  }

  private maybeSnapshot(): void {
    const core = this.core as RaftCore;
    const snapIndex = this.storage.snapshot().metadata.index;
    if (this.appliedIndex - snapIndex < this.opts.snapshotEvery) return;
    this.storage.createSnapshot(
      this.appliedIndex,
      core.confStateAt(this.appliedIndex),
      this.sm.snapshot(),
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
