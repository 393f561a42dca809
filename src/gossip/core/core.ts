import { createRng } from '../../raft/core/rng.js';
import { InvalidArgumentError } from '../../store/errors.js';
import { BroadcastQueue } from './broadcast-queue.js';
import type { WireError } from './bytes.js';
import {
  type GossipConfig,
  pushPullScaleMs,
  resolveConfig,
  retransmitLimit,
  suspicionTimeoutMs,
} from './config.js';
import { NotOnNetworkError } from './errors.js';
import { checkKey, checkName, checkValue } from './limits.js';
import { ALIVE, DEAD, LEFT, MemberTable, STATE_NAMES, SUSPECT } from './members.js';
import {
  type AliveMsg,
  type DeadMsg,
  decodePacket,
  encodeMessage,
  type IndirectPingMsg,
  type MemberStateName,
  type NetworkMsg,
  PacketBuilder,
  type PacketMsg,
  type PingMsg,
  type SuspectMsg,
  type TableRecord,
} from './messages.js';
import { type CoreRng, pickRandom, shuffle } from './random.js';
import { RateLimitedReports } from './reports.js';
import { NetworkRoster } from './roster.js';
import {
  type AttachmentRecord,
  decodeAnswer,
  decodeRequest,
  encodeAnswer,
  encodeRequest,
  type MemberRecord,
  type StreamAnswer,
  type StreamRequest,
} from './streams.js';
import { Suspicion } from './suspicion.js';
import {
  bucketCountFor,
  keyHashOf,
  keyId,
  newerThan,
  recordId,
  type StoredRecord,
  TableStore,
  versionHashOf,
} from './table-store.js';
import { type TimerHandle, TimerHeap } from './timers.js';

export interface GossipCoreOptions {
  /** Unique member name (1..64 bytes). */
  name: string;
  /** The address other members reach this one at (`host:port`, UDP and TCP). */
  addr: string;
  /** Seed of every random choice the core makes. */
  seed: number;
  /** The core clock at creation (ms; any origin, only differences matter). */
  now: number;
  config?: Partial<GossipConfig>;
  /** Also emit record-level events (`record`, `foreign`, `declared-dead`) for simulators and benchmarks. */
  observe?: boolean;
}

export type EntryEventType = 'create' | 'update' | 'delete';

/** What the core tells its driver besides packets and streams. */
export type CoreEvent =
  | { kind: 'member'; name: string; addr: string; state: MemberStateName; previous: MemberStateName | null }
  | {
      kind: 'entry';
      network: string;
      table: string;
      key: string;
      type: EntryEventType;
      value: Uint8Array | null;
      owner: string;
    }
  /** The outcome of `join()`: how many addresses answered. */
  | { kind: 'joined'; ok: boolean; contacted: number; error: string | null }
  /** After `leave()`: the departure went out (or there was nobody to tell). */
  | { kind: 'left' }
  | { kind: 'warning'; code: string; message: string }
  /** observe: a record version this node applied (from its own API, gossip or a sync). */
  | {
      kind: 'record';
      network: string;
      table: string;
      key: string;
      owner: string;
      ltime: number;
      deleted: boolean;
      via: 'local' | 'gossip' | 'sync';
    }
  /** observe: table traffic for a network this node never joined reached it (and was dropped). */
  | { kind: 'foreign'; network: string }
  /** observe: this node's suspicion of a member ran out. */
  | { kind: 'declared-dead'; name: string };

export interface OutPacket {
  to: string;
  bytes: Uint8Array;
}
/** A request to open a stream to `to`, send `bytes` and hand the answer to `streamAnswer(id, …)`. */
export interface OutStream {
  id: number;
  to: string;
  bytes: Uint8Array;
}
export interface CoreOutput {
  packets: OutPacket[];
  streams: OutStream[];
  events: CoreEvent[];
}

export interface MemberInfo {
  name: string;
  addr: string;
  state: MemberStateName;
  incarnation: number;
}

export interface NetworkStats {
  network: string;
  /** Whether this member is on it (otherwise only its attachments are known). */
  joined: boolean;
  /** Members on the network, this one included when joined. */
  members: number;
  entries: number;
  /** Entries of failed owners, kept but not shown. */
  hidden: number;
  tombstones: number;
  queued: number;
  dropped: number;
  syncs: number;
  syncFailures: number;
  /** ms since the last successful sync, or null. */
  lastSyncAgeMs: number | null;
}

export interface CoreStats {
  packetsIn: number;
  packetsOut: number;
  bytesOut: number;
  streamsOut: number;
  malformed: number;
  probes: number;
  probeFailures: number;
  /** Probes whose UDP ping went unanswered but whose TCP fallback ping was answered. */
  tcpFallbacks: number;
  /** One-way packet loss this member estimates from its unanswered direct probes (0..0.5). */
  packetLoss: number;
  refutes: number;
  awareness: number;
  membershipQueue: number;
}

interface AckWaiter {
  onAck: () => void;
  onNack: () => void;
}

interface JoinedNetwork {
  tables: TableStore;
  queue: BroadcastQueue;
  syncsInFlight: number;
  /** A sync has completed at least once. */
  synced: boolean;
  /** Our own records below this Lamport time predate our last join of this network (stale). */
  adoptBelow: number;
  periodic: TimerHandle | null;
  expedited: TimerHandle | null;
  lastExpeditedAt: number;
  syncs: number;
  syncFailures: number;
  lastSyncAt: number | null;
}

type Via = 'gossip' | 'sync' | 'join';

const MAX_ACK_WAITERS = 1024;
const MAX_STREAMS_IN_FLIGHT = 64;
/** Weight of one probe in the moving miss rate (about the last 32 probes count). */
const PROBE_MISS_WEIGHT = 1 / 32;
/** Loss estimates stop here: beyond it, more copies would mostly add load. */
const MAX_LOSS_ESTIMATE = 0.5;

/**
 * The gossip protocol as a pure state machine: SWIM membership with Lifeguard (memberlist)
 * and NetworkDB's network-scoped tables on top. Inputs are packets, stream requests and
 * answers, API calls and `tick`s, each with the time; randomness comes from the seed. Every
 * call queues its effects (packets, streams, events) for `takeOutput()`. No I/O, no clock:
 * the runtime (sockets) and the simulator (virtual time) drive the same code.
 */
export class GossipCore {
  readonly name: string;
  readonly addr: string;
  readonly config: GossipConfig;
  private now: number;
  private readonly rng: CoreRng;
  private readonly observe: boolean;
  private readonly timers = new TimerHeap();
  private out: CoreOutput = { packets: [], streams: [], events: [] };

  private readonly book = new MemberTable();
  private readonly selfSlot: number;
  private readonly suspicions = new Map<number, { suspicion: Suspicion; timer: TimerHandle; name: string }>();
  private awareness = 0;
  /** Moving share of direct probes unanswered by their timeout (PROBE_MISS_WEIGHT). */
  private directMissRate = 0;
  /** The slot the last reconnect contacted (reconnectNext goes on from there). */
  private reconnectCursor = 0;
  private probeOrder: number[] = [];
  private probeIndex = 0;
  private seq = 0;
  private readonly ackWaiters = new Map<number, AckWaiter>();
  private readonly membershipQueue: BroadcastQueue;

  private netClock = 0;
  private tableClock = 0;
  private readonly rosters = new Map<string, NetworkRoster>();
  private readonly joined = new Map<string, JoinedNetwork>();
  private readonly everJoined = new Set<string>();

  private nextStreamId = 1;
  private readonly streams = new Map<number, (answer: StreamAnswer | null, error: string | null) => void>();

