import { randomBytes } from 'node:crypto';
import { ClosedError, InvalidArgumentError, NotReachableError, TimeoutError } from '../../store/errors.js';
import {
  type ConfChange,
  decodeConfChange,
  type Entry,
  type Message,
  RaftCore,
  RaftError,
  type Ready,
  type SnapshotMetadata,
  type SoftState,
  sendableBeforePersist,
} from '../core/index.js';
import type { Replica, ReplicaMember, ReplicaStatus, ReplicatedStateMachine } from '../replica.js';
import type { ClusterAdmin, NewMember } from './admin.js';
import {
  bootstrapEntries,
  checkNodeId,
  deriveClusterId,
  formatInitialCluster,
  type InitialCluster,
  parseInitialCluster,
} from './cluster-config.js';
import { coalesceMessages } from './coalesce.js';
import { Deadline } from './deadline.js';
import { decodePayload, encodeAnnounce, encodeProposal, TOKEN_BYTES } from './entry-payload.js';
import { ClusterMismatchError, MembershipError } from './errors.js';
import { LogStorage } from './log-storage.js';
import { decodeMemberContext, encodeMemberContext, MemberBook } from './member-book.js';
import { ReadBarriers } from './read-barriers.js';
import { decodeSnapshotImage, encodeSnapshotImage } from './snapshot-image.js';
import type { TlsMaterial } from './tls-material.js';
import { Transport } from './transport.js';

/** Clock settings. 1 tick = `tickMs`; elections after `electionTicks` quiet ticks (randomized up to 2×). */
export interface RaftTiming {
  /** Default 100 ms. */
  tickMs?: number;
  /** Default 10 (an election timeout of 1–2 s with the default tick). */
  electionTicks?: number;
  /** Default 1 (a heartbeat every tick). */
  heartbeatTicks?: number;
}

export interface ReplicaNodeOptions {
  id: string;
  dataDir: string;
  /** host:port to listen on for peers and to advertise to them. */
  peerAddr: string;
  /** Client address to advertise in `members()` (the client port), or null. */
  clientAddr?: string | null;
  /** Bootstrap (or, on restart, check) a cluster with these voters. */
  initialCluster?: string | InitialCluster;
  /**
   * Asks a running cluster to add this node (as a learner, promoted once caught up); called
   * by `ensureJoined()` after start, once the client address is known. Also lets `start`
   * accept an empty data dir without an initial cluster.
   */
  join?: (member: NewMember) => Promise<void>;
  stateMachine: ReplicatedStateMachine;
  tls?: TlsMaterial;
  /** One line per event; default: stderr. Lines come prefixed with `[id] `. */
  logger?: (line: string) => void;
  timing?: RaftTiming;
  /** Snapshot the state machine every this many applied entries. Default 100,000 (as etcd). */
  snapshotEvery?: number;
  /** Entries kept in the log before a snapshot, for followers slightly behind. Default 5,000. */
  keepEntries?: number;
  /** Default deadline of `propose` and `readBarrier`. Default 5,000 ms. */
  requestTimeoutMs?: number;
  /** Deadline of a membership change. Default 15,000 ms. */
  membershipTimeoutMs?: number;
  /** Transport knobs (tests). */
  transport?: { maxQueuedMessages?: number; maxQueuedBytes?: number };
  /** Called when the node stops on an unrecoverable error (a failed disk write...). */
  onFatal?: (err: unknown) => void;
}

const DEFAULT_TICK_MS = 100;
/** Largest append built by merging a Ready's appends to one peer (the core's maxSizePerMsg). */
const MERGED_APPEND_BYTES = 1024 * 1024;

/** A proposal and whether it reached the core (else it waits for a leader). */
interface PendingProposal {
  seq: number;
  data: Uint8Array;
  proposed: boolean;
}

