import { ClosedError, NotReachableError, TimeoutError } from '../../store/errors.js';
import {
  type ConfChange,
  decodeConfChange,
  type Entry,
  type Message,
  type ProposalResult,
  type RaftConfig,
  RaftCore,
  RaftError,
  type RaftStatus,
  type Ready,
  type SnapshotMetadata,
  type SoftState,
  sendableBeforePersist,
} from '../core/index.js';
import type { ReplicaMember, ReplicaStatus, ReplicatedStateMachine } from '../replica.js';
import { coalesceMessages } from './coalesce.js';
import type { DiskDone, DriverClock, DriverObserver, LogDisk } from './driver-io.js';
import { decodePayload, encodeAnnounce } from './entry-payload.js';
import { decodeMemberContext, type MemberAddress, MemberBook } from './member-book.js';
import { malformedMessage } from './message-check.js';
import { type ProposalDone, Proposals } from './proposals.js';
import { ReadBarriers } from './read-barriers.js';
import {
  ImageRestorer,
  imageChunks,
  recordChunks,
  restoreImage,
  type SnapshotHeader,
} from './snapshot-image.js';

/** Largest append built by merging a Ready's appends to one peer (the core's maxSizePerMsg). */
const MERGED_APPEND_BYTES = 1024 * 1024;
/** A new client address is announced at most this often (until the book has it). */
const ANNOUNCE_EVERY_MS = 2000;

export interface RaftDriverOptions {
  id: string;
  disk: LogDisk;
  clock: DriverClock;
  /** Puts messages on the network (already merged per peer), in order. */
  send: (messages: Message[]) => void;
  stateMachine: ReplicatedStateMachine;
  /** Tags this incarnation's proposals in the log (random per process, 8 bytes). */
  token: Uint8Array;
  /** Core settings other than id, storage and applied (the driver supplies those). */
  raft?: Omit<RaftConfig, 'id' | 'storage' | 'applied'>;
  tickMs: number;
  /** Delay of the first tick (the simulator staggers nodes). Default `tickMs`. */
  firstTickMs?: number;
  /** Snapshot the state machine every this many applied entries, keeping `keepEntries` before it. */
  snapshotEvery: number;
  keepEntries: number;
  /**
   * Readys written at once (pipelining): the next Ready's write, and the leader's appends in
   * it, start before the previous write completed. Default 1.
   */
  maxWritesInFlight?: number;
  /** The leader promotes a learner to voter once its log reached the commit index. Default true. */
  promoteLearners?: boolean;
  /** This node's client address, replicated into the address book (null: none). */
  clientAddr?: string | null;
  observer?: DriverObserver;
  /** A peer's message was malformed (dropped); the simulator fails the run on it. */
  onBadMessage?: (message: unknown, reason: string) => void;
  /** A member other than this node was removed (the transport forgets it). */
  onMemberRemoved?: (id: string) => void;
  /** One line per event (role changes, snapshots installed, membership). */
  log: (line: string) => void;
  /**
   * The driver hit an error it cannot recover from (a failed disk write, a state machine that
   * cannot restore): it has stopped. The production node closes; the simulator throws it.
   */
  onFatal: (err: unknown) => void;
}

/** One Ready between `ready()` and `advance()`: written (or being written), then finished in order. */
interface Write {
  rd: Ready;
  /** Some of its messages left before the write (the leader's replication traffic). */
  sentEarly: boolean;
  done: boolean;
  /** A snapshot from the leader, decoded in slices while it is written (see prepareRestore). */
  restore: PreparedRestore | null;
}

/** The state of a leader's snapshot, built aside a slice per turn; swapped in when its Ready finishes. */
interface PreparedRestore {
  restorer: ImageRestorer;
  ready: boolean;
  error: unknown;
}

/** Bytes of a leader's snapshot decoded per turn of the event loop. */
const RESTORE_SLICE_BYTES = 256 * 1024;

/**
 * The Raft node's driver: everything between the pure core and the outside world, with the
 * outside world injected (driver-io.ts). It runs the clock, feeds the core with messages and
 * proposals, and drives each Ready in the order the core prescribes (types.ts `Ready`):
 *
 *   early send (the leader's appends, merged per peer) → write (async; the disk may hold
 *   several in flight) → late send (votes, acks) → restore snapshot → apply committed
 *   entries → serve read states → advance → role news → snapshot if due.
 *
 * Readys finish strictly in the order they were taken, so a message that promises durable
 * state never leaves before the write that made it durable, and entries apply in log order.
 * The production node (replica-node.ts) runs it on the wall clock, LogStorage and TCP; the
 * simulator (sim/sim-node.ts) on virtual time, memory and a lossy network: one code path.
 */