  private gossipTimer: TimerHandle | null = null;
  private readonly gossipPhase: number;
  private leaving = false;
  private leftAnnounced = false;
  private leaveSent = false;
  /** Tombstone pushes of networks left, still in flight (leave waits for them). */
  private leavePushes = 0;
  private readonly reports = new RateLimitedReports();
  private readonly counters: Omit<CoreStats, 'awareness' | 'membershipQueue' | 'packetLoss'> = {
    packetsIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    streamsOut: 0,
    malformed: 0,
    probes: 0,
    probeFailures: 0,
    tcpFallbacks: 0,
    refutes: 0,
  };

  constructor(opts: GossipCoreOptions) {
    this.name = checkName('member name', opts.name);
    this.addr = checkName('member address', opts.addr);
    this.config = resolveConfig(opts.config);
    this.now = opts.now;
    this.rng = createRng(opts.seed);
    this.observe = opts.observe ?? false;
    this.membershipQueue = new BroadcastQueue(this.config.maxQueuedMessages);
    this.selfSlot = this.book.add(this.name, this.addr, 0, ALIVE, this.now);
    this.gossipPhase = this.now + this.rng.next() * this.config.gossipIntervalMs;
    // memberlist setAlive: a member announces itself first.
    this.queueMembership({ type: 'alive', name: this.name, addr: this.addr, incarnation: 0 }, true);
    const c = this.config;
    this.every(
      this.rng.next() * c.probeIntervalMs,
      () => this.scaled(c.probeIntervalMs),
      () => this.probe(),
    );
    this.every(
      c.pushPullIntervalMs * (0.5 + this.rng.next()),
      () => pushPullScaleMs(c.pushPullIntervalMs, this.book.liveCount),
      () => this.pushPullRandom(ALIVE),
    );
    this.every(
      c.reconnectIntervalMs * (0.5 + this.rng.next()),
      () => c.reconnectIntervalMs,
      () => this.reconnectNext(),
    );
    this.every(
      c.reapIntervalMs,
      () => c.reapIntervalMs,
      () => this.reap(),
    );
  }

  // ---------------------------------------------------------------- driver interface

  /** The earliest time `tick` has something to do (Infinity: nothing scheduled). */
  nextDeadline(): number {
    return this.timers.next();
  }

  tick(now: number): void {
    this.advance(now);
    this.timers.runDue(now);
  }

  /** Everything queued since the last call. */
  takeOutput(): CoreOutput {
    const out = this.out;
    this.out = { packets: [], streams: [], events: [] };
    return out;
  }

  /** A UDP packet (already decrypted) from `from` (`host:port`). Hostile input is dropped, never thrown. */
  handlePacket(now: number, from: string, bytes: Uint8Array): void {
    this.tick(now);
    this.counters.packetsIn++;
    let msgs: PacketMsg[];
    try {
      msgs = decodePacket(bytes);
    } catch (err) {
      this.counters.malformed++;
      this.warn('MALFORMED_PACKET', `dropped a malformed packet from ${from}: ${(err as Error).message}`);
      return;
    }
    for (const msg of msgs) this.handleMessage(msg, from);
  }

  /** A stream request from `from`; returns the answer to send back (null: close without one). */
  handleStream(now: number, from: string, bytes: Uint8Array): Uint8Array | null {
    this.tick(now);
    let req: StreamRequest;
    try {
      req = decodeRequest(bytes);
    } catch (err) {
      this.counters.malformed++;
      this.warn(
        'MALFORMED_STREAM',
        `dropped a malformed stream request from ${from}: ${(err as Error).message}`,
      );
      return null;
    }
    const answer = this.answer(req);
    return answer ? encodeAnswer(answer) : null;
  }

  /** The answer to stream `id` (null: it failed — refused, timed out, undecryptable). */
  streamAnswer(now: number, id: number, bytes: Uint8Array | null, error: string | null = null): void {
    this.tick(now);
    const handler = this.streams.get(id);
    if (!handler) return;
    this.streams.delete(id);
    if (bytes === null) {
      handler(null, error ?? 'stream failed');
      return;
    }
    let answer: StreamAnswer;
    try {
      answer = decodeAnswer(bytes);
    } catch (err) {
      this.counters.malformed++;
      handler(null, `malformed answer: ${(err as WireError).message}`);
      return;
    }
    handler(answer, null);
  }

  // ---------------------------------------------------------------- API

  /** Exchanges state with up to `joinPeers` of `addrs` at a time; a `joined` event tells the outcome. */
  join(now: number, addrs: string[]): void {
    this.tick(now);
    const pending = [...new Set(addrs)].filter((a) => a !== this.addr);
    let contacted = 0;
    let lastError: string | null = null;
    const batch = (): void => {
      if (pending.length === 0) {
        this.emit({ kind: 'joined', ok: contacted > 0, contacted, error: contacted > 0 ? null : lastError });
        return;
      }
      const round = pending.splice(0, this.config.joinPeers);
      let open = round.length;
      for (const addr of round) {
        this.pushPull(addr, true, (ok, error) => {
          if (ok) contacted++;
          else lastError = `${addr}: ${error}`;
          if (--open > 0) return;
          if (contacted > 0) this.emit({ kind: 'joined', ok: true, contacted, error: null });
          else batch();
        });
      }
    };
    if (pending.length === 0) {
      this.emit({ kind: 'joined', ok: false, contacted: 0, error: 'no address to join' });
      return;
    }
    batch();
  }

  /**
   * Starts as if a push-pull had returned this state: simulators and benchmarks build large
   * converged clusters with it (a join of 4,700 members, one by one, would take hours).
   */
  bootstrap(now: number, members: MemberRecord[], attachments: AttachmentRecord[]): void {
    this.tick(now);
    this.mergeState(this.name, members, attachments, 'join');
  }

  leave(now: number): void {
    this.tick(now);
    if (this.leaving) return;
    for (const network of [...this.joined.keys()]) this.leaveNetwork(now, network);
    this.leaving = true;
    this.book.setState(this.selfSlot, LEFT, this.now);
    const incarnation = this.book.incarnation[this.selfSlot];
    this.queueMembership({ type: 'dead', name: this.name, incarnation, from: this.name }, true);
    if (this.gossipTargets().length === 0) this.leaveSent = true;
    this.maybeAnnounceLeft();
  }

  joinNetwork(now: number, network: string): void {
    this.tick(now);
    checkName('network id', network);
    if (this.leaving) throw new InvalidArgumentError('this member has left the cluster');
    if (this.joined.has(network)) return;
    const ltime = ++this.netClock;
    this.roster(network).set(this.selfSlot, ltime, false, false);
    const net: JoinedNetwork = {
      tables: new TableStore(),
      queue: new BroadcastQueue(this.config.maxQueuedMessages),
      syncsInFlight: 0,
      synced: false,
      adoptBelow: this.everJoined.has(network) ? this.tableClock : 0,
      periodic: null,
      expedited: null,
      lastExpeditedAt: Number.NEGATIVE_INFINITY,
      syncs: 0,
      syncFailures: 0,
      lastSyncAt: null,
    };
    this.joined.set(network, net);
    this.everJoined.add(network);
    this.queueMembership({ type: 'network', node: this.name, network, ltime, leaving: false }, true);
    // A bounded number of peers, never every one (moby#47396).
    for (const slot of this.networkPeers(network, this.config.networkJoinSyncPeers))
      this.startSync(network, slot);
    const period = this.config.bulkSyncIntervalMs;
    const schedule = (delay: number): void => {
      net.periodic = this.timers.schedule(this.now + delay, () => {
        if (this.joined.get(network) !== net) return;
        const [peer] = this.networkPeers(network, 1);
        if (peer !== undefined) this.startSync(network, peer);
        schedule(period);
      });
    };
    schedule(period * (0.5 + this.rng.next()));
  }

