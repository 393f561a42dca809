import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Channel } from '../../store/channel.js';
import { type Endpoint, formatEndpoint, parseEndpoint } from '../../store/endpoints.js';
import { ClosedError, InvalidArgumentError, KVError, NotReachableError } from '../../store/errors.js';
import { MAX_TIMER_STEP_MS } from '../../time/long-timeout.js';
import type { GossipConfig } from '../core/config.js';
import { type CoreEvent, GossipCore, type NetworkStats } from '../core/core.js';
import { checkName } from '../core/limits.js';
import type { MemberStateName } from '../core/messages.js';
import { RateLimitedReports } from '../core/reports.js';
import { GossipHost } from '../host.js';
import { checkKeys, describeOpenFailure, Keyring } from './keyring.js';
import { GossipTransport } from './transport.js';

export interface GossipOptions {
  /** This member's unique name (1..64 bytes); a restart under the same name takes its entries back. */
  name: string;
  /** `host:port` for UDP and TCP; port 0 picks a free one (read it from `address`). */
  bind: string;
  /** Members to join through (`host:port`); up to 3 are contacted at once. Without it, a new cluster. */
  join?: string[];
  /** AES-GCM keys (16 or 32 bytes), primary first. Without keys, traffic is plain. */
  keys?: Uint8Array[];
  /** Aborting it makes the member leave the cluster and close (and cancels a join in progress). */
  signal?: AbortSignal;
  /** The address others reach this member at; default the bound one (required when binding 0.0.0.0). */
  advertise?: string;
  /** Where reports go (wrong keys, malformed packets, name conflicts), rate-limited. Default: console.warn. */
  logger?: (line: string) => void;
  /** Protocol timings and limits (memberlist LAN defaults). */
  config?: Partial<GossipConfig>;
  /** How long startGossip waits for a join to answer. Default 10 s. */
  joinTimeoutMs?: number;
  /** Deadline of each stream (push-pull, sync, query). Default 10 s. */
  streamTimeoutMs?: number;
}

export interface GossipMember {
  name: string;
  addr: string;
  state: MemberStateName;
}

export interface GossipEntry {
  key: string;
  value: Uint8Array;
  owner: string;
}

export interface GossipWatchEvent {
  type: 'create' | 'update' | 'delete';
  key: string;
  value: Uint8Array | null;
  owner: string;
}

export interface GossipStats {
  packetsIn: number;
  packetsOut: number;
  bytesOut: number;
  streamsOut: number;
  malformed: number;
  /** Packets and streams no installed key could open (or plain where encryption is required). */
  refused: number;
  probes: number;
  probeFailures: number;
  /** Probes saved by the TCP fallback ping: UDP went unanswered, TCP did not. */
  tcpFallbacks: number;
  /** One-way packet loss estimated from unanswered direct probes; retransmits are stretched by it. */
  packetLoss: number;
  refutes: number;
  /** Lifeguard local health score: 0 healthy, up to awarenessMaxMultiplier − 1. */
  awareness: number;
}

export interface Gossip extends AsyncDisposable {
  readonly name: string;
  /** The bound address (UDP and TCP). */
  readonly address: Endpoint;
  /** Every known member, this one included. */
  members(): GossipMember[];
  /** Per-network statistics: members, entries, hidden entries, tombstones, queue, syncs. */
  networks(): NetworkStats[];
  stats(): GossipStats;
  joinNetwork(networkId: string): Promise<void>;
  leaveNetwork(networkId: string): Promise<void>;
  setEntry(networkId: string, table: string, key: string, value: Uint8Array): Promise<void>;
  deleteEntry(networkId: string, table: string, key: string): Promise<void>;
  getEntry(networkId: string, table: string, key: string): Uint8Array | null;
  entries(networkId: string, table: string): GossipEntry[];
  /** Changes from now on (read `entries` right after for the current state); ends on abort or close. */
  watch(networkId: string, table: string, opts?: { signal?: AbortSignal }): AsyncIterable<GossipWatchEvent>;
  /** Replaces the keyring (primary first): add a key everywhere, make it primary, then drop the old one. */
  setKeys(keys: Uint8Array[]): Promise<void>;
  /** Tells the cluster this member is leaving (its entries go everywhere), then closes. */
  leave(): Promise<void>;
  /** Closes without telling anyone: to the others it is a crash (entries hidden until it returns). */
  close(): Promise<void>;
}

/** A watcher that does not read is ended with this error once this many events wait. */
const MAX_PENDING_WATCH_EVENTS = 10_000;
const LEAVE_TIMEOUT_MS = 5_000;

/**
 * Starts a gossip member: SWIM membership with Lifeguard and network-scoped tables
 * (NetworkDB) on UDP and TCP, encrypted with AES-GCM when keys are given. With `join`, it
 * resolves once one of the addresses answered (rejects with NOT_REACHABLE otherwise).
 */