export class RaftDriver {
  readonly id: string;
  readonly core: RaftCore;
  private readonly opts: RaftDriverOptions;
  private readonly disk: LogDisk;
  private readonly clock: DriverClock;
  private readonly sm: ReplicatedStateMachine;
  private readonly observer: DriverObserver;
  private readonly proposals: Proposals;
  private readonly reads: ReadBarriers;
  private readonly electionMs: number;
  private readonly maxWritesInFlight: number;
  private book = new MemberBook();
  /** Addresses from conf changes appended but not applied yet, and from peers' handshakes. */
  private readonly routes = new Map<string, string>();
  private applied: number;
  private snapshotIndex: number;
  private snapshotting = false;
  private readonly writes: Write[] = [];
  /** Disk operations issued and not completed (writes and snapshot saves). */
  private diskBusy = 0;
  private idleWaiters: (() => void)[] = [];
  private pumpScheduled = false;
  private pumping = false;
  private cancelTick: () => void = () => {};
  private lastSoft: SoftState = { lead: null, role: 'follower' };
  private readonly roleListeners = new Set<(s: ReplicaStatus) => void>();
  private readonly membershipListeners = new Set<() => void>();
  private clientAddr: string | null;
  private lastAnnounce = Number.NEGATIVE_INFINITY;
  private lastPromotion = Number.NEGATIVE_INFINITY;
  /** When a leader last sent us an append, heartbeat or snapshot chunk. */
  private leaderContact: number;
  private stopped = false;
  private failed: unknown = null;

  constructor(opts: RaftDriverOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.disk = opts.disk;
    this.clock = opts.clock;
    this.sm = opts.stateMachine;
    this.observer = opts.observer ?? {};
    this.clientAddr = opts.clientAddr ?? null;
    this.electionMs = opts.tickMs * (opts.raft?.electionTick ?? 10);
    this.maxWritesInFlight = Math.max(1, opts.maxWritesInFlight ?? 1);
    this.leaderContact = this.clock.now();

    // The state machine starts from the stored snapshot; the core hands out the committed
    // entries after it in the first Readys.
    const snapshot = this.disk.snapshot();
    this.applied = snapshot.metadata.index;
    this.snapshotIndex = snapshot.metadata.index;
    this.restoreFrom(snapshot.metadata, this.disk.snapshotParts());
    this.observer.onRestored?.(this.applied);
    this.core = new RaftCore({ ...opts.raft, id: opts.id, storage: this.disk, applied: this.applied });
    // Route to members whose conf change is in the log but not applied yet.
    let confChangeAhead = false;
    for (let i = this.disk.firstIndex(); i <= this.disk.lastIndex(); ) {
      const batch = this.disk.entries(i, this.disk.lastIndex() + 1, 4 * 1024 * 1024);
      this.noteRoutes(batch);
      for (const entry of batch)
        if (entry.type === 'confChange' && entry.index > this.applied) confChangeAhead = true;
      i += batch.length;
    }
    const token = Buffer.from(opts.token.buffer, opts.token.byteOffset, opts.token.byteLength);
    this.proposals = new Proposals({
      nodeId: this.id,
      token: opts.token,
      clock: this.clock,
      propose: (data) => this.core.propose(data),
    });
    this.reads = new ReadBarriers(
      (requestId) => this.issueRead(requestId),
      `${this.id}:${token.toString('hex')}`,
      this.clock,
    );
    // The only voter need not wait out an election timeout to serve after a restart (etcd
    // fast-forwards its ticks for a one-member cluster likewise): it campaigns at once and wins
    // alone. Not while a membership change in its log is still to apply: the configuration it
    // would win under may be an old one.
    const { voters } = this.core.status().confState;
    if (!confChangeAhead && voters.length === 1 && voters[0] === this.id) this.core.campaign();
    this.scheduleTick(opts.firstTickMs ?? opts.tickMs);
    this.schedulePump();
  }

  // =====================================================================================
  // Requests
  // =====================================================================================

  /**
   * Proposes a command; `done(null, result)` once this node applied it (`result` is what the
   * state machine's `apply` returned), or `done(err)`: TIMEOUT (handed to a leader, may still
   * apply), NOT_REACHABLE (no leader known in time), CLOSED, or what `apply` threw.
   */
  propose(command: Uint8Array, opts: { timeoutMs: number; signal?: AbortSignal }, done: ProposalDone): void {
    if (this.stopped) {
      done(new ClosedError(`raft node ${this.id} is closed`));
      return;
    }
    this.proposals.propose(command, opts, done);
    this.schedulePump();
  }