  leaveNetwork(now: number, network: string): void {
    this.tick(now);
    const net = this.joined.get(network);
    if (!net) return;
    // Our entries end with our own tombstones, handed to a few members before we go, so no
    // older copy elsewhere outlives them (only the owner tombstones).
    const tombstones: TableRecord[] = [];
    for (const rec of net.tables.shown.values()) this.emitEntry(network, rec, 'delete');
    for (const rec of [...net.tables.records.values()]) {
      if (rec.owner !== this.name) continue;
      if (rec.deleted) {
        tombstones.push(this.toWire(rec));
        continue;
      }
      const ltime = ++this.tableClock;
      const tomb = this.makeRecord(
        { ...rec, ltime, deleted: true, value: null },
        this.now + this.config.tombstoneLifetimeMs,
      );
      tombstones.push(this.toWire(tomb));
    }
    const peers = this.networkPeers(network, this.config.networkJoinSyncPeers);
    net.periodic?.cancel();
    net.expedited?.cancel();
    this.joined.delete(network);
    const ltime = ++this.netClock;
    this.roster(network).set(this.selfSlot, ltime, true, false);
    this.queueMembership({ type: 'network', node: this.name, network, ltime, leaving: true }, true);
    if (tombstones.length === 0) return;
    for (const slot of peers) {
      const sent = this.request(
        this.book.addrs[slot],
        { kind: 'sync-push', network, from: this.name, records: tombstones },
        () => {
          this.leavePushes--;
          this.maybeAnnounceLeft();
        },
      );
      if (sent) this.leavePushes++;
    }
  }

  setEntry(now: number, network: string, table: string, key: string, value: Uint8Array): void {
    this.tick(now);
    const net = this.requireNetwork(network);
    checkName('table name', table);
    checkKey(key);
    checkValue(value);
    this.writeLocal(network, net, table, key, value.slice());
  }

  deleteEntry(now: number, network: string, table: string, key: string): void {
    this.tick(now);
    const net = this.requireNetwork(network);
    checkName('table name', table);
    checkKey(key);
    // Only our own record of the key: each owner deletes its own (only the owner tombstones).
    if (net.tables.get(table, key, this.name)?.deleted) return;
    // A tombstone for every delete, even of a key never written here (moby #49932).
    this.writeLocal(network, net, table, key, null);
  }

  /** The value the key shows: the newest visible version among its owners' records. */
  getEntry(network: string, table: string, key: string): Uint8Array | null {
    const rec = this.joined.get(network)?.tables.shown.get(keyId(table, key));
    return rec ? (rec.value as Uint8Array) : null;
  }

