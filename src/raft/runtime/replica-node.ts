import { randomBytes } from 'node:crypto';
import { ClosedError, InvalidArgumentError } from '../../store/errors.js';
import { type ConfChange, type Message, RaftError } from '../core/index.js';
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
import { RaftDriver } from './driver.js';
import { type DriverClock, wallClock } from './driver-io.js';
import { TOKEN_BYTES } from './entry-payload.js';
import { ClusterMismatchError, MembershipError } from './errors.js';
import { LogStorageDisk } from './log-disk.js';
import { LogStorage } from './log-storage.js';
import { encodeMemberContext } from './member-book.js';
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
  /** Readys written at once (see RaftDriverOptions.maxWritesInFlight). Default 1. */
  maxWritesInFlight?: number;
  /** Transport knobs (tests). */
  transport?: { maxQueuedMessages?: number; maxQueuedBytes?: number };
  /** Called when the node stops on an unrecoverable error (a failed disk write...). */
  onFatal?: (err: unknown) => void;
  /** Hooks for the node's metrics (src/metrics); they run synchronously and must not throw. */
  observe?: ReplicaNodeObserver;
}

/** What the node's metrics see of the runtime: messages to and from peers, durable log writes. */
export interface ReplicaNodeObserver {
  onSend?(messages: readonly Message[]): void;
  onReceive?(message: Message): void;
  /** One write of the log took `ms`; `synced`: it was fsync'd (the WAL fsync of etcd's metrics). */
  onLogWrite?(ms: number, synced: boolean): void;
}

const DEFAULT_TICK_MS = 100;

/**
 * One production Raft server: the driver (driver.ts: Ready loop, proposals, read barriers,
 * apply, snapshots) on the wall clock, the LMDB log (LogStorage) and the TCP transport, plus
 * what only a real server does: open and check its data dir, bind its port, join a cluster,
 * and administer membership (ClusterAdmin). Offers the `Replica` interface to the layer above.
 */