  /** `done(null)` once this node applied everything committed before the call (ReadIndex). */
  readBarrier(opts: { timeoutMs: number; signal?: AbortSignal }, done: (err: unknown) => void): void {
    if (this.stopped) {
      done(new ClosedError(`raft node ${this.id} is closed`));
      return;
    }
    const { timeoutMs } = opts;
    this.reads.wait(
      {
        timeoutMs,
        signal: opts.signal,
        timeoutError: (sent) =>
          sent
            ? new TimeoutError(`read barrier not confirmed within ${timeoutMs} ms`)
            : new NotReachableError(`no raft leader known to node ${this.id}`),
      },
      done,
    );
  }

  /** Proposes a membership change (throws RaftError when refused: not leader, one in progress...). */
  proposeConfChange(change: ConfChange): ProposalResult | null {
    const result = this.core.proposeConfChange(change);
    this.schedulePump();
    return result;
  }

  transferLeadership(to: string): void {
    this.core.transferLeadership(to);
    this.schedulePump();
  }

  // =====================================================================================
  // Inputs from the network
  // =====================================================================================

  /**
   * A message from a peer. A malformed one (message-check.ts) never reaches the core: it is
   * reported (`onBadMessage`) and false is returned, so the transport drops its sender.
   */
  step(message: Message): boolean {
    if (this.stopped) return true;
    const malformed = malformedMessage(message);
    if (malformed !== null) {
      this.opts.onBadMessage?.(message, malformed);
      return false;
    }
    if (message.type === 'app' || message.type === 'heartbeat' || message.type === 'snap') {
      this.leaderContact = this.clock.now();
    }
    this.core.step(message);
    this.schedulePump();
    return true;
  }

  reportUnreachable(peer: string): void {
    if (this.stopped) return;
    this.core.reportUnreachable(peer);
  }

  // =====================================================================================
  // State
  // =====================================================================================

  get appliedIndex(): number {
    return this.applied;
  }