  entries(network: string, table: string): { key: string; value: Uint8Array; owner: string }[] {
    const net = this.joined.get(network);
    if (!net) return [];
    const out: { key: string; value: Uint8Array; owner: string }[] = [];
    for (const rec of net.tables.shown.values()) {
      if (rec.table === table) out.push({ key: rec.key, value: rec.value as Uint8Array, owner: rec.owner });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Tables of a joined network that show at least one entry. */
  tables(network: string): string[] {
    const net = this.joined.get(network);
    if (!net) return [];
    const names = new Set<string>();
    for (const rec of net.tables.shown.values()) names.add(rec.table);
    return [...names].sort();
  }

  isOnNetwork(network: string): boolean {
    return this.joined.has(network);
  }

  joinedNetworks(): string[] {
    return [...this.joined.keys()];
  }

  /** Every known member, this one included (forgotten members are gone). */
  members(): MemberInfo[] {
    const out: MemberInfo[] = [];
    const m = this.book;
    for (let slot = 0; slot < m.capacity; slot++) {
      if (!m.has(slot)) continue;
      out.push({
        name: m.names[slot],
        addr: m.addrs[slot],
        state: STATE_NAMES[m.state[slot]],
        incarnation: m.incarnation[slot],
      });
    }
    return out;
  }

  memberState(name: string): MemberStateName | null {
    const slot = this.book.indexOf(name);
    return slot < 0 ? null : STATE_NAMES[this.book.state[slot]];
  }

  /** Members alive or suspect, this one included. */
  get liveMembers(): number {
    return this.book.liveCount;
  }

  networkStats(): NetworkStats[] {
    const out: NetworkStats[] = [];
    for (const [network, roster] of this.rosters) {
      const net = this.joined.get(network);
      let members = roster.peers.filter((slot) => this.book.isLive(slot)).length;
      if (net) members++;
      if (!net && members === 0) continue;
      const entries = net?.tables.shown.size ?? 0;
      let hidden = 0;
      let tombstones = 0;
      for (const rec of net?.tables.records.values() ?? []) {
        if (rec.deleted) tombstones++;
        else if (!this.ownerVisible(rec.owner)) hidden++;
      }
      out.push({
        network,
        joined: net !== undefined,
        members,
        entries,
        hidden,
        tombstones,
        queued: net?.queue.size ?? 0,
        dropped: net?.queue.dropped ?? 0,
        syncs: net?.syncs ?? 0,
        syncFailures: net?.syncFailures ?? 0,
        lastSyncAgeMs: net?.lastSyncAt != null ? this.now - net.lastSyncAt : null,
      });
    }
    return out.sort((a, b) => (a.network < b.network ? -1 : 1));
  }

  stats(): CoreStats {
    return {
      ...this.counters,
      awareness: this.awareness,
      membershipQueue: this.membershipQueue.size,
      packetLoss: this.packetLoss(),
    };
  }

  /** Table traffic for this network may reach here legitimately (it was joined in this life). */
  hasEverJoined(network: string): boolean {
    return this.everJoined.has(network);
  }

  // ---------------------------------------------------------------- timers and output

  private advance(now: number): void {
    if (now > this.now) this.now = now;
  }

  /** A repeating timer whose period is computed at each firing (it may depend on N or health). */
  private every(firstDelay: number, period: () => number, run: () => void): void {
    const fire = (): void => {
      run();
      this.timers.schedule(this.now + period(), fire);
    };
    this.timers.schedule(this.now + firstDelay, fire);
  }

  private emit(event: CoreEvent): void {
    this.out.events.push(event);
  }

  /** Warnings are rate-limited per code: one per 10 s, with the count of those held back. */
  private warn(code: string, message: string): void {
    const line = this.reports.report(code, message, this.now);
    if (line !== null) this.emit({ kind: 'warning', code, message: line });
  }

  private sendPacket(to: string, first: Uint8Array[], piggyback: boolean): void {
    const packet = new PacketBuilder(this.config.packetBudgetBytes);
    for (const msg of first) packet.add(msg);
    if (piggyback && this.membershipQueue.size > 0) {
      this.membershipQueue.fill(packet, this.membershipTransmitLimit());
    }
    if (packet.count === 0) return;
    const bytes = packet.finish();
    this.counters.packetsOut++;
    this.counters.bytesOut += bytes.byteLength;
    this.out.packets.push({ to, bytes });
  }

  private request(
    to: string,
    req: StreamRequest,
    onAnswer: (answer: StreamAnswer | null, error: string | null) => void,
  ): boolean {
    if (this.streams.size >= MAX_STREAMS_IN_FLIGHT) return false;
    const id = this.nextStreamId++;
    this.streams.set(id, onAnswer);
    const bytes = encodeRequest(req);
    this.counters.streamsOut++;
    this.counters.bytesOut += bytes.byteLength;
    this.out.streams.push({ id, to, bytes });
    return true;
  }

  private scaled(ms: number): number {
    return this.config.lifeguard ? ms * (this.awareness + 1) : ms;
  }

  private applyAwareness(delta: number): void {
    if (!this.config.lifeguard || delta === 0) return;
    this.awareness = Math.max(0, Math.min(this.config.awarenessMaxMultiplier - 1, this.awareness + delta));
  }

  // ---------------------------------------------------------------- gossip

  private membershipTransmitLimit(): number {
    return this.transmitLimit(this.book.liveCount);
  }

  /** How often each member sends a broadcast among `n`, stretched by the loss it sees. */
  private transmitLimit(n: number): number {
    const base = retransmitLimit(this.config.retransmitMult, n);
    return this.config.lossAwareRetransmit ? Math.ceil(base / (1 - this.packetLoss())) : base;
  }

  /** A ping and its ack both cross the network: missed = 1 − (1 − loss)². */
  private packetLoss(): number {
    return Math.min(MAX_LOSS_ESTIMATE, 1 - Math.sqrt(1 - this.directMissRate));
  }

  private noteDirectProbe(answered: boolean): void {
    this.directMissRate += ((answered ? 0 : 1) - this.directMissRate) * PROBE_MISS_WEIGHT;
  }

  private queueMembership(msg: AliveMsg | SuspectMsg | DeadMsg | NetworkMsg, own: boolean): void {
    const key = msg.type === 'network' ? `n\u0000${msg.node}\u0000${msg.network}` : `m\u0000${msg.name}`;
    this.membershipQueue.enqueue(key, encodeMessage(msg), own);
    this.armGossip();
  }

  private armGossip(): void {
    if (this.gossipTimer) return;
    const interval = this.config.gossipIntervalMs;
    const periods = Math.floor((this.now - this.gossipPhase) / interval) + 1;
    this.gossipTimer = this.timers.schedule(this.gossipPhase + periods * interval, () => {
      this.gossipTimer = null;
      this.gossip();
    });
  }

  /** Members that receive membership gossip: alive, suspect, or dead for under gossipToTheDeadMs. */
  private gossipTargets(): number[] {
    const m = this.book;
    return pickRandom(
      this.rng,
      m.capacity,
      (i) => i,
      this.config.gossipNodes,
      (slot) => this.gossipable(slot),
    );
  }

  private gossipable(slot: number): boolean {
    const m = this.book;
    if (slot === this.selfSlot || !m.has(slot)) return false;
    const s = m.state[slot];
    return (
      s === ALIVE ||
      s === SUSPECT ||
      (s === DEAD && this.now - m.changedAt[slot] < this.config.gossipToTheDeadMs)
    );
  }

  private gossip(): void {
    let busy = false;
    if (this.membershipQueue.size > 0) {
      const limit = this.membershipTransmitLimit();
      let sent = 0;
      for (const slot of this.gossipTargets()) {
        const packet = new PacketBuilder(this.config.packetBudgetBytes);
        if (this.membershipQueue.fill(packet, limit) === 0) break;
        this.emitPacket(this.book.addrs[slot], packet);
        sent++;
      }
      if (this.leaving && (sent > 0 || this.membershipQueue.size === 0)) {
        this.leaveSent = true;
        this.maybeAnnounceLeft();
      }
      busy ||= this.membershipQueue.size > 0 && sent > 0;
    }
    for (const [network, net] of this.joined) {
      if (net.queue.size === 0) continue;
      const roster = this.rosters.get(network) as NetworkRoster;
      const limit = this.transmitLimit(roster.peers.length + 1);
      let sent = 0;
      for (const slot of this.networkPeers(network, this.config.gossipNodes)) {
        const packet = new PacketBuilder(this.config.packetBudgetBytes);
        if (net.queue.fill(packet, limit) === 0) break;
        this.emitPacket(this.book.addrs[slot], packet);
        sent++;
      }
      // Nobody on the network to tell: whoever joins it later gets the records by a sync.
      if (sent === 0) net.queue.clear();
      busy ||= net.queue.size > 0;
    }
    if (busy) this.armGossip();
  }

  private emitPacket(to: string, packet: PacketBuilder): void {
    const bytes = packet.finish();
    this.counters.packetsOut++;
    this.counters.bytesOut += bytes.byteLength;
    this.out.packets.push({ to, bytes });
  }

  private maybeAnnounceLeft(): void {
    if (!this.leaving || this.leftAnnounced || !this.leaveSent || this.leavePushes > 0) return;
    this.leftAnnounced = true;
    this.emit({ kind: 'left' });
  }

  // ---------------------------------------------------------------- probing (SWIM + Lifeguard)

  private nextProbeTarget(): number {
    const m = this.book;
    for (let guard = 0; guard <= m.capacity + 1; guard++) {
      if (this.probeIndex >= this.probeOrder.length) {
        const order: number[] = [];
        for (let slot = 0; slot < m.capacity; slot++) if (this.probeable(slot)) order.push(slot);
        if (order.length === 0) return -1;
        this.probeOrder = shuffle(this.rng, order);
        this.probeIndex = 0;
      }
      const slot = this.probeOrder[this.probeIndex++];
      if (this.probeable(slot)) return slot;
    }
    return -1;
  }

  private probeable(slot: number): boolean {
    return slot !== this.selfSlot && this.book.has(slot) && this.book.isLive(slot);
  }

  private probe(): void {
    if (this.leaving) return;
    const slot = this.nextProbeTarget();
    if (slot < 0) return;
    const m = this.book;
    const target = m.names[slot];
    const targetAddr = m.addrs[slot];
    const seq = this.nextSeq();
    const started = this.now;
    const timeout = this.scaled(this.config.probeTimeoutMs);
    const interval = this.scaled(this.config.probeIntervalMs);
    let acked = false;
    let nacks = 0;
    let expectedNacks = 0;
    this.counters.probes++;
    this.ackWaiters.set(seq, {
      onAck: () => {
        if (acked) return;
        acked = true;
        // memberlist probeNode: only a direct ack in time counts as good health.
        if (this.now - started <= timeout) this.applyAwareness(-1);
      },
      onNack: () => {
        nacks++;
      },
    });
    const ping: Uint8Array[] = [
      encodeMessage({ type: 'ping', seq, target, source: this.name, sourceAddr: this.addr }),
    ];
    if (this.config.lifeguard && m.state[slot] === SUSPECT) {
      // Buddy system: tell the suspect directly, so it can refute at once (Lifeguard §IV-C).
      ping.push(
        encodeMessage({ type: 'suspect', name: target, incarnation: m.incarnation[slot], from: this.name }),
      );
    }
    this.sendPacket(targetAddr, ping, true);
    this.timers.schedule(started + timeout, () => {
      this.noteDirectProbe(acked);
      if (acked) return;
      const helpers = pickRandom(
        this.rng,
        m.capacity,
        (i) => i,
        this.config.indirectChecks,
        (s) => {
          return s !== slot && s !== this.selfSlot && m.has(s) && m.state[s] === ALIVE;
        },
      );
      const nack = this.config.lifeguard;
      expectedNacks = nack ? helpers.length : 0;
      const req = encodeMessage({
        type: 'indirect-ping',
        seq,
        target,
        targetAddr,
        nack,
        source: this.name,
        sourceAddr: this.addr,
      });
      for (const helper of helpers) this.sendPacket(m.addrs[helper], [req], false);
      if (this.config.tcpPings) {
        // memberlist probeNode's fallbackCh: a reliable ping beside the indirect ones; it counts
        // only if it comes back before the probe ends, and it leaves local health as it is.
        this.request(targetAddr, { kind: 'ping', target, from: this.name }, (answer) => {
          if (acked || answer?.kind !== 'ping' || answer.name !== target) return;
          if (this.now - started > interval) return;
          acked = true;
          this.counters.tcpFallbacks++;
        });
      }
    });
    this.timers.schedule(started + interval, () => {
      this.ackWaiters.delete(seq);
      if (acked) return;
      this.counters.probeFailures++;
      // Lifeguard local health: missing nacks mean we are the slow one.
      this.applyAwareness(expectedNacks > 0 ? expectedNacks - nacks : 1);
      if (m.indexOf(target) !== slot || !m.isLive(slot)) return;
      this.handleSuspect(
        { type: 'suspect', name: target, incarnation: m.incarnation[slot], from: this.name },
        'gossip',
      );
    });
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private handleMessage(msg: PacketMsg, from: string): void {
    switch (msg.type) {
      case 'ping':
        this.handlePing(msg, from);
        break;
      case 'indirect-ping':
        this.handleIndirectPing(msg, from);
        break;
      case 'ack':
        this.ackWaiters.get(msg.seq)?.onAck();
        break;
      case 'nack':
        this.ackWaiters.get(msg.seq)?.onNack();
        break;
      case 'alive':
        this.handleAlive(msg, 'gossip');
        break;
      case 'suspect':
        this.handleSuspect(msg, 'gossip');
        break;
      case 'dead':
        this.handleDead(msg, 'gossip');
        break;
      case 'network':
        this.handleNetwork(msg, 'gossip');
        break;
      case 'table': {
        const net = this.joined.get(msg.network);
        if (net) this.applyRecord(msg.network, net, msg, 'gossip');
        else this.dropForeign(msg.network);
        break;
      }
    }
  }

  private handlePing(msg: PingMsg, from: string): void {
    // A ping meant for another member (an address reused after a restart) is not ours to answer.
    if (msg.target !== this.name || this.leaving) return;
    this.sendPacket(from, [encodeMessage({ type: 'ack', seq: msg.seq })], true);
  }

  private handleIndirectPing(msg: IndirectPingMsg, from: string): void {
    if (this.leaving || this.ackWaiters.size >= MAX_ACK_WAITERS) return;
    const seq = this.nextSeq();
    let acked = false;
    this.ackWaiters.set(seq, {
      onAck: () => {
        if (acked) return;
        acked = true;
        this.sendPacket(from, [encodeMessage({ type: 'ack', seq: msg.seq })], false);
      },
      onNack: () => {},
    });
    this.sendPacket(
      msg.targetAddr,
      [encodeMessage({ type: 'ping', seq, target: msg.target, source: this.name, sourceAddr: this.addr })],
      false,
    );
    this.timers.schedule(this.now + this.config.probeTimeoutMs, () => {
      this.ackWaiters.delete(seq);
      if (!acked && msg.nack) this.sendPacket(from, [encodeMessage({ type: 'nack', seq: msg.seq })], false);
    });
  }

  // ---------------------------------------------------------------- membership state

  private refute(incarnation: number): void {
    const m = this.book;
    const next = Math.max(m.incarnation[this.selfSlot], incarnation) + 1;
    m.incarnation[this.selfSlot] = next;
    this.counters.refutes++;
    this.applyAwareness(1);
    this.queueMembership({ type: 'alive', name: this.name, addr: this.addr, incarnation: next }, true);
  }

  private handleAlive(msg: AliveMsg, via: Via): void {
    const m = this.book;
    if (msg.name === this.name) {
      const mine = m.incarnation[this.selfSlot];
      if (!this.leaving && (msg.incarnation > mine || (msg.incarnation === mine && msg.addr !== this.addr))) {
        this.refute(msg.incarnation);
      }
      return;
    }
    let slot = m.indexOf(msg.name);
    if (slot < 0) {
      slot = m.add(msg.name, msg.addr, msg.incarnation, ALIVE, this.now);
      // New members join the probe round at a random place (memberlist).
      this.probeOrder.push(slot);
      const j = this.probeIndex + this.rng.nextInt(this.probeOrder.length - this.probeIndex);
      [this.probeOrder[j], this.probeOrder[this.probeOrder.length - 1]] = [
        this.probeOrder[this.probeOrder.length - 1],
        this.probeOrder[j],
      ];
      this.emit({ kind: 'member', name: msg.name, addr: msg.addr, state: 'alive', previous: null });
      if (via !== 'join') this.queueMembership(msg, false);
      return;
    }
    const previous = m.state[slot];
    if (m.addrs[slot] !== msg.addr) {
      // A different address for a name is only taken over from a dead or departed member.
      if (previous !== DEAD && previous !== LEFT) {
        if (msg.incarnation > m.incarnation[slot]) {
          this.warn(
            'NAME_CONFLICT',
            `member ${msg.name} claimed from ${msg.addr} while alive at ${m.addrs[slot]}`,
          );
        }
        return;
      }
    }
    if (msg.incarnation <= m.incarnation[slot]) return;
    m.addrs[slot] = msg.addr;
    m.incarnation[slot] = msg.incarnation;
    this.clearSuspicion(slot);
    if (previous !== ALIVE) {
      m.setState(slot, ALIVE, this.now);
      this.emit({
        kind: 'member',
        name: msg.name,
        addr: msg.addr,
        state: 'alive',
        previous: STATE_NAMES[previous],
      });
      if (previous === DEAD || previous === LEFT) this.memberReturned(slot);
    }
    if (via !== 'join') this.queueMembership(msg, false);
  }

  private handleSuspect(msg: SuspectMsg, via: Via): void {
    const m = this.book;
    const slot = m.indexOf(msg.name);
    if (slot < 0 || msg.incarnation < m.incarnation[slot]) return;
    const state = m.state[slot];
    if (state === DEAD || state === LEFT) return;
    if (slot === this.selfSlot) {
      if (!this.leaving) this.refute(msg.incarnation);
      return;
    }
    const own = msg.from === this.name;
    if (state === SUSPECT) {
      const entry = this.suspicions.get(slot);
      if (entry?.suspicion.confirm(msg.from)) {
        entry.timer.cancel();
        entry.timer = this.timers.schedule(entry.suspicion.deadline(), () =>
          this.suspicionExpired(slot, msg.name),
        );
        if (via !== 'join') this.queueMembership(msg, own);
      }
      return;
    }
    m.incarnation[slot] = msg.incarnation;
    m.setState(slot, SUSPECT, this.now);
    this.emit({ kind: 'member', name: msg.name, addr: m.addrs[slot], state: 'suspect', previous: 'alive' });
    const n = m.liveCount;
    const c = this.config;
    let k = c.lifeguard ? c.suspicionMult - 2 : 0;
    if (n - 2 < k) k = 0;
    const minMs = suspicionTimeoutMs(c.suspicionMult, n, c.probeIntervalMs);
    const maxMs = c.lifeguard ? c.suspicionMaxTimeoutMult * minMs : minMs;
    const suspicion = new Suspicion(msg.from, k, minMs, maxMs, this.now);
    const timer = this.timers.schedule(suspicion.deadline(), () => this.suspicionExpired(slot, msg.name));
    this.suspicions.set(slot, { suspicion, timer, name: msg.name });
    if (via !== 'join') this.queueMembership(msg, own);
  }

  private suspicionExpired(slot: number, name: string): void {
    const m = this.book;
    if (m.indexOf(name) !== slot || m.state[slot] !== SUSPECT) return;
    this.suspicions.delete(slot);
    if (this.observe) this.emit({ kind: 'declared-dead', name });
    this.handleDead({ type: 'dead', name, incarnation: m.incarnation[slot], from: this.name }, 'gossip');
  }

  private clearSuspicion(slot: number): void {
    const entry = this.suspicions.get(slot);
    if (!entry) return;
    entry.timer.cancel();
    this.suspicions.delete(slot);
  }

  private handleDead(msg: DeadMsg, via: Via): void {
    const m = this.book;
    const slot = m.indexOf(msg.name);
    if (slot < 0 || msg.incarnation < m.incarnation[slot]) return;
    const previous = m.state[slot];
    if (previous === DEAD || previous === LEFT) return;
    if (slot === this.selfSlot) {
      if (!this.leaving) this.refute(msg.incarnation);
      return;
    }
    this.clearSuspicion(slot);
    m.incarnation[slot] = msg.incarnation;
    const state = msg.from === msg.name ? LEFT : DEAD;
    m.setState(slot, state, this.now);
    this.emit({
      kind: 'member',
      name: msg.name,
      addr: m.addrs[slot],
      state: STATE_NAMES[state],
      previous: STATE_NAMES[previous],
    });
    if (state === LEFT) this.memberLeft(slot);
    else this.memberFailed(slot);
    if (via !== 'join') this.queueMembership(msg, msg.from === this.name);
  }

  /** A failed member's entries are hidden, not deleted (moby#53141). */
  private memberFailed(slot: number): void {
    this.refreshOwner(this.book.names[slot]);
  }

  /** A member back from failure: its entries show again at once, and shared networks sync with it. */
  private memberReturned(slot: number): void {
    this.refreshOwner(this.book.names[slot]);
    for (const network of this.joined.keys()) {
      if (this.rosters.get(network)?.isOn(slot)) this.startSync(network, slot);
    }
  }

  /** A member that left on purpose: its entries go and its attachments end (no tombstones are forged). */
  private memberLeft(slot: number): void {
    const name = this.book.names[slot];
    for (const [network, net] of this.joined) this.dropOwner(network, net, name);
    for (const roster of this.rosters.values()) {
      const att = roster.get(slot);
      if (att && !att.leaving) roster.set(slot, att.ltime, true);
    }
  }

  /** Every key an owner holds a record of shows what it should now that the owner's state changed. */
  private refreshOwner(owner: string): void {
    for (const [network, net] of this.joined) {
      for (const rec of [...net.tables.records.values()]) {
        if (rec.owner === owner && !rec.deleted) this.refreshKey(network, net, rec.table, rec.key);
      }
    }
  }

  /**
   * Removes an owner's live records (it left the network or the cluster); no tombstone is
   * forged for it. Its own tombstones stay until they expire.
   */
  private dropOwner(network: string, net: JoinedNetwork, owner: string): void {
    for (const rec of [...net.tables.records.values()]) {
      if (rec.owner !== owner || rec.deleted) continue;
      net.tables.delete(rec);
      this.refreshKey(network, net, rec.table, rec.key);
    }
  }

  // ---------------------------------------------------------------- push-pull

  private localState(): { members: MemberRecord[]; attachments: AttachmentRecord[] } {
    const m = this.book;
    const members: MemberRecord[] = [];
    for (let slot = 0; slot < m.capacity; slot++) {
      if (!m.has(slot)) continue;
      members.push({
        name: m.names[slot],
        addr: m.addrs[slot],
        incarnation: m.incarnation[slot],
        state: STATE_NAMES[m.state[slot]],
      });
    }
    const attachments: AttachmentRecord[] = [];
    for (const [network, roster] of this.rosters) {
      for (const slot of roster.slots()) {
        if (!m.has(slot)) continue;
        const att = roster.get(slot) as { ltime: number; leaving: boolean };
        attachments.push({ node: m.names[slot], network, ltime: att.ltime, leaving: att.leaving });
      }
    }
    return { members, attachments };
  }

  private pushPull(addr: string, join: boolean, done?: (ok: boolean, error: string | null) => void): void {
    const sent = this.request(
      addr,
      { kind: 'push-pull', join, from: this.name, ...this.localState() },
      (answer, error) => {
        if (answer?.kind !== 'push-pull') {
          done?.(false, error ?? 'unexpected answer');
          return;
        }
        const before = this.book.incarnation[this.selfSlot];
        this.mergeState(answer.from, answer.members, answer.attachments, join ? 'join' : 'sync');
        // We refuted a stale view of ourselves: push once more so the peer learns it now.
        if (this.book.incarnation[this.selfSlot] !== before && !join) this.pushPull(addr, join);
        done?.(true, null);
      },
    );
    if (!sent) done?.(false, 'too many streams in flight');
  }

  /**
   * Full state exchange with one random member in `state`: an alive one periodically, a dead
   * one now and then so a healed partition merges (NetworkDB reconnectNode).
   */
  private pushPullRandom(state: number): void {
    if (this.leaving) return;
    const m = this.book;
    const [slot] = pickRandom(
      this.rng,
      m.capacity,
      (i) => i,
      1,
      (s) => s !== this.selfSlot && m.has(s) && m.state[s] === state,
    );
    if (slot !== undefined) this.pushPull(m.addrs[slot], false);
  }

  /**
   * Contacts the next dead member in turn (NetworkDB reconnectNode picks one at random: two
   * survivors of a healed partition, each seeing the other dead among other dead ones, could
   * keep missing each other for many rounds; in turn, each is tried within one round per dead member).
   */
  private reconnectNext(): void {
    if (this.leaving) return;
    const m = this.book;
    const n = m.capacity;
    for (let step = 1; step <= n; step++) {
      const slot = (this.reconnectCursor + step) % n;
      if (slot !== this.selfSlot && m.has(slot) && m.state[slot] === DEAD) {
        this.reconnectCursor = slot;
        this.pushPull(m.addrs[slot], false);
        return;
      }
    }
  }

  private mergeState(from: string, members: MemberRecord[], attachments: AttachmentRecord[], via: Via): void {
    for (const rec of members) {
      if (rec.state !== 'alive' && this.book.indexOf(rec.name) < 0 && rec.name !== this.name) {
        // Learn members others know as failed, so their records are admitted (hidden) and
        // every node agrees on which version of a key wins; a suspect one is probed.
        const state = rec.state === 'suspect' ? ALIVE : rec.state === 'left' ? LEFT : DEAD;
        const since = state === ALIVE ? this.now : this.now - this.config.gossipToTheDeadMs;
        const slot = this.book.add(rec.name, rec.addr, rec.incarnation, state, since);
        this.emit({
          kind: 'member',
          name: rec.name,
          addr: rec.addr,
          state: STATE_NAMES[state],
          previous: null,
        });
        if (state === ALIVE) this.probeOrder.push(slot);
        else continue;
      }
      switch (rec.state) {
        case 'alive':
          this.handleAlive(
            { type: 'alive', name: rec.name, addr: rec.addr, incarnation: rec.incarnation },
            via,
          );
          break;
        case 'suspect':
        case 'dead':
          // memberlist mergeRemoteState: another's "dead" is only a suspicion here.
          this.handleSuspect({ type: 'suspect', name: rec.name, incarnation: rec.incarnation, from }, via);
          break;
        case 'left':
          this.handleDead(
            { type: 'dead', name: rec.name, incarnation: rec.incarnation, from: rec.name },
            via,
          );
          break;
      }
    }
    for (const a of attachments) {
      this.handleNetwork(
        { type: 'network', node: a.node, network: a.network, ltime: a.ltime, leaving: a.leaving },
        via,
      );
    }
  }

  private answer(req: StreamRequest): StreamAnswer | null {
    if (this.leaving && req.kind !== 'query') return null;
    switch (req.kind) {
      case 'push-pull': {
        if (req.from === this.name) return null;
        this.mergeState(req.from, req.members, req.attachments, 'sync');
        return { kind: 'push-pull', from: this.name, ...this.localState() };
      }
      case 'sync':
        return this.answerSync(req);
      case 'sync-push': {
        const net = this.joined.get(req.network);
        // A member that just left may still hand over its tombstones (its live records are refused).
        const known = this.book.indexOf(req.from) >= 0 && req.from !== this.name;
        if (!net || !known) {
          if (!net) this.dropForeign(req.network);
          return { kind: 'sync-push', status: 'not-member' };
        }
        let learned = 0;
        for (const rec of req.records) if (this.applyRecord(req.network, net, rec, 'sync')) learned++;
        if (learned > 0) this.scheduleExpedited(req.network);
        return { kind: 'sync-push', status: 'ok' };
      }
      case 'query':
        return { kind: 'query', json: JSON.stringify(this.query(req.what, req.network, req.table)) };
      case 'ping':
        // A ping for another member (an address reused after a restart) is not ours to answer.
        return req.target === this.name ? { kind: 'ping', name: this.name } : null;
    }
  }

  private query(what: string, network: string | null, table: string | null): unknown {
    if (what === 'members') return this.members();
    if (what === 'networks') return this.networkStats();
    if (network === null) return [];
    const tables = table === null ? this.tables(network) : [table];
    return tables.flatMap((t) =>
      this.entries(network, t).map((e) => ({
        table: t,
        key: e.key,
        owner: e.owner,
        value: Buffer.from(e.value).toString('base64'),
      })),
    );
  }

  /** Only members the membership layer knows alive take part in anti-entropy (libnetwork#2013). */
  private admitted(name: string): boolean {
    const slot = this.book.indexOf(name);
    return slot >= 0 && slot !== this.selfSlot && this.book.isLive(slot);
  }

  // ---------------------------------------------------------------- networks and tables

  private roster(network: string): NetworkRoster {
    let roster = this.rosters.get(network);
    if (!roster) this.rosters.set(network, (roster = new NetworkRoster(network)));
    return roster;
  }

  private requireNetwork(network: string): JoinedNetwork {
    checkName('network id', network);
    const net = this.joined.get(network);
    if (!net) throw new NotOnNetworkError(network);
    return net;
  }

  /** Up to k random live members on a network (this one excluded). */
  private networkPeers(network: string, k: number): number[] {
    const roster = this.rosters.get(network);
    if (!roster) return [];
    const peers = roster.peers;
    return pickRandom(
      this.rng,
      peers.length,
      (i) => peers[i],
      k,
      (slot) => this.book.isLive(slot),
    );
  }

  private dropForeign(network: string): void {
    if (this.observe && !this.everJoined.has(network)) this.emit({ kind: 'foreign', network });
  }

  private handleNetwork(msg: NetworkMsg, via: Via): void {
    const m = this.book;
    if (msg.ltime > this.netClock) this.netClock = msg.ltime;
    if (msg.node === this.name) {
      // Someone holds a view of our attachment that is not true (we restarted, or left): correct it.
      const actual = this.joined.has(msg.network);
      const mine = this.rosters.get(msg.network)?.get(this.selfSlot);
      if (!msg.leaving === actual || (mine && msg.ltime < mine.ltime)) return;
      const ltime = ++this.netClock;
      this.roster(msg.network).set(this.selfSlot, ltime, !actual, false);
      this.queueMembership(
        { type: 'network', node: this.name, network: msg.network, ltime, leaving: !actual },
        true,
      );
      return;
    }
    const slot = m.indexOf(msg.node);
    if (slot < 0 || m.state[slot] === LEFT) return;
    const roster = this.roster(msg.network);
    const current = roster.get(slot);
    // Equal times with different states happen when a member restarted and its network clock
    // began again: the leave wins everywhere alike, and its owner, hearing it, corrects it
    // above (a tie kept as first heard left one member holding a stale leave for good).
    if (
      current &&
      (current.ltime > msg.ltime || (current.ltime === msg.ltime && (current.leaving || !msg.leaving)))
    )
      return;
    roster.set(slot, msg.ltime, msg.leaving);
    const net = this.joined.get(msg.network);
    if (net) {
      if (msg.leaving) this.dropOwner(msg.network, net, msg.node);
      else if (!net.synced && net.syncsInFlight === 0 && m.isLive(slot)) this.startSync(msg.network, slot);
    }
    if (via !== 'join') this.queueMembership(msg, false);
  }

  private ownerVisible(owner: string): boolean {
    if (owner === this.name) return !this.leaving;
    const slot = this.book.indexOf(owner);
    return slot >= 0 && this.book.isLive(slot);
  }

  /** Recomputes which record a key shows (the newest visible one) and tells watchers if it changed. */
  private refreshKey(network: string, net: JoinedNetwork, table: string, key: string): void {
    let best: StoredRecord | undefined;
    for (const rec of net.tables.recordsOf(table, key)) {
      if (rec.deleted || !this.ownerVisible(rec.owner)) continue;
      if (!best || newerThan(rec.ltime, rec.owner, best)) best = rec;
    }
    const id = keyId(table, key);
    const previous = net.tables.shown.get(id);
    if (best === previous) return;
    if (best) {
      net.tables.shown.set(id, best);
      this.emitEntry(network, best, previous ? 'update' : 'create');
    } else if (previous) {
      net.tables.shown.delete(id);
      this.emitEntry(network, previous, 'delete');
    }
  }

  private emitEntry(network: string, rec: StoredRecord, type: 'create' | 'update' | 'delete'): void {
    this.emit({
      kind: 'entry',
      network,
      table: rec.table,
      key: rec.key,
      type,
      value: type === 'delete' ? null : rec.value,
      owner: rec.owner,
    });
  }

  private observeRecord(network: string, rec: StoredRecord, via: 'local' | 'gossip' | 'sync'): void {
    if (!this.observe) return;
    this.emit({
      kind: 'record',
      network,
      table: rec.table,
      key: rec.key,
      owner: rec.owner,
      ltime: rec.ltime,
      deleted: rec.deleted,
      via,
    });
  }

  private makeRecord(r: Omit<TableRecord, 'residualMs'>, reapAt: number): StoredRecord {
    return {
      table: r.table,
      key: r.key,
      owner: r.owner,
      ltime: r.ltime,
      deleted: r.deleted,
      value: r.deleted ? null : r.value,
      reapAt,
      keyHash: keyHashOf(r.table, r.key),
      versionHash: versionHashOf(r.table, r.key, r.owner, r.ltime, r.deleted ? null : r.value),
    };
  }

  private writeLocal(
    network: string,
    net: JoinedNetwork,
    table: string,
    key: string,
    value: Uint8Array | null,
  ): void {
    const ltime = ++this.tableClock;
    const deleted = value === null;
    const rec = this.makeRecord(
      { table, key, owner: this.name, ltime, deleted, value },
      deleted ? this.now + this.config.tombstoneLifetimeMs : 0,
    );
    net.tables.put(rec);
    this.refreshKey(network, net, table, key);
    this.observeRecord(network, rec, 'local');
    this.queueTable(network, net, rec, true);
  }

  private queueTable(network: string, net: JoinedNetwork, rec: StoredRecord, own: boolean): void {
    const msg = encodeMessage({
      type: 'table',
      network,
      table: rec.table,
      key: rec.key,
      owner: rec.owner,
      ltime: rec.ltime,
      deleted: rec.deleted,
      residualMs: rec.deleted ? rec.reapAt - this.now : 0,
      value: rec.value,
    });
    const dropped = net.queue.enqueue(recordId(rec.table, rec.key, rec.owner), msg, own);
    // A full queue means some members will not hear this by gossip: let anti-entropy run early.
    if (dropped > 0) this.scheduleExpedited(network);
    this.armGossip();
  }

  /**
   * Applies one record version from gossip or a sync; returns whether it changed anything.
   * A record only moves forward; a tombstone's remaining lifetime is carried and never
   * extended; records of unknown members, and live records of departed ones, are refused.
   */
  private applyRecord(network: string, net: JoinedNetwork, r: TableRecord, via: 'gossip' | 'sync'): boolean {
    if (r.owner !== this.name) {
      const slot = this.book.indexOf(r.owner);
      if (slot < 0) return false;
      if (!r.deleted && (this.book.state[slot] === LEFT || this.rosters.get(network)?.get(slot)?.leaving))
        return false;
    }
    if (r.ltime > this.tableClock) this.tableClock = r.ltime;
    const local = net.tables.get(r.table, r.key, r.owner);
    const residualMs = Math.min(r.residualMs, this.config.tombstoneLifetimeMs);
    if (r.owner === this.name) {
      if (local) {
        // A version of our own record from an earlier life (newer, or as new but different):
        // we are its only writer and reassert what we hold above it.
        if (r.ltime > local.ltime || (r.ltime === local.ltime && !sameContent(local, r))) {
          this.writeLocal(network, net, local.table, local.key, local.deleted ? null : local.value);
        }
        return false;
      }
      if (r.ltime < net.adoptBelow) {
        // Written before we last left this network: ours and stale, so we delete it.
        if (!r.deleted) this.writeLocal(network, net, r.table, r.key, null);
        return false;
      }
      // Otherwise a record of ours from before a restart: we take it back (it shows again).
    } else if (local && r.ltime <= local.ltime) {
      if (r.ltime === local.ltime && local.deleted && r.deleted) {
        local.reapAt = Math.min(local.reapAt, this.now + residualMs);
      }
      return false;
    }
    if (r.deleted && residualMs <= 0) {
      if (!local) return false;
      net.tables.delete(local);
      this.refreshKey(network, net, r.table, r.key);
      return true;
    }
    const rec = this.makeRecord(r, r.deleted ? this.now + residualMs : 0);
    net.tables.put(rec);
    this.refreshKey(network, net, r.table, r.key);
    this.observeRecord(network, rec, via);
    // What came by anti-entropy is not relayed (libnetwork #2216); our own needs no relay.
    if (via === 'gossip' && r.owner !== this.name) this.queueTable(network, net, rec, false);
    return true;
  }

  // ---------------------------------------------------------------- anti-entropy

  private toWire(rec: StoredRecord): TableRecord {
    return {
      table: rec.table,
      key: rec.key,
      owner: rec.owner,
      ltime: rec.ltime,
      deleted: rec.deleted,
      residualMs: rec.deleted ? Math.max(0, rec.reapAt - this.now) : 0,
      value: rec.value,
    };
  }

  private scheduleExpedited(network: string): void {
    const net = this.joined.get(network);
    if (!net || net.expedited) return;
    const at =
      Math.max(this.now, net.lastExpeditedAt + this.config.expeditedSyncGapMs) + this.rng.next() * 100;
    net.expedited = this.timers.schedule(at, () => {
      net.expedited = null;
      if (this.joined.get(network) !== net) return;
      net.lastExpeditedAt = this.now;
      const [peer] = this.networkPeers(network, 1);
      if (peer !== undefined) this.startSync(network, peer);
    });
  }

  /**
   * One sync session with a network peer: digests first; only the records of buckets that
   * differ travel, in pages, both ways. Never blocks an API call (moby#40337, #47396).
   */
  private startSync(network: string, slot: number): void {
    const net = this.joined.get(network);
    if (!net || this.leaving || net.syncsInFlight >= this.config.networkJoinSyncPeers) return;
    if (!this.book.isLive(slot) || slot === this.selfSlot) return;
    const addr = this.book.addrs[slot];
    net.syncsInFlight++;
    let rounds = 0;
    let learned = 0;
    const finish = (ok: boolean): void => {
      net.syncsInFlight--;
      if (ok) {
        net.syncs++;
        net.synced = true;
        net.lastSyncAt = this.now;
      } else net.syncFailures++;
      // News brings another sync soon; so does a failure before the first success (a joiner's
      // peers may not know it alive yet and refuse it), rather than waiting a whole period.
      if (learned > 0 || !net.synced) this.scheduleExpedited(network);
    };
    const round = (bucketCount: number): void => {
      rounds++;
      const hashes = net.tables.digest(bucketCount);
      const sent = this.request(
        addr,
        { kind: 'sync', network, from: this.name, bucketCount, hashes },
        (answer) => {
          if (this.joined.get(network) !== net) {
            finish(false);
            return;
          }
          if (answer?.kind !== 'sync' || answer.status === 'not-member') {
            finish(false);
            return;
          }
          if (answer.status === 'rehash') {
            if (rounds < this.config.maxSyncRounds && answer.bucketCount > bucketCount) {
              round(answer.bucketCount);
              return;
            }
            finish(false);
            return;
          }
          const theirs = new Map<string, TableRecord>();
          for (const rec of answer.records) {
            theirs.set(recordId(rec.table, rec.key, rec.owner), rec);
            if (this.applyRecord(network, net, rec, 'sync')) learned++;
          }
          const push: TableRecord[] = [];
          let bytes = 0;
          const complete = new Set(answer.complete);
          for (const list of net.tables.byBucket(bucketCount, complete).values()) {
            for (const rec of list) {
              const other = theirs.get(recordId(rec.table, rec.key, rec.owner));
              if (other && rec.ltime <= other.ltime && (rec.owner !== this.name || sameContent(rec, other)))
                continue;
              if (bytes > this.config.syncPageBytes) break;
              push.push(this.toWire(rec));
              bytes += 64 + rec.key.length + rec.table.length + (rec.value?.byteLength ?? 0);
            }
          }
          const next = (): void => {
            if (answer.more && rounds < this.config.maxSyncRounds) round(bucketCount);
            else finish(true);
          };
          if (push.length === 0) {
            next();
            return;
          }
          const pushed = this.request(
            addr,
            { kind: 'sync-push', network, from: this.name, records: push },
            () => next(),
          );
          if (!pushed) finish(false);
        },
      );
      if (!sent) finish(false);
    };
    round(bucketCountFor(net.tables.size));
  }

  private answerSync(req: Extract<StreamRequest, { kind: 'sync' }>): StreamAnswer {
    const refuse: StreamAnswer = {
      kind: 'sync',
      status: 'not-member',
      bucketCount: 1,
      hashes: new Uint32Array(0),
      complete: [],
      more: false,
      records: [],
    };
    const net = this.joined.get(req.network);
    if (!net) {
      this.dropForeign(req.network);
      return refuse;
    }
    if (!this.admitted(req.from)) return refuse;
    const mine = bucketCountFor(net.tables.size);
    if (mine > req.bucketCount) {
      return { ...refuse, status: 'rehash', bucketCount: mine, hashes: net.tables.digest(mine) };
    }
    const hashes = net.tables.digest(req.bucketCount);
    const differing = new Set<number>();
    for (let b = 0; b < req.bucketCount; b++) if (hashes[b] !== req.hashes[b]) differing.add(b);
    const records: TableRecord[] = [];
    const complete: number[] = [];
    let more = false;
    let bytes = 0;
    const byBucket = net.tables.byBucket(req.bucketCount, differing);
    for (const b of [...differing].sort((x, y) => x - y)) {
      const list = byBucket.get(b) ?? [];
      const size = list.reduce(
        (sum, rec) => sum + 64 + rec.key.length + rec.table.length + (rec.value?.byteLength ?? 0),
        0,
      );
      if (complete.length > 0 && bytes + size > this.config.syncPageBytes) {
        more = true;
        continue;
      }
      bytes += size;
      complete.push(b);
      for (const rec of list) records.push(this.toWire(rec));
    }
    return {
      kind: 'sync',
      status: 'ok',
      bucketCount: req.bucketCount,
      hashes: new Uint32Array(0),
      complete,
      more,
      records,
    };
  }

  // ---------------------------------------------------------------- reaping

  private reap(): void {
    for (const net of this.joined.values()) {
      for (const rec of [...net.tables.records.values()]) {
        if (rec.deleted && rec.reapAt <= this.now) net.tables.delete(rec);
      }
    }
    const m = this.book;
    for (let slot = 0; slot < m.capacity; slot++) {
      if (!m.has(slot) || slot === this.selfSlot) continue;
      const state = m.state[slot];
      if (
        (state !== DEAD && state !== LEFT) ||
        this.now - m.changedAt[slot] < this.config.forgetMemberAfterMs
      )
        continue;
      const name = m.names[slot];
      for (const [network, net] of this.joined) this.dropOwner(network, net, name);
      for (const roster of this.rosters.values()) roster.clear(slot);
      m.remove(slot);
    }
  }
}

/** Same version content: the delete flag and the value bytes. */
function sameContent(
  a: { deleted: boolean; value: Uint8Array | null },
  b: { deleted: boolean; value: Uint8Array | null },
): boolean {
  if (a.deleted || b.deleted) return a.deleted === b.deleted;
  const x = a.value as Uint8Array;
  const y = b.value as Uint8Array;
  if (x.byteLength !== y.byteLength) return false;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  return true;
}