export async function startGossip(options: GossipOptions): Promise<Gossip> {
  const name = checkName('member name', options.name);
  if (typeof options.bind !== 'string') throw new InvalidArgumentError('bind must be host:port');
  const join = options.join ?? [];
  if (!Array.isArray(join)) throw new InvalidArgumentError('join must be an array of host:port');
  for (const addr of join) parseEndpoint(String(addr), 7946);
  const keyring = new Keyring(options.keys === undefined ? undefined : checkKeys(options.keys));
  options.signal?.throwIfAborted();
  const member = new GossipNode(name, keyring, options);
  await member.start(join);
  return member;
}

class WatchStream implements AsyncIterable<GossipWatchEvent> {
  pending = 0;
  readonly channel: Channel<GossipWatchEvent>;

  constructor(signal: AbortSignal | undefined, onEnd: () => void) {
    this.channel = new Channel<GossipWatchEvent>({ signal, onEnd });
  }

  push(event: GossipWatchEvent): void {
    if (++this.pending > MAX_PENDING_WATCH_EVENTS) {
      this.channel.fail(
        new KVError('WATCH_OVERFLOW', `a gossip watcher fell ${MAX_PENDING_WATCH_EVENTS} events behind`),
      );
      return;
    }
    this.channel.push(event);
  }

  [Symbol.asyncIterator](): AsyncIterator<GossipWatchEvent> {
    const inner = this.channel;
    return {
      next: async () => {
        const r = await inner.next();
        if (!r.done) this.pending--;
        return r;
      },
      return: () => inner.return(),
    };
  }
}

class GossipNode implements Gossip {
  private transport: GossipTransport | null = null;
  private host: GossipHost | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private leaving: Promise<void> | null = null;
  private refused = 0;
  private readonly reports = new RateLimitedReports();
  private readonly watchers = new Map<string, Set<WatchStream>>();
  private readonly waiters = new Set<(event: CoreEvent) => void>();
  private readonly log: (line: string) => void;
  private readonly onAbort = (): void => {
    void this.leave();
  };

  constructor(
    readonly name: string,
    private readonly keyring: Keyring,
    private readonly options: GossipOptions,
  ) {
    this.log = options.logger ?? ((line) => console.warn(line));
  }

  get address(): Endpoint {
    return this.transport?.address ?? { host: '', port: 0 };
  }

