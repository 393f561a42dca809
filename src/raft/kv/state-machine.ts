import type { KVPair } from '../../store/types.js';
import type { ApplyContext, ReplicatedStateMachine, RestoreSink } from '../replica.js';
import { joinFrames, splitFrames } from '../snapshot-frames.js';
import {
  InvalidCommandError,
  type KvCommand,
  type KvRequest,
  type KvResult,
  kvPackr,
  parseRequest,
} from './commands.js';
import {
  KEY_FRAME_MARK,
  KeyFrameBuilder,
  type KeyImage,
  readKeyFrame,
  restoreKeyFrame,
} from './key-frames.js';
import { KeyIndex } from './key-index.js';
import { KeyTable } from './key-table.js';

interface Lease {
  ttlMs: number;
  keys: Set<string>;
  /** Made by a `put` with a TTL (bound to that key alone): dies with its key's next write or delete. */
  implicit: boolean;
}

interface LockWaiter {
  owner: string;
  value: Uint8Array;
  lease: number;
}

interface LockState {
  holder: LockWaiter | null;
  queue: LockWaiter[];
}

/** A client session: recent replies, which older requests were applied, and when it was last used. */
interface Session {
  replies: Map<number, KvResult>;
  /**
   * Sequence numbers applied whose replies left the window, as sorted disjoint ranges
   * `[lo, hi, lo, hi, ...]`: a late retry of one of them must not be applied again.
   */
  forgotten: number[];
  /** The replicated clock (`clock` commands) when the session last sent a request. */
  lastSeenMs: number;
  snap: number;
}

/**
 * Commands a second application leaves as the first left them (a lease refreshed again,
 * history already forgotten): a retry whose reply was forgotten is applied again, so its
 * caller gets a real answer (a lock keep-alive told ALREADY_APPLIED would give its lock up).
 */
const REPEATABLE: ReadonlySet<KvCommand['op']> = new Set(['leaseKeepAlive', 'compact']);

/** Ranges of forgotten sequence numbers kept per session; beyond, the oldest range is dropped. */
const MAX_FORGOTTEN_RANGES = 32;

/** A snapshot frame holds at most this many items or about this many bytes of values. */
const FRAME_ITEMS = 1024;
const FRAME_VALUE_BYTES = 512 * 1024;

/** Image format version (frames, see `snapshotFrames`); version 2 images (key frames of before) are read too. */
const IMAGE_VERSION = 3;
const READ_VERSIONS: ReadonlySet<unknown> = new Set([2, 3]);

/** One change of one key, as watches see it. */
export interface KvEvent {
  revision: number;
  key: string;
  /** The new state; null when deleted. */
  state: KVPair | null;
}

/** A lease appeared or was refreshed (ttlMs) or is gone (null): the leader's expiry clock listens. */
export interface LeaseEvent {
  lease: number;
  ttlMs: number | null;
}

export interface KvStateMachineOptions {
  /** Watch events kept for resuming watches (older ones are compacted). Default 100,000. */
  historyLimit?: number;
  /**
   * A client session not used for this long, on the replicated clock (the leader proposes
   * its wall clock now and then, see `clock` commands), expires with its retry memory.
   * Default 600,000 (10 minutes, far beyond any client's retry deadline).
   */
  sessionIdleMs?: number;
  /**
   * At most this many sessions are kept; past it, the longest idle one is dropped (a bound on
   * memory against a flood of client ids, not the way sessions normally end). Default 100,000.
   */
  sessionLimit?: number;
  /** Replies remembered per client session (a window of sequence numbers). Default 1,024. */
  repliesPerSession?: number;
  /** Keys (or sessions) per snapshot frame, at most. Default 4,096 (tests use a few). */
  snapshotFrameItems?: number;
}

/** A snapshot being read was ended by a restore or a newer snapshot: its frames are void. */
export class SnapshotSupersededError extends Error {
  readonly code = 'SNAPSHOT_SUPERSEDED';
}

/** Thrown for an image that cannot be restored (missing frames, wrong version, bad shape). */
export class SnapshotImageError extends Error {
  readonly code = 'LOG_CORRUPT';
}