  /** When this node last heard from a leader (clock ms). */
  get lastLeaderContact(): number {
    return this.leaderContact;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  isLeader(): boolean {
    return this.lastSoft.role === 'leader';
  }

  coreStatus(): RaftStatus {
    return this.core.status();
  }

  status(): ReplicaStatus {
    const s = this.core.status();
    return {
      id: this.id,
      role: s.role,
      term: s.term,
      leader: s.lead,
      commitIndex: s.commit,
      appliedIndex: this.applied,
    };
  }

  members(): ReplicaMember[] {
    const conf = this.core.status().confState;
    const member = (id: string, voter: boolean): ReplicaMember => {
      const known = this.book.get(id);
      return {
        id,
        peerAddr: this.resolve(id) ?? known?.peerAddr ?? '',
        clientAddr: known?.clientAddr ?? null,
        voter,
      };
    };
    return [
      ...conf.voters.map((id) => member(id, true)),
      ...conf.learners.map((id) => member(id, false)),
    ].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** In the replicated address book (as of the applied index). */
  inBook(id: string): boolean {
    return this.book.has(id);
  }

  /** `id`'s entry in the address book, if any. */
  bookEntry(id: string): MemberAddress | undefined {
    return this.book.get(id);
  }

  /** Where the book (or, before it knows, the log or a handshake) says `id` listens for peers. */
  knownPeerAddr(id: string): string | undefined {
    const known = this.book.get(id)?.peerAddr;
    return known !== undefined && known !== '' ? known : this.routes.get(id);
  }

  /** The peer address to dial for `peer`. */
  resolve(peer: string): string | undefined {
    return this.knownPeerAddr(peer);
  }

  /** A peer's handshake told us its address: used until the book has one. */
  learnAddress(peer: string, addr: string): void {
    if (!this.book.get(peer)?.peerAddr && !this.routes.has(peer)) this.routes.set(peer, addr);
  }

  setClientAddr(address: string | null): void {
    this.clientAddr = address;
  }

  /** Called after every role or leader change; returns an unsubscribe function. */
  onRoleChange(listener: (status: ReplicaStatus) => void): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  /**
   * Called after the configuration or the address book may have changed (a membership entry
   * appended or applied, a snapshot installed), and once when the driver stops.
   */
  onMembershipApplied(listener: () => void): () => void {
    this.membershipListeners.add(listener);
    return () => this.membershipListeners.delete(listener);
  }

  // =====================================================================================
  // Lifecycle
  // =====================================================================================

  /**
   * Stops: no more ticks, input or Readys. Waiters are rejected with `err`, or forgotten
   * unanswered when `err` is null (a simulated crash). `idle` is called once no disk
   * operation is in flight any more (then the disk may be closed).
   */
  stop(err: unknown, idle?: () => void): void {
    if (!this.stopped) {
      this.stopped = true;
      this.cancelTick();
      if (err === null) this.proposals.dropAll();
      else this.proposals.rejectAll(err);
      this.reads.rejectAll(err);
      this.notifyMembership();
      this.roleListeners.clear();
      this.membershipListeners.clear();
    }
    if (idle) {
      if (this.diskBusy === 0) idle();
      else this.idleWaiters.push(idle);
    }
  }

  // =====================================================================================
  // The clock
  // =====================================================================================

  private scheduleTick(delayMs: number): void {
    this.cancelTick = this.clock.after(delayMs, () => {
      if (this.stopped) return;
      this.tick();
      this.scheduleTick(this.opts.tickMs);
    });
  }

  private tick(): void {
    this.core.tick();
    this.observer.onTick?.();
    // Deadlines are swept here rather than each holding a timer (deadline.ts).
    const now = this.clock.now();
    this.proposals.expire(now);
    this.reads.expire(now);
    if (this.lastSoft.lead !== null) this.proposals.retryAwaitingLeader();
    this.reads.retry(this.electionMs * 2);
    this.maybePromoteLearners();
    this.maybeAnnounce();
    this.schedulePump();
  }

  private issueRead(requestId: string): boolean {
    if (this.stopped) return false;
    try {
      this.core.readIndex(requestId);
      this.schedulePump();
      return true;
    } catch (err) {
      if (err instanceof RaftError && err.code === 'PROPOSAL_DROPPED') return false;
      throw err;
    }
  }

  // =====================================================================================
  // The Ready loop
  // =====================================================================================

  /** Runs the loop once this turn is over: everything that arrives in one turn joins one Ready. */
  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    this.clock.soon(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Takes Readys while writes may be added, and finishes written ones in order. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        while (!this.stopped && this.writes.length < this.maxWritesInFlight && this.core.hasReady()) {
          this.begin(this.core.ready());
        }
        const head = this.writes[0];
        if (this.stopped || !head || !head.done || (head.restore && !head.restore.ready)) break;
        this.finish(this.writes.shift() as Write);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
    }
  }

  private begin(rd: Ready): void {
    this.noteRoutes(rd.entries);
    // The leader's appends and heartbeats leave while it writes (thesis §10.2.1: its own copy
    // counts toward commit only after advance), merged per peer: one append for a burst.
    const early = rd.messages.filter(sendableBeforePersist);
    if (early.length > 0) this.sendMerged(early, true);
    const write: Write = { rd, sentEarly: early.length > 0, done: false, restore: null };
    const writing = this.writes.filter((w) => !w.done).length;
    this.writes.push(write);
    if (rd.snapshot) write.restore = this.prepareRestore(rd.snapshot.metadata, rd.snapshot.data);
    if (rd.snapshot === null && rd.entries.length === 0 && rd.hardState === null) {
      write.done = true; // nothing to write; it still finishes after the writes before it
      return;
    }
    this.observer.onWriteIssued?.(writing);
    this.diskOp((done) =>
      this.disk.write(
        { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState },
        rd.mustSync,
        done,
      ),
    )(() => {
      write.done = true;
      this.pump();
    });
  }

  /** A Ready whose write (and every earlier one) is durable: send, restore, apply, advance. */
  private finish({ rd, sentEarly, restore }: Write): void {
    this.observer.onPersisted?.(rd);
    // Only now may votes and acknowledgements leave: they promise durable state.
    const late = sentEarly ? rd.messages.filter((m) => !sendableBeforePersist(m)) : rd.messages;
    if (late.length > 0) this.sendMerged(late, false);
    if (rd.snapshot) {
      this.observer.onRestoreSnapshot?.(rd.snapshot);
      const prepared = restore as PreparedRestore;
      if (prepared.error) throw prepared.error;
      this.adoptRestored(rd.snapshot.metadata, prepared.restorer.finish());
      this.observer.onRestored?.(rd.snapshot.metadata.index);
      this.opts.log(
        `installed a snapshot from the leader at index ${rd.snapshot.metadata.index} (${rd.snapshot.data.byteLength} bytes)`,
      );
    }
    for (const entry of rd.committedEntries) this.apply(entry);
    // Reads the leader confirmed are served once applied (reads.onApplied below).
    for (const rs of rd.readStates) this.reads.onReadState(rs.requestId, rs.index);
    this.core.advance(rd);
    this.reads.onApplied(this.applied);
    if (rd.softState) this.onSoftState(rd.softState);
    if (rd.confState || rd.snapshot || rd.committedEntries.some((e) => e.type === 'confChange')) {
      this.notifyMembership();
    }
    this.maybeSnapshot();
  }

  /** Sends a Ready's messages merged per peer (coalesce.ts); `early`: before the Ready's write completed. */
  private sendMerged(messages: Message[], early: boolean): void {
    const merged = coalesceMessages(messages, MERGED_APPEND_BYTES);
    this.observer.onSent?.(merged, messages.length - merged.length, early);
    this.opts.send(merged);
  }

  private apply(entry: Entry): void {
    if (entry.index <= this.applied) return;
    this.observer.onApply?.(entry);
    this.applied = entry.index;
    if (entry.type === 'confChange') {
      this.applyConfChange(decodeConfChange(entry.data));
      this.observer.onApplied?.(entry, undefined);
      return;
    }
    const payload = decodePayload(entry.data);
    if (payload.kind === 'announce') this.book.setClientAddr(payload.id, payload.clientAddr);
    if (payload.kind !== 'proposal') {
      this.observer.onApplied?.(entry, undefined);
      return;
    }
    const mine = Buffer.compare(this.opts.token, payload.token) === 0;
    let result: unknown;
    try {
      result = this.sm.apply(payload.command, { index: entry.index, term: entry.term });
    } catch (err) {
      this.opts.log(`state machine failed to apply entry ${entry.index}: ${(err as Error)?.message ?? err}`);
      this.observer.onApplied?.(entry, undefined);
      if (mine) this.proposals.applied(payload.seq, err, undefined);
      return;
    }
    this.observer.onApplied?.(entry, result);
    if (mine) this.proposals.applied(payload.seq, null, result);
  }

  private applyConfChange(change: ConfChange): void {
    const wasMember = this.book.has(change.nodeId);
    this.book.apply(change);
    if (change.type === 'removeNode') {
      this.routes.delete(change.nodeId);
      if (change.nodeId === this.id) this.opts.log('this node was removed from the cluster');
      else this.opts.onMemberRemoved?.(change.nodeId);
    } else if (change.type === 'addVoter' && wasMember) {
      this.opts.log(`${change.nodeId} is now a voter`);
    }
  }

  /** Loads a snapshot's image (address book + state machine); empty data is an empty state. */
  private restoreFrom(metadata: SnapshotMetadata, data: Iterable<Uint8Array>): void {
    if (metadata.index === 0) return;
    this.adoptRestored(metadata, restoreImage(this.sm, { index: metadata.index, term: metadata.term }, data));
  }

  private adoptRestored(metadata: SnapshotMetadata, header: SnapshotHeader | null): void {
    if (header) this.book = MemberBook.fromJSON(header.members);
    this.applied = metadata.index;
    this.snapshotIndex = metadata.index;
  }

  /**
   * Decodes a leader's snapshot into a new state beside the current one, a slice per turn,
   * while its Ready is written (the node keeps answering meanwhile); the Ready finishes, and
   * the new state replaces the old at once, only when both are done.
   */
  private prepareRestore(metadata: SnapshotMetadata, data: Uint8Array): PreparedRestore {
    const job: PreparedRestore = {
      restorer: new ImageRestorer(this.sm, { index: metadata.index, term: metadata.term }),
      ready: false,
      error: null,
    };
    let at = 0;
    const step = () => {
      if (this.stopped) return;
      try {
        const end = Math.min(data.byteLength, at + RESTORE_SLICE_BYTES);
        job.restorer.push(data.subarray(at, end));
        at = end;
      } catch (err) {
        job.error = err;
      }
      if (job.error === null && at < data.byteLength) {
        this.clock.soon(step);
        return;
      }
      job.ready = true;
      this.pump();
    };
    this.clock.soon(step);
    return job;
  }

  /**
   * Snapshots in the background: the state machine's image is taken copy-on-write at this
   * index and pulled a chunk at a time by the disk while the node goes on applying.
   */
  private maybeSnapshot(): void {
    if (this.snapshotting || this.applied - this.snapshotIndex < this.opts.snapshotEvery) return;
    const index = this.applied;
    const chunks = imageChunks({ members: this.book.toJSON() }, this.sm);
    // Streamed to the disk chunk by chunk; kept whole only for an observer that checks images.
    const taken = this.observer.onSnapshotTaken?.bind(this.observer);
    const image = taken ? recordChunks(chunks, (parts) => taken(index, parts)) : chunks;
    this.snapshotting = true;
    const confState = this.core.confStateAt(index);
    this.diskOp((done) => this.disk.saveSnapshot(index, confState, image, this.opts.keepEntries, done))(
      () => {
        this.snapshotting = false;
        this.snapshotIndex = Math.max(this.snapshotIndex, index);
      },
    );
  }

  /**
   * Issues a disk operation; its continuation runs only if it succeeded and the driver still
   * runs (a failure is fatal). Tracks operations in flight for `stop`'s idle callback.
   */
  private diskOp(issue: (done: DiskDone) => void): (then: () => void) => void {
    return (then) => {
      this.diskBusy++;
      issue((err) => {
        this.diskBusy--;
        if (this.stopped) {
          if (this.diskBusy === 0) for (const idle of this.idleWaiters.splice(0)) idle();
          return;
        }
        if (err) this.fail(err);
        else then();
      });
    };
  }

  private onSoftState(soft: SoftState): void {
    const previous = this.lastSoft;
    this.lastSoft = soft;
    const term = this.core.status().term;
    if (soft.role !== previous.role) {
      const lead = soft.role === 'follower' && soft.lead !== null ? ` (leader ${soft.lead})` : '';
      this.opts.log(`became ${soft.role} in term ${term}${lead}`);
    } else if (soft.lead !== previous.lead && soft.lead !== null) {
      this.opts.log(`follows leader ${soft.lead} in term ${term}`);
    }
    if (soft.lead !== previous.lead) {
      // Requests sent to the old leader may be lost with it.
      this.reads.reissueAll();
      if (soft.lead !== null) this.proposals.retryAwaitingLeader();
    }
    const status = this.status();
    for (const listener of [...this.roleListeners]) {
      try {
        listener(status);
      } catch (err) {
        this.opts.log(`role listener failed: ${(err as Error)?.message ?? err}`);
      }
    }
  }

  private notifyMembership(): void {
    for (const listener of [...this.membershipListeners]) listener();
  }

  /** Stops for good on an error the loop cannot recover from (disk), and says so. */
  private fail(err: unknown): void {
    if (this.failed !== null) return;
    this.failed = err;
    this.opts.log(`fatal: ${(err as Error)?.stack ?? String(err)}`);
    this.stop(err);
    this.opts.onFatal(err);
  }

  // =====================================================================================
  // Membership and addresses
  // =====================================================================================

  /** Leader: promotes a learner whose log has caught up with the commit index (one at a time). */
  private maybePromoteLearners(): void {
    if (this.opts.promoteLearners === false || this.lastSoft.role !== 'leader') return;
    const now = this.clock.now();
    if (now - this.lastPromotion < this.opts.tickMs * 2) return;
    const status = this.core.status();
    if (status.confState.learners.length === 0 || status.progress === null) return;
    for (const learner of status.confState.learners) {
      const pr = status.progress[learner];
      if (!pr || pr.match < status.commit) continue;
      this.lastPromotion = now;
      try {
        this.core.proposeConfChange({ type: 'addVoter', nodeId: learner, context: null });
        this.opts.log(`promoting ${learner} to voter (caught up at ${pr.match})`);
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
      }
      return;
    }
  }

  /** Replicates this node's client address while the book does not have it. */
  private maybeAnnounce(): void {
    if (this.clientAddr === null || this.lastSoft.lead === null) return;
    const known = this.book.get(this.id);
    if (!known || known.clientAddr === this.clientAddr) return;
    const now = this.clock.now();
    if (now - this.lastAnnounce < ANNOUNCE_EVERY_MS) return;
    this.lastAnnounce = now;
    try {
      this.core.propose(encodeAnnounce(this.id, this.clientAddr));
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
  }

  private noteRoutes(entries: Entry[]): void {
    for (const entry of entries) {
      if (entry.type !== 'confChange') continue;
      const change = decodeConfChange(entry.data);
      const address = decodeMemberContext(change.context);
      if (address) this.routes.set(change.nodeId, address.peerAddr);
    }
  }
}
