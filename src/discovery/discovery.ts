import { ClosedError, InvalidArgumentError } from '../store/errors.js';
import { normalizePrefix } from '../store/keys.js';
import { anySignal } from '../store/signals.js';
import type { KVPair, Store } from '../store/types.js';
import { text } from '../store/values.js';
import { campaign, follow } from './election.js';
import { NodeKeeper } from './registration.js';
import { resilientWatch, sameStrings } from './resilient-watch.js';
import type {
  CampaignOptions,
  DiscoveryOptions,
  FollowOptions,
  RegisterOptions,
  Registration,
  WatchNodesOptions,
} from './types.js';

/** dockerd's defaults (daemon/discovery/discovery.go). */
export const DEFAULT_HEARTBEAT_MS = 20_000;
export const DEFAULT_NODE_TTL_MS = 60_000;
export const DEFAULT_DISCOVERY_PREFIX = 'docker';

/** Longest node address accepted (a host name of 253 characters, a port and brackets). */
const MAX_ADDR_LENGTH = 262;

/**
 * Docker's kv discovery and docker/leadership on any Store. Node keys are
 * `<prefix>/nodes/<addr>` holding the address — Docker's own layout with the default prefix —
 * and election keys live under the prefix too (`swarm/leader` → `docker/swarm/leader`).
 * Closing ends every watch and campaign made here and deletes its registrations; the store
 * stays open (it is the caller's).
 */
export class Discovery implements AsyncDisposable {
  readonly prefix: string;
  readonly #store: Store;
  readonly #closing = new AbortController();
  readonly #registrations = new Set<NodeKeeper>();

  constructor(store: Store, opts: DiscoveryOptions = {}) {
    if (!store || typeof store.newLock !== 'function')
      throw new InvalidArgumentError('openDiscovery needs a Store');
    const dir = normalizePrefix(opts.prefix ?? DEFAULT_DISCOVERY_PREFIX);
    if (dir === '') throw new InvalidArgumentError('discovery needs a non-empty prefix');
    this.#store = store;
    this.prefix = dir.slice(0, -1);
  }

  /** The directory node keys live in: `<prefix>/nodes`. */
  get nodesKey(): string {
    return `${this.prefix}/nodes`;
  }

  /**
   * Registers `addr` (`host:port`) and keeps it alive until `close()`; resolves once it is in the
   * store. INVALID_ARGUMENT for a bad address, or a TTL not greater than the heartbeat.
   */
  async register(addr: string, opts: RegisterOptions = {}): Promise<Registration> {
    this.#checkOpen();
    checkAddr(addr);
    const heartbeatMs = positiveMs(opts.heartbeatMs, DEFAULT_HEARTBEAT_MS, 'heartbeatMs');
    const ttlMs = positiveMs(opts.ttlMs, DEFAULT_NODE_TTL_MS, 'ttlMs');
    if (ttlMs <= heartbeatMs) {
      throw new InvalidArgumentError(
        `ttlMs (${ttlMs}) must be greater than heartbeatMs (${heartbeatMs}), as dockerd requires`,
      );
    }
    const keeper = new NodeKeeper({
      store: this.#store,
      key: `${this.nodesKey}/${addr}`,
      addr,
      heartbeatMs,
      ttlMs,
      onError: opts.onError,
      parentSignal: this.#closing.signal,
      onClosed: () => this.#registrations.delete(keeper),
    });
    this.#registrations.add(keeper);
    try {
      await keeper.start();
    } catch (err) {
      await keeper.close();
      throw err;
    }
    return keeper;
  }

  /** The registered addresses, sorted. */
  async listNodes(): Promise<string[]> {
    this.#checkOpen();
    return nodeAddrs(await this.#store.list(this.nodesKey));
  }

  /**
   * The sorted address list now, then after each change (never the same list twice in a row).
   * Store errors go to `onError` and the watch resumes after a backoff; it ends only on abort
   * or close.
   */
  watchNodes(opts: WatchNodesOptions = {}): AsyncIterable<string[]> {
    this.#checkOpen();
    const signal = anySignal(opts.signal, this.#closing.signal);
    return resilientWatch((s) => this.#store.watchTree(this.nodesKey, { signal: s }), nodeAddrs, {
      signal,
      onError: opts.onError,
      same: sameStrings,
    });
  }

  /** Campaigns for `<prefix>/<key>`: false, then true once elected, false when lost (and again). */
  campaign(key: string, value: string, opts: CampaignOptions = {}): AsyncIterable<boolean> {
    this.#checkOpen();
    if (typeof value !== 'string') throw new InvalidArgumentError('campaign value must be a string');
    if (opts.ttlMs !== undefined) positiveMs(opts.ttlMs, 0, 'ttlMs');
    return campaign(this.#store, this.#electionKey(key), value, {
      ...opts,
      parentSignal: this.#closing.signal,
    });
  }

  /** The leader's value of `<prefix>/<key>` (null when none), then each change. */
  follow(key: string, opts: FollowOptions = {}): AsyncIterable<string | null> {
    this.#checkOpen();
    return follow(this.#store, this.#electionKey(key), { ...opts, parentSignal: this.#closing.signal });
  }

  /** Ends every watch and campaign made here and deletes this object's registrations. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(new ClosedError('discovery is closed'));
    await Promise.allSettled([...this.#registrations].map((r) => r.close()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #electionKey(key: string): string {
    if (typeof key !== 'string' || key.replace(/^\/+|\/+$/g, '') === '')
      throw new InvalidArgumentError(`election key must be a non-empty string, got ${JSON.stringify(key)}`);
    return `${this.prefix}/${key.replace(/^\/+/, '')}`;
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted) throw new ClosedError('discovery is closed');
  }
}

/** Opens discovery on a store. Nothing is written until the first register or campaign. */
export function openDiscovery(store: Store, opts: DiscoveryOptions = {}): Discovery {
  return new Discovery(store, opts);
}

/** The addresses of node keys (from their values, as Docker's consumers read them), sorted, unique. */
function nodeAddrs(pairs: KVPair[]): string[] {
  const addrs = new Set<string>();
  for (const pair of pairs) {
    const addr = text(pair);
    if (addr !== '') addrs.add(addr);
  }
  return [...addrs].sort();
}

/** `host:port`, `[v6]:port`: one key segment, Docker's discovery entry form. */
function checkAddr(addr: unknown): void {
  if (
    typeof addr !== 'string' ||
    addr.length > MAX_ADDR_LENGTH ||
    !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})$/.test(addr) ||
    Number(addr.slice(addr.lastIndexOf(':') + 1)) > 65535
  ) {
    throw new InvalidArgumentError(`invalid node address ${JSON.stringify(addr)}: expected host:port`);
  }
}

function positiveMs(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 2 ** 31 - 1) {
    throw new InvalidArgumentError(
      `${name} must be a positive number of milliseconds up to 2^31-1, got ${String(value)}`,
    );
  }
  return value;
}