/** What a snapshot in progress needs to see the state as it was when it began. */
interface SnapshotCow {
  id: number;
  /** Keys as they were at the start, in order, as blocks (see KeyIndex.freeze). */
  blocks: readonly (readonly string[])[];
  block: number;
  at: number;
  /** Keys changed before they were written out: their state at the start. */
  keyBefore: Map<string, KeyImage>;
  /** Sessions at the start, least recently used first. */
  clients: string[];
  sessionBefore: Map<string, SessionImage>;
}

type SessionImage = [client: string, replies: [number, KvResult][], forgotten: number[], lastSeenMs: number];

type LeaseImage = [id: number, ttlMs: number];

/** The first frame of an image. */
interface ImageHeader {
  v: number;
  revision: number;
  clockMs: number;
  /** How many keys the key frames hold. */
  keys: number;
  /** Leases not bound to a TTL key (those of lock holders and waiters). */
  leases: LeaseImage[];
  locks: LockImage[];
}
type LockImage = [key: string, holder: LockWaiter | null, queue: LockWaiter[]];

/**
 * The replicated key space: ordered keys with revisions, leases, locks with ordered waiters,
 * a watch history resumable from a revision, and client sessions that answer a retried
 * request from memory instead of applying it twice. Deterministic: no clocks, no randomness
 * (time enters only through `clock` commands in the log).
 */
export class KvStateMachine implements ReplicatedStateMachine {
  #revision = 0;
  #compacted = 0;
  #appliedIndex = 0;
  #refused = 0;
  /** The replicated clock: the largest `clock` command applied (ms since the epoch). */
  #clockMs = 0;
  #keys = new KeyTable();
  #index = new KeyIndex();
  #leases = new Map<number, Lease>();
  #locks = new Map<string, LockState>();
  /** Least recently used first (a used session moves to the end). */
  #sessions = new Map<string, Session>();
  /** The client at the end of `#sessions` (its next use need not move it), or undefined. */
  #lastClient: string | undefined;
  #history: KvEvent[] = [];
  #pending: KvEvent[] = [];
  #pendingLeases: LeaseEvent[] = [];
  readonly #changeListeners = new Set<(events: KvEvent[]) => void>();
  readonly #leaseListeners = new Set<(events: LeaseEvent[]) => void>();
  readonly #historyLimit: number;
  readonly #sessionIdleMs: number;
  readonly #sessionLimit: number;
  readonly #repliesPerSession: number;
  readonly #frameItems: number;
  #cow: SnapshotCow | null = null;
  #snapshots = 0;

  constructor(options: KvStateMachineOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 100_000;
    this.#sessionIdleMs = options.sessionIdleMs ?? 600_000;
    this.#sessionLimit = options.sessionLimit ?? 100_000;
    this.#repliesPerSession = options.repliesPerSession ?? 1024;
    this.#frameItems = options.snapshotFrameItems ?? FRAME_ITEMS;
  }

  // ---- reads (local; callers make them linearizable with a read barrier first) ----

