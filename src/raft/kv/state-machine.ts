import type { KVPair } from '../../store/types.js';
import type { ApplyContext, ReplicatedStateMachine } from '../replica.js';
import { decodeRequest, type KvCommand, type KvRequest, type KvResult, kvPackr } from './commands.js';
import { KeyIndex } from './key-index.js';

interface StoredKey {
  value: Uint8Array;
  /** Revision of the last change: the contract's `lastIndex`. */
  mod: number;
  create: number;
  /** Lease the key is bound to (0: none). */
  lease: number;
}

interface Lease {
  ttlMs: number;
  keys: Set<string>;
  /** Made by a `put` with a TTL: dies with its key's next write or delete. */
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

/** A client session: recent replies, and which older requests were applied. */
interface Session {
  replies: Map<number, KvResult>;
  /**
   * Sequence numbers applied whose replies left the window, as sorted disjoint ranges
   * `[lo, hi, lo, hi, ...]`: a late retry of one of them must not be applied again.
   */
  forgotten: number[];
}

/**
 * Commands a second application leaves as the first left them (a lease refreshed again,
 * history already forgotten): a retry whose reply was forgotten is applied again, so its
 * caller gets a real answer (a lock keep-alive told ALREADY_APPLIED would give its lock up).
 */
const REPEATABLE: ReadonlySet<KvCommand['op']> = new Set(['leaseKeepAlive', 'compact']);

/** Ranges of forgotten sequence numbers kept per session; beyond, the oldest range is dropped. */
const MAX_FORGOTTEN_RANGES = 32;

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
  /** Client sessions remembered for deduplication. Default 10,000. */
  sessionLimit?: number;
  /** Replies remembered per client session (a window of sequence numbers). Default 1,024. */
  repliesPerSession?: number;
}

/**
 * The replicated key space: ordered keys with revisions, leases, locks with ordered waiters,
 * a watch history resumable from a revision, and client sessions that answer a retried
 * request from memory instead of applying it twice. Deterministic: no clocks, no randomness.
 */
export class KvStateMachine implements ReplicatedStateMachine {
  #revision = 0;
  #compacted = 0;
  #appliedIndex = 0;
  readonly #keys = new Map<string, StoredKey>();
  readonly #index = new KeyIndex();
  readonly #leases = new Map<number, Lease>();
  readonly #locks = new Map<string, LockState>();
  readonly #sessions = new Map<string, Session>();
  #history: KvEvent[] = [];
  #pending: KvEvent[] = [];
  #pendingLeases: LeaseEvent[] = [];
  readonly #changeListeners = new Set<(events: KvEvent[]) => void>();
  readonly #leaseListeners = new Set<(events: LeaseEvent[]) => void>();
  readonly #historyLimit: number;
  readonly #sessionLimit: number;
  readonly #repliesPerSession: number;