  async start(join: string[]): Promise<void> {
    const streamTimeoutMs = this.options.streamTimeoutMs ?? 10_000;
    this.transport = await GossipTransport.bind(
      this.options.bind,
      this.keyring,
      {
        packet: (from, plain) => this.host?.packet(from, plain),
        stream: (from, plain) => this.host?.stream(from, plain) ?? null,
        refused: (from, what, reason) => {
          this.refused++;
          const why = reason === 'too-large' ? 'it is too large' : describeOpenFailure(reason);
          this.report(`REFUSED_${reason}`, `refused a ${what} from ${from}: ${why}`);
        },
      },
      streamTimeoutMs,
    );
    const bound = this.transport.address;
    const advertise = this.options.advertise ?? formatEndpoint(bound);
    if (this.options.advertise === undefined && (bound.host === '0.0.0.0' || bound.host === '::')) {
      await this.transport.close();
      throw new InvalidArgumentError(
        'binding a wildcard address needs advertise: the address others reach this member at',
      );
    }
    let core: GossipCore;
    try {
      core = new GossipCore({
        name: this.name,
        addr: advertise,
        seed: randomInt(2 ** 31),
        now: performance.now(),
        config: this.options.config,
      });
    } catch (err) {
      await this.transport.close();
      throw err;
    }
    this.host = new GossipHost(core, {
      now: () => performance.now(),
      sendPacket: (to, bytes) => this.transport?.sendPacket(to, bytes),
      openStream: (id, to, bytes) => {
        const transport = this.transport;
        if (!transport) return;
        transport.request(to, bytes).then(
          (answer) => this.host?.streamAnswer(id, answer),
          (err: Error) => this.host?.streamAnswer(id, null, err.message),
        );
      },
      wakeAt: (at) => this.arm(at),
      onEvent: (event) => this.dispatch(event),
    });
    if (join.length > 0) {
      try {
        await this.awaitJoin(join);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.options.signal?.aborted) this.onAbort(); // aborted while joining: no event comes
  }

  private awaitJoin(join: string[]): Promise<void> {
    const timeoutMs = this.options.joinTimeoutMs ?? 10_000;
    const signal = this.options.signal;
    return new Promise<void>((resolve, reject) => {
      const done = (err: Error | null): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const waiter = (event: CoreEvent): void => {
        if (event.kind !== 'joined') return;
        if (event.ok) done(null);
        else done(new NotReachableError(`could not join any of ${join.join(', ')}: ${event.error}`));
      };
      const onAbort = (): void => done(signal?.reason ?? new ClosedError('join aborted'));
      const timer = setTimeout(
        () => done(new NotReachableError(`no answer from ${join.join(', ')} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      if (signal?.aborted) return onAbort();
      this.core((c, now) => c.join(now, join));
    });
  }

  private report(code: string, message: string): void {
    const line = this.reports.report(code, message, performance.now());
    if (line !== null) this.log(`kvkit gossip ${this.name}: ${line}`);
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed || at === Number.POSITIVE_INFINITY) return;
    const delay = Math.min(MAX_TIMER_STEP_MS, Math.max(0, at - performance.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.host?.tick();
    }, delay);
    this.timer.unref();
  }

  private dispatch(event: CoreEvent): void {
    for (const waiter of [...this.waiters]) waiter(event);
    if (event.kind === 'entry') {
      const set = this.watchers.get(`${event.network}\u0000${event.table}`);
      if (!set) return;
      const out: GossipWatchEvent = {
        type: event.type,
        key: event.key,
        value: event.value,
        owner: event.owner,
      };
      for (const w of set) w.push(out);
    } else if (event.kind === 'warning') {
      this.report(event.code, event.message);
    }
  }

  private core<T>(fn: (core: GossipCore, now: number) => T): T {
    if (this.closed || !this.host) throw new ClosedError('gossip member is closed');
    return this.host.run(fn);
  }

  members(): GossipMember[] {
    if (!this.host) return [];
    return this.host.core.members().map(({ name, addr, state }) => ({ name, addr, state }));
  }

  networks(): NetworkStats[] {
    return this.host ? this.host.core.networkStats() : [];
  }

  stats(): GossipStats {
    const s = this.host?.core.stats();
    return {
      packetsIn: s?.packetsIn ?? 0,
      packetsOut: s?.packetsOut ?? 0,
      bytesOut: s?.bytesOut ?? 0,
      streamsOut: s?.streamsOut ?? 0,
      malformed: s?.malformed ?? 0,
      refused: this.refused,
      probes: s?.probes ?? 0,
      probeFailures: s?.probeFailures ?? 0,
      tcpFallbacks: s?.tcpFallbacks ?? 0,
      packetLoss: s?.packetLoss ?? 0,
      refutes: s?.refutes ?? 0,
      awareness: s?.awareness ?? 0,
    };
  }

  async joinNetwork(networkId: string): Promise<void> {
    this.core((c, now) => c.joinNetwork(now, networkId));
  }

  async leaveNetwork(networkId: string): Promise<void> {
    this.core((c, now) => c.leaveNetwork(now, networkId));
  }

  async setEntry(networkId: string, table: string, key: string, value: Uint8Array): Promise<void> {
    this.core((c, now) => c.setEntry(now, networkId, table, key, value));
  }

  async deleteEntry(networkId: string, table: string, key: string): Promise<void> {
    this.core((c, now) => c.deleteEntry(now, networkId, table, key));
  }

  getEntry(networkId: string, table: string, key: string): Uint8Array | null {
    return this.host?.core.getEntry(networkId, table, key) ?? null;
  }

  entries(networkId: string, table: string): GossipEntry[] {
    return this.host?.core.entries(networkId, table) ?? [];
  }

  watch(
    networkId: string,
    table: string,
    opts: { signal?: AbortSignal } = {},
  ): AsyncIterable<GossipWatchEvent> {
    checkName('network id', networkId);
    checkName('table name', table);
    if (this.closed) throw new ClosedError('gossip member is closed');
    const id = `${networkId}\u0000${table}`;
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    const watchers = set;
    const stream = new WatchStream(opts.signal, () => {
      watchers.delete(stream);
      if (watchers.size === 0 && this.watchers.get(id) === watchers) this.watchers.delete(id);
    });
    watchers.add(stream);
    return stream;
  }

  async setKeys(keys: Uint8Array[]): Promise<void> {
    if (this.closed) throw new ClosedError('gossip member is closed');
    this.keyring.set(checkKeys(keys));
  }

  leave(): Promise<void> {
    this.leaving ??= this.leaveOnce();
    return this.leaving;
  }

  private async leaveOnce(): Promise<void> {
    if (this.closed) return;
    const left = new Promise<void>((resolve) => {
      const timer = setTimeout(finish, LEAVE_TIMEOUT_MS);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      const waiter = (event: CoreEvent): void => {
        if (event.kind !== 'left') return;
        this.waiters.delete(waiter);
        finish();
      };
      this.waiters.add(waiter);
    });
    this.core((c, now) => c.leave(now));
    await left;
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.host = null;
    this.waiters.clear();
    for (const set of [...this.watchers.values()]) for (const w of [...set]) w.channel.end();
    this.watchers.clear();
    await this.transport?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