/**
 * One Raft server: drives the core with a clock, the peer transport and the durable log,
 * applies committed entries to the state machine, and offers the `Replica` interface
 * (proposals, linearizable read barriers, leadership news) to the layer above.
 *
 * The Ready loop runs at most one batch at a time, in the core's order: persist (fsync)
 * → send → apply → advance. Everything proposed while a batch is being synced goes into the
 * next batch, so concurrent proposals share one fsync.
 */
export class RaftReplicaNode implements Replica, ClusterAdmin {
  readonly id: string;
  readonly transport: Transport;
  private readonly storage: LogStorage;
  private readonly core: RaftCore;
  private readonly sm: ReplicatedStateMachine;
  private readonly log: (line: string) => void;
  private readonly token = randomBytes(TOKEN_BYTES);
  private readonly tickTimer: NodeJS.Timeout;
  private readonly tickMs: number;
  private readonly electionTicks: number;
  private readonly requestTimeoutMs: number;
  private readonly membershipTimeoutMs: number;
  private readonly snapshotEvery: number;
  private readonly keepEntries: number;
  private clientAddr: string | null;
  private readonly join: ((member: NewMember) => Promise<void>) | undefined;
  private readonly peerAddr: string;
  private book: MemberBook;
  /** Addresses from conf changes appended but not applied yet, and from peers' handshakes. */
  private readonly routes = new Map<string, string>();
  private clusterId: string | null;
  private applied: number;
  private snapshotIndex: number;
  private proposalSeq = 0;
  private readonly proposals = new Map<number, Deadline<unknown>>();
  /** Proposals made while no leader was known: proposed once one is. */
  private awaitingLeader: PendingProposal[] = [];
  private readonly reads: ReadBarriers;
  private readonly roleListeners = new Set<(s: ReplicaStatus) => void>();
  private membershipWaiters: (() => void)[] = [];
  private lastSoft: SoftState = { lead: null, role: 'follower' };
  private driving: Promise<void> | null = null;
  private driveScheduled = false;
  private lastAnnounce = 0;
  /** When a leader last sent us an append, heartbeat or snapshot chunk. */
  private lastLeaderContact = Date.now();
  private lastPromotion = 0;
  private closing: Promise<void> | null = null;
  private failed: unknown = null;
  private readonly onFatal: ((err: unknown) => void) | undefined;

  /** Opens the data dir, binds the peer port, and starts the node (bootstrap, restart or join). */
  static async start(opts: ReplicaNodeOptions): Promise<RaftReplicaNode> {
    const id = checkNodeId(opts.id);
    if (typeof opts.dataDir !== 'string' || opts.dataDir === '') {
      throw new InvalidArgumentError('dataDir is required');
    }
    if (typeof opts.peerAddr !== 'string' || opts.peerAddr === '') {
      throw new InvalidArgumentError('peerAddr is required');
    }
    const sink = opts.logger ?? ((line: string) => process.stderr.write(`${line}\n`));
    const log = (line: string) => sink(`[${id}] ${line}`);
    const initial = opts.initialCluster === undefined ? null : parseInitialCluster(opts.initialCluster);
    if (initial && opts.join) throw new InvalidArgumentError('give initialCluster or join, not both');

    // The port first: a port in use must not leave a freshly bootstrapped data dir behind.
    const holder: { node: RaftReplicaNode | null; clusterId: string | null; pendingAdopt: string | null } = {
      node: null,
      clusterId: null,
      pendingAdopt: null,
    };
    const transport = await Transport.start({
      nodeId: id,
      listen: opts.peerAddr,
      advertise: opts.peerAddr,
      clusterId: () => holder.clusterId,
      adoptClusterId: (clusterId, from) => {
        if (!holder.node || holder.clusterId !== null) return false;
        log(`joined cluster ${clusterId} (first contact from ${from})`);
        holder.clusterId = clusterId;
        holder.node.adoptClusterId(clusterId);
        return true;
      },
      resolve: (peer) => holder.node?.resolve(peer),
      learnAddress: (peer, addr) => holder.node?.learnAddress(peer, addr),
      onMessage: (m) => holder.node?.step(m),
      onUnreachable: (peer) => holder.node?.reportUnreachable(peer),
      tls: opts.tls,
      log,
      ...opts.transport,
    });
    let storage: LogStorage | null = null;
    try {
      storage = LogStorage.open(opts.dataDir);
      await prepareStorage(storage, id, opts.peerAddr, initial, opts.join !== undefined);
      holder.clusterId = storage.identity()?.clusterId ?? null;
      const node = new RaftReplicaNode(opts, id, log, storage, transport, holder.clusterId);
      holder.node = node;
      node.kick();
      return node;
    } catch (err) {
      await transport.close();
      await storage?.close();
      throw err;
    }
  }