export class RaftReplicaNode implements Replica, ClusterAdmin {
  readonly id: string;
  readonly transport: Transport;
  private readonly storage: LogStorage;
  private readonly driver: RaftDriver;
  private readonly clock: DriverClock = wallClock;
  private readonly log: (line: string) => void;
  private readonly tickMs: number;
  private readonly electionTicks: number;
  private readonly requestTimeoutMs: number;
  private readonly membershipTimeoutMs: number;
  private readonly join: ((member: NewMember) => Promise<void>) | undefined;
  private readonly peerAddr: string;
  private clientAddr: string | null;
  private closing: Promise<void> | null = null;

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
    const holder: { node: RaftReplicaNode | null; clusterId: string | null } = {
      node: null,
      clusterId: null,
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
      resolve: (peer) => holder.node?.driver.resolve(peer),
      learnAddress: (peer, addr) => holder.node?.driver.learnAddress(peer, addr),
      onMessage: (m) => {
        opts.observe?.onReceive?.(m);
        holder.node?.driver.step(m);
      },
      onUnreachable: (peer) => holder.node?.driver.reportUnreachable(peer),
      tls: opts.tls,
      log,
      ...opts.transport,
    });
    let storage: LogStorage | null = null;
    try {
      storage = LogStorage.open(opts.dataDir);
      await prepareStorage(storage, id, opts.peerAddr, initial, opts.join !== undefined);
      holder.clusterId = storage.identity()?.clusterId ?? null;
      const node = new RaftReplicaNode(opts, id, log, storage, transport);
      holder.node = node;
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
  ) {
    this.id = id;
    this.log = log;
    this.storage = storage;
    this.transport = transport;
    this.clientAddr = opts.clientAddr ?? null;
    this.join = opts.join;
    this.peerAddr = opts.peerAddr;
    this.tickMs = opts.timing?.tickMs ?? DEFAULT_TICK_MS;
    this.electionTicks = opts.timing?.electionTicks ?? 10;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.membershipTimeoutMs = opts.membershipTimeoutMs ?? 15_000;
    this.driver = new RaftDriver({
      id,
      disk: timedWrites(new LogStorageDisk(storage), opts.observe?.onLogWrite),
      clock: this.clock,
      send: (messages) => {
        opts.observe?.onSend?.(messages);
        transport.send(messages);
      },
      stateMachine: opts.stateMachine,
      token: randomBytes(TOKEN_BYTES),
      raft: { electionTick: this.electionTicks, heartbeatTick: opts.timing?.heartbeatTicks ?? 1 },
      tickMs: this.tickMs,
      snapshotEvery: opts.snapshotEvery ?? 100_000,
      keepEntries: opts.keepEntries ?? 5000,
      maxWritesInFlight: opts.maxWritesInFlight,
      clientAddr: this.clientAddr,
      onMemberRemoved: (peer) => transport.dropPeer(peer),
      log,
      onFatal: (err) => {
        void this.close();
        opts.onFatal?.(err);
      },
    });
    this.checkOwnAddress();
  }

  // =====================================================================================
  // Replica
  // =====================================================================================

  propose(command: Uint8Array, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.driver.propose(
        command,
        { timeoutMs: opts.timeoutMs ?? this.requestTimeoutMs, signal: opts.signal },
        (err, result) => (err ? reject(err) : resolve(result)),
      ),
    );
  }

  readBarrier(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    return new Promise((resolve, reject) =>
      this.driver.readBarrier(
        { timeoutMs: opts.timeoutMs ?? this.requestTimeoutMs, signal: opts.signal },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  isLeader(): boolean {
    return this.driver.isLeader();
  }

  status(): ReplicaStatus {
    return this.driver.status();
  }

  members(): ReplicaMember[] {
    return this.driver.members();
  }

  onRoleChange(listener: (status: ReplicaStatus) => void): () => void {
    return this.driver.onRoleChange(listener);
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
    const known = this.driver.bookEntry(member.id);
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
      this.driver.inBook(member.id),
    );
    this.log(`added ${member.id} (${member.peerAddr}) as a learner`);
  }

  /** Removes a member (a dead one, or this node itself). */
  async removeMember(id: string): Promise<void> {
    if (!this.driver.inBook(id) && !this.confMembers().includes(id)) return;
    if (id === this.id) {
      await this.removeSelf();
      return;
    }
    await this.changeMembership(
      { type: 'removeNode', nodeId: id, context: null },
      () => !this.driver.inBook(id),
    );
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
    const isVoter = () => this.driver.coreStatus().confState.voters.includes(this.id);
    for (let attempt = 0; attempt < 5 && isVoter() && !this.isLeader() && !this.closing; attempt++) {
      this.driver.transferLeadership(this.id);
      await this.waitFor(() => this.isLeader() || this.closed, electionMs * 2);
    }
    if (this.isLeader()) {
      await this.changeMembership(change, () => !this.driver.inBook(this.id));
    } else {
      const since = this.clock.now();
      const silent = () =>
        this.driver.lastLeaderContact < this.clock.now() - 2 * electionMs &&
        this.clock.now() - since > 2 * electionMs;
      await this.changeMembership(change, () => !this.driver.inBook(this.id) || silent());
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
    this.driver.transferLeadership(to);
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
    // The disk write in flight finishes before the file closes.
    await new Promise<void>((idle) =>
      this.driver.stop(new ClosedError(`raft node ${this.id} is closed`), idle),
    );
    await this.transport.close();
    await this.storage.close();
  }

  // =====================================================================================
  // Membership
  // =====================================================================================

  private confMembers(): string[] {
    const conf = this.driver.coreStatus().confState;
    return [...conf.voters, ...conf.learners];
  }

  isMemberOfCluster(): boolean {
    return this.confMembers().includes(this.id) || this.driver.inBook(this.id);
  }

  /**
   * Proposes `change` until `done()` holds (it is applied here), proposing again while the
   * leader refuses (another change in progress, no leader yet), until the membership deadline.
   */
  private async changeMembership(change: ConfChange, done: () => boolean): Promise<void> {
    const deadline = this.clock.now() + this.membershipTimeoutMs;
    let lastRefusal = 'no leader known';
    while (!done()) {
      if (this.closing) throw new ClosedError(`raft node ${this.id} is closed`);
      if (this.clock.now() > deadline) {
        throw new MembershipError(`${change.type} ${change.nodeId} did not complete in time: ${lastRefusal}`);
      }
      try {
        this.driver.proposeConfChange(change);
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
        lastRefusal = err.message;
      }
      // Until the membership changes here, or a second passes (then propose again).
      await this.waitFor(() => false, Math.min(1000, Math.max(1, deadline - this.clock.now())));
    }
  }

  /**
   * Resolves once `condition()` holds, checked whenever the role, the configuration or the
   * address book changes (and when the node stops), or once `timeoutMs` passed.
   * `() => false` waits for the next such change.
   */
  private waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (condition()) {
        resolve();
        return;
      }
      const offRole = this.driver.onRoleChange(check);
      const offMembership = this.driver.onMembershipApplied(finish);
      const cancel = this.clock.after(timeoutMs, finish);
      function check() {
        if (condition()) finish();
      }
      function finish() {
        offRole();
        offMembership();
        cancel();
        resolve();
      }
      if (this.driver.isStopped) finish();
    });
  }

  /** A node started with `join` asks its cluster to add it, unless it is a member already. */
  async ensureJoined(): Promise<void> {
    if (!this.join || this.isMemberOfCluster()) return;
    this.log('asking the cluster to add this node');
    await this.join({ id: this.id, peerAddr: this.peerAddr, clientAddr: this.clientAddr });
    const deadline = this.clock.now() + this.membershipTimeoutMs;
    while (!this.isMemberOfCluster() && !this.closed && this.clock.now() < deadline) {
      await this.waitFor(() => this.isMemberOfCluster() || this.closed, deadline - this.clock.now());
    }
    if (!this.isMemberOfCluster()) {
      throw new MembershipError(`node ${this.id} was added but has not heard from the cluster's leader`);
    }
  }

  /** Sets the client address this node advertises (known only once the client port is bound). */
  setClientAddr(address: string | null): void {
    this.clientAddr = address;
    this.driver.setClientAddr(address);
  }

  /** The peer address configured must match what the cluster knows for this node. */
  private checkOwnAddress(): void {
    const known = this.driver.knownPeerAddr(this.id);
    if (known !== undefined && known !== '' && known !== this.peerAddr) {
      this.driver.stop(null);
      throw new ClusterMismatchError(
        `this node's peer address is ${this.peerAddr}, but its cluster knows ${this.id} at ${known}`,
      );
    }
  }

  private adoptClusterId(clusterId: string): void {
    const identity = this.storage.identity();
    void this.storage
      .setIdentity({ nodeId: this.id, clusterId, initialCluster: identity?.initialCluster ?? null })
      .catch((err) => {
        this.log(`fatal: cannot record cluster id: ${(err as Error)?.message ?? err}`);
        void this.close();
      });
  }
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

/** The disk, reporting how long each write took when asked to (metrics). */
function timedWrites(disk: LogStorageDisk, onWrite: ReplicaNodeObserver['onLogWrite']): LogStorageDisk {
  if (!onWrite) return disk;
  const write = disk.write.bind(disk);
  disk.write = (batch, sync, done) => {
    const started = performance.now();
    write(batch, sync, (err) => {
      onWrite(performance.now() - started, sync);
      done(err);
    });
  };
  return disk;
}