  constructor(options: KvStateMachineOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 100_000;
    this.#sessionLimit = options.sessionLimit ?? 10_000;
    this.#repliesPerSession = options.repliesPerSession ?? 1024;
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

  /** Every live lease with its TTL (for the leader's expiry clock after a leader change). */
  leases(): LeaseEvent[] {
    return [...this.#leases].map(([lease, { ttlMs }]) => ({ lease, ttlMs }));
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
    const request = decodeRequest(command);
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

  snapshot(): Uint8Array {
    // Only replicated state: replicas at one log position must produce the same image, and a
    // replica restored from a snapshot does not know which earlier entry was the last command
    // (images of older versions also carry `applied`, which restore ignores).
    return kvPackr.pack({
      v: 1,
      revision: this.#revision,
      keys: this.#index.all().map((key) => {
        const s = this.#keys.get(key) as StoredKey;
        return [key, s.value, s.mod, s.create, s.lease];
      }),
      leases: [...this.#leases].map(([id, l]) => [id, l.ttlMs, l.implicit]),
      locks: [...this.#locks].map(([key, l]) => [key, l.holder, l.queue]),
      sessions: [...this.#sessions].map(([client, s]) => [client, [...s.replies], s.forgotten]),
    });
  }

  restore(image: Uint8Array, ctx: ApplyContext): void {
    const data = kvPackr.unpack(image) as {
      revision: number;
      keys: [string, Uint8Array, number, number, number][];
      leases: [number, number, boolean][];
      locks: [string, LockWaiter | null, LockWaiter[]][];
      // Images written before forgotten ranges existed have two fields.
      sessions: [string, [number, KvResult][], number[]?][];
    };
    const dropped = [...this.#leases.keys()];
    this.#keys.clear();
    this.#leases.clear();
    this.#locks.clear();
    this.#sessions.clear();
    for (const [id, ttlMs, implicit] of data.leases)
      this.#leases.set(id, { ttlMs, implicit, keys: new Set() });
    const sorted: string[] = [];
    for (const [key, value, mod, create, lease] of data.keys) {
      this.#keys.set(key, { value, mod, create, lease });
      sorted.push(key);
      if (lease) this.#leases.get(lease)?.keys.add(key);
    }
    this.#index.reset(sorted);
    for (const [key, holder, queue] of data.locks) this.#locks.set(key, { holder, queue });
    for (const [client, replies, forgotten] of data.sessions)
      this.#sessions.set(client, { replies: new Map(replies), forgotten: forgotten ?? [] });
    this.#revision = data.revision;
    this.#compacted = data.revision;
    this.#history = [];
    this.#appliedIndex = ctx.index;
    // Watchers resume from the compacted revision by re-reading; the expiry clock restarts.
    this.#pendingLeases.push(...dropped.map((lease) => ({ lease, ttlMs: null })), ...this.leases());
    this.#flushEvents();
  }

  // ---- applying ----

  #applyRequest(request: KvRequest, index: number): KvResult {
    const { client, seq } = request;
    if (client === undefined || seq === undefined) return this.#execute(request.cmd, index);
    let session = this.#sessions.get(client);
    if (session) {
      // Keep the session fresh (sessions are evicted least recently used first).
      this.#sessions.delete(client);
      this.#sessions.set(client, session);
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
        const oldest = this.#sessions.keys().next().value as string;
        this.#sessions.delete(oldest);
      }
      session = { replies: new Map(), forgotten: [] };
      this.#sessions.set(client, session);
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
        const current = this.#keys.get(cmd.key);
        if (cmd.prev === 0 && current) return this.#fail('KEY_EXISTS');
        if (cmd.prev !== 0 && current?.mod !== cmd.prev) return this.#fail('KEY_MODIFIED');
        return this.#ok(
          this.#write(cmd.key, cmd.value, this.#leaseFor(cmd.ttlMs, index), this.#revision + 1),
        );
      }
      case 'del':
        if (!this.#keys.has(cmd.key)) return this.#ok(this.#revision);
        return this.#ok(this.#remove(cmd.key, this.#revision + 1));
      case 'cad': {
        const current = this.#keys.get(cmd.key);
        if (!current) return this.#fail('KEY_NOT_FOUND');
        if (current.mod !== cmd.prev) return this.#fail('KEY_MODIFIED');
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
        this.#leases.set(index, { ttlMs: cmd.ttlMs, keys: new Set(), implicit: false });
        this.#pendingLeases.push({ lease: index, ttlMs: cmd.ttlMs });
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
    }
  }

  #ok(revision: number): KvResult {
    return { ok: true, revision };
  }

  #fail(code: Extract<KvResult, { ok: false }>['code']): KvResult {
    return { ok: false, code, revision: this.#revision };
  }

  /** A TTL write gets a lease of its own, named by its log index (unique, the same everywhere). */
  #leaseFor(ttlMs: number | undefined, index: number): number {
    if (ttlMs === undefined) return 0;
    this.#leases.set(index, { ttlMs, keys: new Set(), implicit: true });
    this.#pendingLeases.push({ lease: index, ttlMs });
    return index;
  }

  #write(key: string, value: Uint8Array, lease: number, revision: number): number {
    const old = this.#keys.get(key);
    if (old) this.#detach(key, old.lease);
    else this.#index.add(key);
    this.#revision = revision;
    this.#keys.set(key, { value, mod: revision, create: old?.create ?? revision, lease });
    if (lease) this.#leases.get(lease)?.keys.add(key);
    this.#event(key, { key, value, lastIndex: revision });
    return revision;
  }

  #remove(key: string, revision: number): number {
    const old = this.#keys.get(key);
    if (!old) return this.#revision;
    this.#detach(key, old.lease);
    this.#keys.delete(key);
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
    if (lease.implicit && lease.keys.size === 0) {
      this.#leases.delete(leaseId);
      this.#pendingLeases.push({ lease: leaseId, ttlMs: null });
    }
  }

  #revokeLease(leaseId: number): void {
    const lease = this.#leases.get(leaseId);
    if (!lease) return;
    this.#leases.delete(leaseId);
    this.#pendingLeases.push({ lease: leaseId, ttlMs: null });
    const keys = [...lease.keys];
    const revision = this.#revision + 1;
    for (const key of keys) {
      const stored = this.#keys.get(key);
      if (stored?.lease === leaseId) {
        stored.lease = 0;
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