  private constructor(
    opts: ReplicaNodeOptions,
    id: string,
    log: (line: string) => void,
    storage: LogStorage,
    transport: Transport,
    clusterId: string | null,
  ) {
    this.id = id;
    this.log = log;
    this.storage = storage;
    this.transport = transport;
    this.sm = opts.stateMachine;
    this.clusterId = clusterId;
    this.clientAddr = opts.clientAddr ?? null;
    this.join = opts.join;
    this.peerAddr = opts.peerAddr;
    this.onFatal = opts.onFatal;
    this.tickMs = opts.timing?.tickMs ?? DEFAULT_TICK_MS;
    this.electionTicks = opts.timing?.electionTicks ?? 10;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.membershipTimeoutMs = opts.membershipTimeoutMs ?? 15_000;
    this.snapshotEvery = opts.snapshotEvery ?? 100_000;
    this.keepEntries = opts.keepEntries ?? 5000;

    // The state machine starts from the stored snapshot; the core hands out the committed
    // entries after it in the first Readys.
    const snapshot = storage.snapshot();
    this.snapshotIndex = snapshot.metadata.index;
    this.applied = snapshot.metadata.index;
    this.book = new MemberBook();
    if (snapshot.metadata.index > 0) this.restoreFrom(snapshot.metadata, storage.snapshotParts());
    this.core = new RaftCore({
      id,
      storage,
      electionTick: this.electionTicks,
      heartbeatTick: opts.timing?.heartbeatTicks ?? 1,
      applied: this.applied,
    });
    // Route to members whose conf change is in the log but not applied yet.
    for (let i = storage.firstIndex(); i <= storage.lastIndex(); ) {
      const batch = storage.entries(i, storage.lastIndex() + 1, 4 * 1024 * 1024);
      this.noteRoutes(batch);
      i += batch.length;
    }
    this.checkOwnAddress();
    this.reads = new ReadBarriers(
      (requestId) => this.issueRead(requestId),
      `${id}:${this.token.toString('hex')}`,
    );
    this.tickTimer = setInterval(() => this.tick(), this.tickMs);
  }

  // =====================================================================================
  // Replica
  // =====================================================================================