  get revision(): number {
    return this.#revision;
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Revisions at or below this are no longer in the watch history. */
  get compactedRevision(): number {
    return this.#compacted;
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Entries refused as not well-formed commands (INVALID_ARGUMENT), since start. */
  get refusedCommands(): number {
    return this.#refused;
  }

  /** Client sessions held (each expires after the session idle time). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The replicated clock (ms since the epoch; 0 before the first `clock` command). */
  get clockMs(): number {
    return this.#clockMs;
  }

  hasSession(client: string): boolean {
    return this.#sessions.has(client);
  }

  get(key: string): KVPair | null {
    const stored = this.#keys.get(key);
    return stored ? { key, value: stored.value, lastIndex: stored.mod } : null;
  }

  list(dir: string): KVPair[] {
    return this.#index.range(dir).map((key) => this.get(key) as KVPair);
  }

  /** The owner holding `key`'s lock, or null. */
  lockHolder(key: string): string | null {
    return this.#locks.get(key)?.holder?.owner ?? null;
  }

  /** Every live lease with its TTL, by id (for the leader's expiry clock after a leader change). */
  leases(): LeaseEvent[] {
    const out: LeaseEvent[] = [];
    let sorted = true;
    for (const [lease, { ttlMs }] of this.#leases) {
      if (sorted && out.length > 0 && (out.at(-1) as LeaseEvent).lease > lease) sorted = false;
      out.push({ lease, ttlMs });
    }
    // Ids are log indexes, so leases are made in id order; a restored machine holds them in
    // key order (TTL leases come with their keys), which must not show.
    return sorted ? out : out.sort((a, b) => a.lease - b.lease);
  }

  hasLease(lease: number): boolean {
    return this.#leases.has(lease);
  }

  /** Events with revision > `after`, or null when some of them were compacted. */
  eventsAfter(after: number): KvEvent[] | null {
    if (after < this.#compacted) return null;
    const first = this.#history[0];
    if (first && after < first.revision - 1) return null;
    if (!first && after < this.#revision) return null;
    let lo = 0;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#history[mid].revision <= after) lo = mid + 1;
      else hi = mid;
    }
    return this.#history.slice(lo);
  }

  /** Called after each applied command that changed keys, with its events in order. */
  onChange(listener: (events: KvEvent[]) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** Listeners of onChange now (watches, lock waits): the node's `kvkit_mvcc_watcher_total`. */
  get changeListenerCount(): number {
    return this.#changeListeners.size;
  }

  onLease(listener: (events: LeaseEvent[]) => void): () => void {
    this.#leaseListeners.add(listener);
    return () => this.#leaseListeners.delete(listener);
  }

  // ---- ReplicatedStateMachine ----

  apply(command: Uint8Array, ctx: ApplyContext): KvResult {
    this.#appliedIndex = ctx.index;
    let request: KvRequest;
    try {
      request = parseRequest(command);
    } catch (err) {
      if (!(err instanceof InvalidCommandError)) throw err;
      // Every replica refuses the same bytes the same way; nothing changes, nothing is logged.
      this.#refused++;
      return this.#fail('INVALID_ARGUMENT');
    }
    const result = this.#applyRequest(request, ctx.index);
    this.#flushEvents();
    return result;
  }

  /** Applies an already-decoded request (the simulator and tests use this directly). */
  applyRequest(request: KvRequest, ctx: ApplyContext): KvResult {
    this.#appliedIndex = ctx.index;
    const result = this.#applyRequest(request, ctx.index);
    this.#flushEvents();
    return result;
  }

  /** The whole image at once (tests, the simulator): the bodies of `snapshotFrames`, framed. */
  snapshot(): Uint8Array {
    return joinFrames(this.snapshotFrames());
  }

  /**
   * The state as of now (the last applied entry) as a sequence of frames, produced one at a
   * time as the caller pulls them: the machine keeps applying commands in between, and what
   * they change is copied aside first (copy-on-write), so the frames describe this moment.
   * Each frame costs a bounded amount of work (a few thousand items, ~0.5 MiB of values), so
   * an image of a million keys is taken without blocking the event loop.
   *
   * Only replicated state goes in: replicas at one log position produce the same frames.
   * One snapshot at a time: starting another one ends the previous one.
   */
  snapshotFrames(): Iterator<Uint8Array> & Iterable<Uint8Array> {
    this.#endSnapshot();
    const cow: SnapshotCow = {
      id: ++this.#snapshots,
      blocks: this.#index.freeze(),
      block: 0,
      at: 0,
      keyBefore: new Map(),
      clients: [...this.#sessions.keys()],
      sessionBefore: new Map(),
    };
    this.#cow = cow;
    // Leases of lock holders and waiters and the locks themselves are few: written at once.
    // (The lease of a TTL key is written with its key.)
    const leases: LeaseImage[] = [];
    for (const [id, lease] of this.#leases) if (!lease.implicit) leases.push([id, lease.ttlMs]);
    const locks: LockImage[] = [];
    for (const [key, lock] of this.#locks) locks.push([key, lock.holder, [...lock.queue]]);
    const header: ImageHeader = {
      v: IMAGE_VERSION,
      revision: this.#revision,
      clockMs: this.#clockMs,
      keys: this.#index.size,
      leases,
      locks,
    };
    return this.#frames(cow, kvPackr.pack(header));
  }

  *#frames(cow: SnapshotCow, header: Uint8Array): Generator<Uint8Array> {
    const live = () => {
      if (this.#cow !== cow)
        throw new SnapshotSupersededError('snapshot ended by a restore or a newer snapshot');
    };
    try {
      yield header;
      for (const frame of this.#keyFrames(cow)) {
        live();
        yield frame;
      }
      for (const frame of this.#sessionFrames(cow)) {
        live();
        yield frame;
      }
      live();
      yield kvPackr.pack(['end']);
    } finally {
      if (this.#cow === cow) this.#endSnapshot();
    }
  }

  #endSnapshot(): void {
    if (!this.#cow) return;
    this.#cow = null;
    this.#index.thaw();
  }

  *#keyFrames(cow: SnapshotCow): Generator<Uint8Array> {
    const { blocks } = cow;
    let ordinal = 0;
    while (cow.block < blocks.length) {
      const frame = new KeyFrameBuilder(this.#keys, ordinal);
      while (cow.block < blocks.length && frame.count < this.#frameItems && frame.size < FRAME_VALUE_BYTES) {
        const key = blocks[cow.block][cow.at];
        const before = cow.keyBefore.get(key);
        if (before) {
          cow.keyBefore.delete(key);
          frame.addImage(key, before);
        } else {
          const slot = this.#keys.slot(key);
          if (slot === undefined) throw new Error(`snapshot: key ${key} vanished (copy-on-write bug)`);
          const lease = this.#keys.slotLease(slot);
          frame.addSlot(key, slot, lease ? (this.#leases.get(lease)?.ttlMs ?? 0) : 0);
        }
        if (++cow.at === blocks[cow.block].length) {
          cow.block++;
          cow.at = 0;
        }
      }
      ordinal += frame.count;
      yield frame.finish();
    }
  }

  *#sessionFrames(cow: SnapshotCow): Generator<Uint8Array> {
    let items: SessionImage[] = [];
    for (const client of cow.clients) {
      const before = cow.sessionBefore.get(client);
      const current = this.#sessions.get(client);
      if (current) current.snap = cow.id;
      const image = before ?? (current && sessionImage(client, current));
      if (image === undefined) throw new Error(`snapshot: session ${client} vanished (copy-on-write bug)`);
      cow.sessionBefore.delete(client);
      items.push(image);
      if (items.length >= Math.max(1, this.#frameItems / 4)) {
        yield kvPackr.pack(['sessions', items]);
        items = [];
      }
    }
    if (items.length > 0) yield kvPackr.pack(['sessions', items]);
  }

  #keyImage(key: string): KeyImage | undefined {
    const record = this.#keys.get(key);
    if (!record) return undefined;
    return { ...record, ttlMs: record.lease ? (this.#leases.get(record.lease)?.ttlMs ?? 0) : 0 };
  }

  /** The inverse of `snapshot`. */
  restore(image: Uint8Array, ctx: ApplyContext): void {
    const sink = this.beginRestore(ctx);
    for (const body of splitFrames(image)) sink.push(body);
    sink.finish();
  }

  /**
   * Restores an image frame by frame into a new state, which replaces the current one at
   * `finish()` (reads see the old state until then). Each `push` costs one frame's work.
   */
  beginRestore(ctx: ApplyContext): RestoreSink {
    const keys = new KeyTable();
    const index = new KeyIndex();
    const leases = new Map<number, Lease>();
    const locks = new Map<string, LockState>();
    const sessions = new Map<string, Session>();
    let header = null as ImageHeader | null;
    let ended = false;
    let last: string | null = null;
    return {
      push: (frame) => {
        if (header !== null && frame[0] === KEY_FRAME_MARK) {
          if (ended) throw new SnapshotImageError('snapshot image frame out of place');
          const restored = (key: string, lease: number, ttlMs: number) => {
            if (last !== null && !(last < key))
              throw new SnapshotImageError('snapshot image keys out of order');
            last = key;
            index.appendSorted(key);
            if (!lease) return;
            const known = leases.get(lease);
            if (known) known.keys.add(key);
            else leases.set(lease, { ttlMs, implicit: true, keys: new Set([key]) });
          };
          try {
            if (header.v === IMAGE_VERSION) {
              restoreKeyFrame(frame, keys, restored);
            } else {
              readKeyFrame(frame, (key, valueStart, valueLength, mod, create, lease, ttlMs) => {
                if (keys.has(key)) throw new SnapshotImageError('snapshot image keys out of order');
                keys.setFrom(key, frame, valueStart, valueLength, mod, create, lease);
                restored(key, lease, ttlMs);
              });
            }
          } catch (err) {
            if (err instanceof SnapshotImageError) throw err;
            throw new SnapshotImageError(`snapshot image key frame is damaged: ${(err as Error).message}`, {
              cause: err,
            });
          }
          return;
        }
        let body: unknown;
        try {
          body = kvPackr.unpack(frame);
        } catch (err) {
          throw new SnapshotImageError('snapshot image frame is undecodable', { cause: err });
        }
        if (header === null) {
          const h = body as ImageHeader;
          if (!READ_VERSIONS.has(h?.v)) {
            throw new SnapshotImageError(`snapshot image version ${String(h?.v)} is not ${IMAGE_VERSION}`);
          }
          header = h;
          // Every key's slot made room for at once: no table grows while the image is read.
          if (Number.isSafeInteger(h.keys) && h.keys > 0) keys.reserve(Math.min(h.keys, 1 << 26));
          for (const [id, ttlMs] of header.leases)
            leases.set(id, { ttlMs, implicit: false, keys: new Set() });
          for (const [key, holder, queue] of header.locks) locks.set(key, { holder, queue });
          return;
        }
        if (!Array.isArray(body) || ended) throw new SnapshotImageError('snapshot image frame out of place');
        const [kind, items] = body as [string, unknown[]];
        switch (kind) {
          case 'sessions':
            for (const [client, replies, forgotten, lastSeenMs] of items as SessionImage[])
              sessions.set(client, { replies: new Map(replies), forgotten, lastSeenMs, snap: 0 });
            return;
          case 'end':
            ended = true;
            return;
          default:
            throw new SnapshotImageError(`snapshot image has an unknown frame ${String(kind).slice(0, 20)}`);
        }
      },
      finish: () => {
        if (header === null || !ended || index.size !== header.keys) {
          throw new SnapshotImageError('snapshot image is incomplete');
        }
        const dropped = [...this.#leases.keys()];
        this.#endSnapshot();
        this.#keys = keys;
        this.#index = index;
        this.#leases = leases;
        this.#locks = locks;
        this.#sessions = sessions;
        this.#lastClient = undefined;
        this.#revision = header.revision;
        this.#clockMs = header.clockMs;
        this.#compacted = header.revision;
        this.#history = [];
        this.#appliedIndex = ctx.index;
        // Watchers resume from the compacted revision by re-reading; the expiry clock restarts.
        this.#pendingLeases.push(...dropped.map((lease) => ({ lease, ttlMs: null })), ...this.leases());
        this.#flushEvents();
      },
    };
  }

  // ---- applying ----

  #applyRequest(request: KvRequest, index: number): KvResult {
    const { client, seq } = request;
    if (client === undefined || seq === undefined) return this.#execute(request.cmd, index);
    let session = this.#sessions.get(client);
    if (session) {
      this.#cowSession(client, session);
      // Keep the session fresh (the least recently used come first). One client writing on
      // and on is already last: moving it would cost the Map a rehash every few applies.
      if (client !== this.#lastClient) {
        this.#sessions.delete(client);
        this.#sessions.set(client, session);
        this.#lastClient = client;
      }
      session.lastSeenMs = this.#clockMs;
      // A retry: answer as the first time; or, when that answer left the window, refuse to
      // apply it again (its first application is all the client may get).
      const cached = session.replies.get(seq);
      if (cached) return cached;
      if (inRanges(session.forgotten, seq)) {
        return REPEATABLE.has(request.cmd.op)
          ? this.#execute(request.cmd, index)
          : this.#fail('ALREADY_APPLIED');
      }
    } else {
      if (this.#sessions.size >= this.#sessionLimit) {
        const [oldest, dropped] = this.#sessions.entries().next().value as [string, Session];
        this.#cowSession(oldest, dropped);
        this.#sessions.delete(oldest);
        if (oldest === this.#lastClient) this.#lastClient = undefined;
      }
      // A session made during a snapshot is not in it (`snap` says it is written out already).
      session = { replies: new Map(), forgotten: [], lastSeenMs: this.#clockMs, snap: this.#cow?.id ?? 0 };
      this.#sessions.set(client, session);
      this.#lastClient = client;
    }
    const result = this.#execute(request.cmd, index);
    session.replies.set(seq, result);
    if (session.replies.size > this.#repliesPerSession) {
      const evicted = session.replies.keys().next().value as number;
      session.replies.delete(evicted);
      addToRanges(session.forgotten, evicted);
      // Bounded memory: forget the oldest range (those retries would apply again, as every
      // retry did before the ranges existed) rather than merge ranges, which would refuse a
      // request that never applied.
      if (session.forgotten.length > 2 * MAX_FORGOTTEN_RANGES) session.forgotten.splice(0, 2);
    }
    return result;
  }

  #execute(cmd: KvCommand, index: number): KvResult {
    switch (cmd.op) {
      case 'put':
        return this.#ok(
          this.#write(cmd.key, cmd.value, this.#leaseFor(cmd.ttlMs, index), this.#revision + 1),
        );
      case 'cas': {
        const current = this.#keys.mod(cmd.key);
        if (cmd.prev === 0 && current !== undefined) return this.#fail('KEY_EXISTS');
        if (cmd.prev !== 0 && current !== cmd.prev) return this.#fail('KEY_MODIFIED');
        return this.#ok(
          this.#write(cmd.key, cmd.value, this.#leaseFor(cmd.ttlMs, index), this.#revision + 1),
        );
      }
      case 'del':
        if (!this.#keys.has(cmd.key)) return this.#ok(this.#revision);
        return this.#ok(this.#remove(cmd.key, this.#revision + 1));
      case 'cad': {
        const current = this.#keys.mod(cmd.key);
        if (current === undefined) return this.#fail('KEY_NOT_FOUND');
        if (current !== cmd.prev) return this.#fail('KEY_MODIFIED');
        return this.#ok(this.#remove(cmd.key, this.#revision + 1));
      }
      case 'delTree': {
        const keys = this.#index.range(cmd.dir);
        if (keys.length === 0) return this.#ok(this.#revision);
        const revision = this.#revision + 1;
        for (const key of keys) this.#remove(key, revision);
        return this.#ok(revision);
      }
      case 'leaseGrant':
        this.#addLease(index, cmd.ttlMs, false);
        return { ok: true, revision: this.#revision, lease: index };
      case 'leaseKeepAlive': {
        const lease = this.#leases.get(cmd.lease);
        if (!lease) return this.#fail('LEASE_NOT_FOUND');
        this.#pendingLeases.push({ lease: cmd.lease, ttlMs: lease.ttlMs });
        return { ok: true, revision: this.#revision, lease: cmd.lease };
      }
      case 'leaseRevoke':
        if (!this.#leases.has(cmd.lease)) return this.#fail('LEASE_NOT_FOUND');
        this.#revokeLease(cmd.lease);
        return this.#ok(this.#revision);
      case 'lockAcquire':
        return this.#lockAcquire(cmd.key, { owner: cmd.owner, value: cmd.value, lease: cmd.lease });
      case 'lockRelease':
        this.#lockRelease(cmd.key, cmd.owner);
        return this.#ok(this.#revision);
      case 'compact':
        if (cmd.revision > this.#compacted) {
          this.#compacted = Math.min(cmd.revision, this.#revision);
          this.#history = this.#history.filter((e) => e.revision > this.#compacted);
        }
        return this.#ok(this.#revision);
      case 'clock':
        if (this.#clockMs === 0 && cmd.nowMs > 0) {
          // The clock starts: sessions used before it was known count as seen now.
          for (const [client, session] of this.#sessions) {
            this.#cowSession(client, session);
            session.lastSeenMs = cmd.nowMs;
          }
        }
        if (cmd.nowMs > this.#clockMs) this.#clockMs = cmd.nowMs;
        this.#expireSessions();
        return this.#ok(this.#revision);
    }
  }

  #ok(revision: number): KvResult {
    return { ok: true, revision };
  }

  #fail(code: Extract<KvResult, { ok: false }>['code']): KvResult {
    return { ok: false, code, revision: this.#revision };
  }

  /** Drops the sessions idle for longer than the session idle time (the least recent come first). */
  #expireSessions(): void {
    const before = this.#clockMs - this.#sessionIdleMs;
    for (const [client, session] of this.#sessions) {
      if (session.lastSeenMs >= before) return;
      this.#cowSession(client, session);
      this.#sessions.delete(client);
      if (client === this.#lastClient) this.#lastClient = undefined;
    }
  }

  /** A TTL write gets a lease of its own, named by its log index (unique, the same everywhere). */
  #leaseFor(ttlMs: number | undefined, index: number): number {
    if (ttlMs === undefined) return 0;
    this.#addLease(index, ttlMs, true);
    return index;
  }

  #addLease(id: number, ttlMs: number, implicit: boolean): void {
    this.#leases.set(id, { ttlMs, keys: new Set(), implicit });
    this.#pendingLeases.push({ lease: id, ttlMs });
  }

  #deleteLease(id: number): void {
    this.#leases.delete(id);
    this.#pendingLeases.push({ lease: id, ttlMs: null });
  }

  #write(key: string, value: Uint8Array, lease: number, revision: number): number {
    this.#cowKey(key);
    const slot = this.#keys.slot(key);
    let create = revision;
    if (slot !== undefined) {
      create = this.#keys.slotCreate(slot);
      this.#detach(key, this.#keys.slotLease(slot));
    } else {
      this.#index.add(key);
    }
    this.#revision = revision;
    this.#keys.set(key, { value, mod: revision, create, lease });
    if (lease) this.#leases.get(lease)?.keys.add(key);
    // The event carries the machine's own copy, not the buffer the command arrived in.
    this.#event(key, { key, value: this.#keys.value(key) as Uint8Array, lastIndex: revision });
    return revision;
  }

  #remove(key: string, revision: number): number {
    const lease = this.#keys.lease(key);
    this.#cowKey(key);
    if (!this.#keys.delete(key)) return this.#revision;
    this.#detach(key, lease);
    this.#index.remove(key);
    this.#revision = revision;
    this.#event(key, null);
    return revision;
  }

  #detach(key: string, leaseId: number): void {
    if (!leaseId) return;
    const lease = this.#leases.get(leaseId);
    if (!lease) return;
    lease.keys.delete(key);
    if (lease.implicit && lease.keys.size === 0) this.#deleteLease(leaseId);
  }

  #revokeLease(leaseId: number): void {
    const lease = this.#leases.get(leaseId);
    if (!lease) return;
    const keys = [...lease.keys];
    // A snapshot in progress keeps these keys with their lease's TTL: copy them while it exists.
    for (const key of keys) this.#cowKey(key);
    this.#deleteLease(leaseId);
    const revision = this.#revision + 1;
    for (const key of keys) {
      if (this.#keys.lease(key) === leaseId) {
        this.#keys.setLease(key, 0);
        this.#remove(key, revision);
      }
    }
    for (const [key, lock] of [...this.#locks]) {
      lock.queue = lock.queue.filter((w) => w.lease !== leaseId);
      if (lock.holder?.lease === leaseId) this.#lockRelease(key, lock.holder.owner);
      else if (!lock.holder && lock.queue.length === 0) this.#locks.delete(key);
    }
  }

  #lockAcquire(key: string, waiter: LockWaiter): KvResult {
    if (!this.#leases.has(waiter.lease)) return this.#fail('LEASE_NOT_FOUND');
    const lock = this.#locks.get(key) ?? { holder: null, queue: [] };
    this.#locks.set(key, lock);
    if (lock.holder?.owner === waiter.owner) return { ok: true, revision: this.#revision, acquired: true };
    if (lock.holder === null) {
      lock.holder = waiter;
      return { ok: true, revision: this.#write(key, waiter.value, 0, this.#revision + 1), acquired: true };
    }
    if (!lock.queue.some((w) => w.owner === waiter.owner)) lock.queue.push(waiter);
    return { ok: true, revision: this.#revision, acquired: false };
  }

  /** Releases (or leaves the queue of) a lock; the next live waiter in order gets it. */
  #lockRelease(key: string, owner: string): void {
    const lock = this.#locks.get(key);
    if (!lock) return;
    if (lock.holder?.owner !== owner) {
      lock.queue = lock.queue.filter((w) => w.owner !== owner);
      if (!lock.holder && lock.queue.length === 0) this.#locks.delete(key);
      return;
    }
    const next = lock.queue.shift() ?? null;
    lock.holder = next;
    if (next) {
      this.#write(key, next.value, 0, this.#revision + 1);
    } else {
      this.#locks.delete(key);
      this.#remove(key, this.#revision + 1);
    }
  }

  // ---- copy-on-write for a snapshot in progress ----

  /** Before a key changes: keep its state for the snapshot if it has not been written out yet. */
  #cowKey(key: string): void {
    const cow = this.#cow;
    if (!cow || cow.keyBefore.has(key) || cow.block >= cow.blocks.length) return;
    // Keys before the next one to write out are written out already.
    if (key < cow.blocks[cow.block][cow.at]) return;
    // Absent now means absent at the start too (a key present then was copied when it left).
    const image = this.#keyImage(key);
    if (image) cow.keyBefore.set(key, image);
  }

  #cowSession(client: string, session: Session): void {
    const cow = this.#cow;
    if (!cow || session.snap === cow.id || cow.sessionBefore.has(client)) return;
    cow.sessionBefore.set(client, sessionImage(client, session));
  }

  #event(key: string, state: KVPair | null): void {
    const event = { revision: this.#revision, key, state };
    this.#history.push(event);
    this.#pending.push(event);
  }

  #flushEvents(): void {
    if (this.#history.length > this.#historyLimit * 1.25) {
      const drop = this.#history.length - this.#historyLimit;
      this.#compacted = Math.max(this.#compacted, this.#history[drop - 1].revision);
      this.#history = this.#history.slice(drop);
    }
    if (this.#pending.length > 0) {
      const events = this.#pending;
      this.#pending = [];
      for (const listener of [...this.#changeListeners]) listener(events);
    }
    if (this.#pendingLeases.length > 0) {
      const events = this.#pendingLeases;
      this.#pendingLeases = [];
      for (const listener of [...this.#leaseListeners]) listener(events);
    }
  }
}

function sessionImage(
  client: string,
  s: { replies: Map<number, KvResult>; forgotten: number[]; lastSeenMs: number },
): SessionImage {
  return [client, [...s.replies], [...s.forgotten], s.lastSeenMs];
}

/** Whether `n` lies in one of the sorted disjoint ranges `[lo, hi, lo, hi, ...]`. */
function inRanges(ranges: number[], n: number): boolean {
  let lo = 0;
  let hi = ranges.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[2 * mid + 1] < n) lo = mid + 1;
    else hi = mid;
  }
  return lo < ranges.length / 2 && ranges[2 * lo] <= n;
}

/** Adds `n` to the sorted disjoint ranges, merging it with its neighbours. */
function addToRanges(ranges: number[], n: number): void {
  let at = 0;
  while (at < ranges.length && ranges[at + 1] < n - 1) at += 2;
  if (at === ranges.length || ranges[at] > n + 1) {
    ranges.splice(at, 0, n, n);
    return;
  }
  ranges[at] = Math.min(ranges[at], n);
  ranges[at + 1] = Math.max(ranges[at + 1], n);
  // Filling a gap joins this range with the next one.
  if (at + 2 < ranges.length && ranges[at + 2] <= ranges[at + 1] + 1) {
    ranges[at + 1] = Math.max(ranges[at + 1], ranges[at + 3]);
    ranges.splice(at + 2, 2);
  }
}