  propose(command: Uint8Array, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<unknown> {
    if (this.closing) return Promise.reject(new ClosedError(`raft node ${this.id} is closed`));
    const seq = ++this.proposalSeq;
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    const pending: PendingProposal = { seq, data: encodeProposal(this.token, seq, command), proposed: false };
    const promise = new Promise<unknown>((resolve, reject) => {
      const deadline = new Deadline<unknown>(resolve, reject, {
        timeoutMs,
        signal: opts.signal,
        onTimeout: () =>
          pending.proposed
            ? new TimeoutError(`proposal not applied within ${timeoutMs} ms (it may still apply)`)
            : new NotReachableError(`no raft leader known to node ${this.id} within ${timeoutMs} ms`),
      });
      if (!deadline.settled) this.proposals.set(seq, deadline);
    });
    promise
      .finally(() => {
        this.proposals.delete(seq);
        if (!pending.proposed) this.awaitingLeader = this.awaitingLeader.filter((p) => p !== pending);
      })
      .catch(() => {});
    if (this.proposals.has(seq)) {
      pending.proposed = this.submit(seq, pending.data);
      if (!pending.proposed) this.awaitingLeader.push(pending);
    }
    return promise;
  }

  readBarrier(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    if (this.closing) return Promise.reject(new ClosedError(`raft node ${this.id} is closed`));
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    return this.reads.wait({
      timeoutMs,
      signal: opts.signal,
      timeoutError: (sent) =>
        sent
          ? new TimeoutError(`read barrier not confirmed within ${timeoutMs} ms`)
          : new NotReachableError(`no raft leader known to node ${this.id}`),
    });
  }

  isLeader(): boolean {
    return this.lastSoft.role === 'leader';
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

  onRoleChange(listener: (status: ReplicaStatus) => void): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  // =====================================================================================
  // ClusterAdmin
  // =====================================================================================

  /** Adds a member as a learner; the leader promotes it to voter once it has caught up. */
  async addMember(member: NewMember): Promise<void> {
    checkNodeId(member.id);
    if (typeof member.peerAddr !== 'string' || !/:\d+$/.test(member.peerAddr)) {
      throw new InvalidArgumentError(`addMember ${member.id}: peerAddr must be host:port`);
    }
    const known = this.book.get(member.id);
    if (known) {
      if (known.peerAddr !== member.peerAddr) {
        throw new MembershipError(
          `${member.id} is already a member at ${known.peerAddr}; remove it before adding it at ${member.peerAddr}`,
        );
      }
      return;
    }
    const context = encodeMemberContext({ peerAddr: member.peerAddr, clientAddr: member.clientAddr ?? null });
    await this.changeMembership({ type: 'addLearner', nodeId: member.id, context }, () =>
      this.book.has(member.id),
    );
    this.log(`added ${member.id} (${member.peerAddr}) as a learner`);
  }

  /** Removes a member (a dead one, or this node itself). */
  async removeMember(id: string): Promise<void> {
    if (!this.book.has(id) && !this.confMembers().includes(id)) return;
    if (id === this.id) {
      await this.removeSelf();
      return;
    }
    await this.changeMembership({ type: 'removeNode', nodeId: id, context: null }, () => !this.book.has(id));
    this.log(`removed ${id} from the cluster`);
  }

  /**
   * A follower may never learn that its own removal committed: the leader stops sending to
   * it the moment it appends the change. So a voter first takes over leadership (a leader
   * applies its own removal, then hands leadership on); a learner, or a voter that cannot
   * take over, proposes its removal and takes the leader's silence as the answer.
   */
  private async removeSelf(): Promise<void> {
    const change: ConfChange = { type: 'removeNode', nodeId: this.id, context: null };
    const electionMs = this.tickMs * this.electionTicks;
    const isVoter = () => this.core.status().confState.voters.includes(this.id);
    for (let attempt = 0; attempt < 5 && isVoter() && !this.isLeader() && !this.closing; attempt++) {
      this.core.transferLeadership(this.id);
      this.kick();
      await waitUntil(() => this.isLeader() || this.closed, electionMs * 2);
    }
    if (this.isLeader()) {
      await this.changeMembership(change, () => !this.book.has(this.id));
    } else {
      const since = Date.now();
      await this.changeMembership(
        change,
        () =>
          !this.book.has(this.id) ||
          (this.lastLeaderContact < Date.now() - 2 * electionMs && Date.now() - since > 2 * electionMs),
      );
    }
    this.log('left the cluster');
  }

  /** Removes this node from the cluster, then closes it. */
  async leave(): Promise<void> {
    await this.removeMember(this.id);
    await this.close();
  }

  /** Asks the leader to hand leadership to `to` (a caught-up voter). */
  transferLeadership(to: string): void {
    this.core.transferLeadership(to);
    this.kick();
  }

  // =====================================================================================
  // Lifecycle
  // =====================================================================================

  get closed(): boolean {
    return this.closing !== null;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.tickTimer);
    const err = new ClosedError(`raft node ${this.id} is closed`);
    for (const p of [...this.proposals.values()]) p.reject(err);
    this.proposals.clear();
    this.awaitingLeader = [];
    this.reads.rejectAll(err);
    this.wakeMembershipWaiters();
    this.roleListeners.clear();
    try {
      await this.driving;
    } catch {
      // already reported by the loop
    }
    await this.transport.close();
    await this.storage.close();
  }

  /** The loop hit an error it cannot recover from (disk): stop everything, loudly. */
  private fail(err: unknown): void {
    if (this.failed !== null) return;
    this.failed = err;
    this.log(`fatal: ${(err as Error)?.stack ?? String(err)}`);
    void this.close();
    this.onFatal?.(err);
  }

  // =====================================================================================
  // Inputs
  // =====================================================================================

  private tick(): void {
    if (this.closing) return;
    this.core.tick();
    this.retryAwaitingLeader();
    this.reads.retry(Date.now(), this.tickMs * this.electionTicks * 2);
    this.maybePromoteLearners();
    this.maybeAnnounce();
    this.kick();
  }

  private step(message: Message): void {
    if (this.closing) return;
    if (message.type === 'app' || message.type === 'heartbeat' || message.type === 'snap') {
      this.lastLeaderContact = Date.now();
    }
    this.core.step(message);
    this.kick();
  }

  private reportUnreachable(peer: string): void {
    if (this.closing) return;
    this.core.reportUnreachable(peer);
  }

  /** Proposes to the core; false when no leader is known (the caller keeps it for later). */
  private submit(seq: number, data: Uint8Array): boolean {
    try {
      this.core.propose(data);
      this.kick();
      return true;
    } catch (err) {
      if (err instanceof RaftError && err.code === 'PROPOSAL_DROPPED') return false;
      const waiter = this.proposals.get(seq);
      waiter?.reject(err);
      return true;
    }
  }

  private retryAwaitingLeader(): void {
    if (this.awaitingLeader.length === 0 || this.lastSoft.lead === null) return;
    const waiting = this.awaitingLeader;
    this.awaitingLeader = [];
    for (const item of waiting) {
      if (!this.proposals.has(item.seq)) continue;
      item.proposed = this.submit(item.seq, item.data);
      if (!item.proposed) this.awaitingLeader.push(item);
    }
  }

  private issueRead(requestId: string): boolean {
    if (this.closing) return false;
    try {
      this.core.readIndex(requestId);
      this.kick();
      return true;
    } catch (err) {
      if (err instanceof RaftError && err.code === 'PROPOSAL_DROPPED') return false;
      throw err;
    }
  }

  // =====================================================================================
  // The Ready loop
  // =====================================================================================

  /** Schedules the loop for the next turn: everything that happens in this turn joins one batch. */
  private kick(): void {
    if (this.driveScheduled || this.driving || this.closing || this.failed !== null) return;
    this.driveScheduled = true;
    setImmediate(() => {
      this.driveScheduled = false;
      if (this.driving || this.closing) return;
      this.driving = this.drive().finally(() => {
        this.driving = null;
        if (!this.closing && this.core.hasReady()) this.kick();
      });
    });
  }

  private async drive(): Promise<void> {
    try {
      while (!this.closing && this.core.hasReady()) {
        const rd = this.core.ready();
        await this.handle(rd);
        if (this.closing) return;
        this.core.advance(rd);
        this.reads.onApplied(this.applied);
        if (rd.softState) this.onSoftState(rd.softState);
        if (rd.committedEntries.some((e) => e.type === 'confChange')) this.wakeMembershipWaiters();
        await this.maybeSnapshot();
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private async handle(rd: Ready): Promise<void> {
    this.noteRoutes(rd.entries);
    // The leader's appends and heartbeats leave while it writes (merged per peer: one append
    // for a burst of proposals): its own copy counts only after advance.
    const early = rd.messages.filter(sendableBeforePersist);
    if (early.length > 0) this.transport.send(coalesceMessages(early, MERGED_APPEND_BYTES));
    // 1–2. Persist the snapshot, entries and hard state (fsync when the core says so).
    await this.storage.persist(
      { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState },
      rd.mustSync,
    );
    if (this.closing) return;
    // 3. Only now may votes and acknowledgements leave.
    const late = early.length > 0 ? rd.messages.filter((m) => !sendableBeforePersist(m)) : rd.messages;
    if (late.length > 0) this.transport.send(coalesceMessages(late, MERGED_APPEND_BYTES));
    // 4. Restore from the snapshot, then apply committed entries in order.
    if (rd.snapshot) {
      this.restoreFrom(rd.snapshot.metadata, rd.snapshot.data);
      this.log(
        `installed a snapshot from the leader at index ${rd.snapshot.metadata.index} (${rd.snapshot.data.byteLength} bytes)`,
      );
    }
    for (const entry of rd.committedEntries) this.apply(entry);
    // 5. Reads confirmed by the leader are served once applied (see reads.onApplied).
    for (const rs of rd.readStates) this.reads.onReadState(rs.requestId, rs.index);
  }

  private apply(entry: Entry): void {
    if (entry.index <= this.applied) return;
    this.applied = entry.index;
    if (entry.type === 'confChange') {
      this.applyConfChange(decodeConfChange(entry.data));
      return;
    }
    const payload = decodePayload(entry.data);
    switch (payload.kind) {
      case 'noop':
      case 'unknown':
        return;
      case 'announce':
        this.book.setClientAddr(payload.id, payload.clientAddr);
        return;
      case 'proposal': {
        const mine = this.token.equals(payload.token);
        let result: unknown;
        try {
          result = this.sm.apply(payload.command, { index: entry.index, term: entry.term });
        } catch (err) {
          this.log(`state machine failed to apply entry ${entry.index}: ${(err as Error)?.message ?? err}`);
          if (mine) this.proposals.get(payload.seq)?.reject(err);
          return;
        }
        if (mine) this.proposals.get(payload.seq)?.resolve(result);
        return;
      }
    }
  }

  private applyConfChange(change: ConfChange): void {
    const wasMember = this.book.has(change.nodeId);
    this.book.apply(change);
    if (change.type === 'removeNode') {
      this.routes.delete(change.nodeId);
      if (change.nodeId === this.id) this.log('this node was removed from the cluster');
      else this.transport.dropPeer(change.nodeId);
    } else if (change.type === 'addVoter' && wasMember) {
      this.log(`${change.nodeId} is now a voter`);
    }
  }

  private restoreFrom(metadata: SnapshotMetadata, data: Uint8Array | Uint8Array[]): void {
    const { header, image } = decodeSnapshotImage(data);
    this.sm.restore(image, { index: metadata.index, term: metadata.term });
    this.book = MemberBook.fromJSON(header.members);
    this.applied = metadata.index;
    this.snapshotIndex = metadata.index;
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.applied - this.snapshotIndex < this.snapshotEvery) return;
    const index = this.applied;
    const image = encodeSnapshotImage({ members: this.book.toJSON() }, this.sm.snapshot());
    await this.storage.createSnapshot(index, this.core.confStateAt(index), image, this.keepEntries);
    this.snapshotIndex = index;
  }

  private onSoftState(soft: SoftState): void {
    const previous = this.lastSoft;
    this.lastSoft = soft;
    const term = this.core.status().term;
    if (soft.role !== previous.role) {
      const lead = soft.role === 'follower' && soft.lead !== null ? ` (leader ${soft.lead})` : '';
      this.log(`became ${soft.role} in term ${term}${lead}`);
    } else if (soft.lead !== previous.lead && soft.lead !== null) {
      this.log(`follows leader ${soft.lead} in term ${term}`);
    }
    if (soft.lead !== previous.lead) {
      // Requests sent to the old leader may be lost with it.
      this.reads.reissueAll();
      this.retryAwaitingLeader();
    }
    const status = this.status();
    for (const listener of [...this.roleListeners]) {
      try {
        listener(status);
      } catch (err) {
        this.log(`role listener failed: ${(err as Error)?.message ?? err}`);
      }
    }
  }

  // =====================================================================================
  // Membership
  // =====================================================================================

  private confMembers(): string[] {
    const conf = this.core.status().confState;
    return [...conf.voters, ...conf.learners];
  }

  isMemberOfCluster(): boolean {
    return this.confMembers().includes(this.id) || this.book.has(this.id);
  }

  /**
   * Proposes `change` until `done()` holds (it is applied here), retrying while the leader
   * refuses (another change in progress, no leader yet) until the membership deadline.
   */
  private async changeMembership(change: ConfChange, done: () => boolean): Promise<void> {
    const deadline = Date.now() + this.membershipTimeoutMs;
    let lastRefusal = 'no leader known';
    while (!done()) {
      if (this.closing) throw new ClosedError(`raft node ${this.id} is closed`);
      if (Date.now() > deadline) {
        throw new MembershipError(`${change.type} ${change.nodeId} did not complete in time: ${lastRefusal}`);
      }
      try {
        this.core.proposeConfChange(change);
        this.kick();
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
        lastRefusal = err.message;
      }
      await this.membershipChanged(Math.min(1000, Math.max(1, deadline - Date.now())));
    }
  }

  private membershipChanged(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.membershipWaiters.push(done);
    });
  }

  private wakeMembershipWaiters(): void {
    const waiters = this.membershipWaiters;
    this.membershipWaiters = [];
    for (const w of waiters) w();
  }

  /** Leader: promotes each learner whose log has caught up with the commit index. */
  private maybePromoteLearners(): void {
    if (this.lastSoft.role !== 'leader') return;
    const now = Date.now();
    if (now - this.lastPromotion < this.tickMs * 2) return;
    const status = this.core.status();
    if (status.confState.learners.length === 0 || status.progress === null) return;
    for (const learner of status.confState.learners) {
      const pr = status.progress[learner];
      if (!pr || pr.match < status.commit) continue;
      this.lastPromotion = now;
      try {
        this.core.proposeConfChange({ type: 'addVoter', nodeId: learner, context: null });
        this.log(`promoting ${learner} to voter (caught up at ${pr.match})`);
        this.kick();
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
      }
      return; // one change at a time
    }
  }

  /** Replicates this node's client address when the book does not have it yet. */
  private maybeAnnounce(): void {
    if (this.clientAddr === null || this.lastSoft.lead === null) return;
    const known = this.book.get(this.id);
    if (!known || known.clientAddr === this.clientAddr) return;
    const now = Date.now();
    if (now - this.lastAnnounce < 2000) return;
    this.lastAnnounce = now;
    try {
      this.core.propose(encodeAnnounce(this.id, this.clientAddr));
      this.kick();
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
  }

  /** A node started with `join` asks its cluster to add it, unless it is a member already. */
  async ensureJoined(): Promise<void> {
    if (!this.join || this.isMemberOfCluster()) return;
    this.log('asking the cluster to add this node');
    await this.join({ id: this.id, peerAddr: this.peerAddr, clientAddr: this.clientAddr });
    await waitUntil(() => this.isMemberOfCluster() || this.closed, this.membershipTimeoutMs);
    if (!this.isMemberOfCluster()) {
      throw new MembershipError(`node ${this.id} was added but has not heard from the cluster's leader`);
    }
  }

  /** Sets the client address this node advertises (known only once the client port is bound). */
  setClientAddr(address: string | null): void {
    this.clientAddr = address;
  }

  /** The peer address configured must match what the cluster knows for this node. */
  private checkOwnAddress(): void {
    const known = this.book.get(this.id)?.peerAddr ?? this.routes.get(this.id);
    if (known !== undefined && known !== '' && known !== this.peerAddr) {
      throw new ClusterMismatchError(
        `this node's peer address is ${this.peerAddr}, but its cluster knows ${this.id} at ${known}`,
      );
    }
  }

  // =====================================================================================
  // Routing
  // =====================================================================================

  private resolve(peer: string): string | undefined {
    const known = this.book.get(peer)?.peerAddr;
    return known !== undefined && known !== '' ? known : this.routes.get(peer);
  }

  private learnAddress(peer: string, addr: string): void {
    if (!this.book.get(peer)?.peerAddr && !this.routes.has(peer)) this.routes.set(peer, addr);
  }

  private noteRoutes(entries: Entry[]): void {
    for (const entry of entries) {
      if (entry.type !== 'confChange') continue;
      const change = decodeConfChange(entry.data);
      const address = decodeMemberContext(change.context);
      if (address) this.routes.set(change.nodeId, address.peerAddr);
    }
  }

  private adoptClusterId(clusterId: string): void {
    this.clusterId = clusterId;
    const identity = this.storage.identity();
    void this.storage
      .setIdentity({ nodeId: this.id, clusterId, initialCluster: identity?.initialCluster ?? null })
      .catch((err) => this.fail(err));
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Checks a data dir against the options, or initialises a new one: a bootstrap member
 * writes the cluster's first entries; a joining node only its identity.
 */
async function prepareStorage(
  storage: LogStorage,
  id: string,
  peerAddr: string,
  initial: InitialCluster | null,
  joining: boolean,
): Promise<void> {
  const identity = storage.identity();
  if (identity === null) {
    if (initial) {
      if (!(id in initial)) {
        throw new ClusterMismatchError(
          `node ${id} is not in the initial cluster ${formatInitialCluster(initial)}`,
        );
      }
      if (initial[id] !== peerAddr) {
        throw new ClusterMismatchError(
          `the initial cluster lists ${id} at ${initial[id]}, but its peer address is ${peerAddr}`,
        );
      }
      const entries = bootstrapEntries(initial);
      await storage.bootstrap(
        { nodeId: id, clusterId: deriveClusterId(initial), initialCluster: formatInitialCluster(initial) },
        entries,
        { term: 1, vote: null, commit: entries.length },
      );
      return;
    }
    if (!joining) {
      throw new InvalidArgumentError(
        `data dir ${storage.dir} is empty: give initialCluster to bootstrap a cluster, or join to join one`,
      );
    }
    await storage.setIdentity({ nodeId: id, clusterId: null, initialCluster: null });
    return;
  }
  if (identity.nodeId !== id) {
    throw new ClusterMismatchError(
      `data dir ${storage.dir} belongs to node ${identity.nodeId}, not ${id}. Nothing was changed.`,
    );
  }
  if (initial && identity.clusterId !== null) {
    const expected = deriveClusterId(initial);
    if (identity.initialCluster === null) {
      throw new ClusterMismatchError(
        `data dir ${storage.dir} belongs to a node that joined cluster ${identity.clusterId}; ` +
          'restart it without an initial cluster. Nothing was changed.',
      );
    }
    if (expected !== identity.clusterId) {
      throw new ClusterMismatchError(
        `data dir ${storage.dir} belongs to cluster ${identity.clusterId} (${identity.initialCluster}), ` +
          `but the initial cluster given is ${formatInitialCluster(initial)} (cluster ${expected}). Nothing was changed.`,
      );
    }
  }
}
