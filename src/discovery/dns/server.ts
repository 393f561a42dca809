import type { Gossip } from '../../gossip/runtime/gossip.js';
import { NetworkState } from '../../network-state/network-state.js';
import { type Endpoint, parseEndpoint } from '../../store/endpoints.js';
import { InvalidArgumentError } from '../../store/errors.js';
import { withTimeout } from '../../store/signals.js';
import type { Store } from '../../store/types.js';
import { resilientWatch } from '../resilient-watch.js';
import { Forwarder, parseUpstreams } from './forwarder.js';
import { gossipDnsFeed } from './gossip-records.js';
import { type DnsService, RecordBuilder } from './records.js';
import { Responder } from './responder.js';
import { DnsSockets } from './sockets.js';
import { StateRecords } from './state-records.js';
import { MAX_DNS_PROCESSES, UdpProcesses } from './udp-processes.js';

/** Docker's record TTL (libnetwork resolver.go), in seconds. */
export const DEFAULT_DNS_TTL_SECONDS = 600;
export const DEFAULT_NETWORK_PREFIX = 'kvkit/network';
const DEFAULT_START_TIMEOUT_MS = 30_000;

/**
 * Where records come from: each list yielded replaces the previous one. The store's network
 * state is one feed; a gossip table can be another, answered by the same rules and cache.
 */
export type DnsRecordFeed = (
  signal: AbortSignal,
  onError: (err: unknown) => void,
) => AsyncIterable<DnsService[]>;

export interface DnsServerOptions {
  /** The store holding network state; records follow its watch. Give one of `store`, `gossip`, `feed`. */
  store?: Store;
  /**
   * A gossip member: records from its `endpoint_table`s (what agents publish), on every network
   * of the cluster, so names resolve while the Store is unreachable. The member is the caller's.
   */
  gossip?: Gossip;
  /** Any other source of records. */
  feed?: DnsRecordFeed;
  /** `HOST:PORT` (an IP address; port 0 picks a free one), the same port for UDP and TCP. */
  listen: string;
  /** Networks served, by name or id (default: all), like the networks a container is attached to. */
  networks?: string[];
  /** Record TTL in seconds. Default 600 (Docker's). */
  ttl?: number;
  /** At most 3 `HOST[:PORT]` servers for names not ours, tried in order (2 s each). None: NXDOMAIN. */
  upstream?: string[];
  /** The network-state prefix in the store. Default `kvkit/network`. */
  prefix?: string;
  /** Errors after start (a store watch failing is retried; socket errors are survived). */
  onError?: (err: unknown) => void;
  /** The first records must arrive within this (ms). Default 30000. */
  startTimeoutMs?: number;
  /**
   * Processes answering UDP, this one included (default 1, at most 64). Node answers datagrams
   * on one thread; with more, the others share this process's socket, each with its own copy of
   * the records (kept current from here), and the kernel hands each query to one of them. About
   * the machine's cores; TCP and the record feed stay in this process.
   */
  processes?: number;
}

export interface DnsServer extends AsyncDisposable {
  /** Where it listens: one port for UDP and TCP. */
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

/** Records from network state in a store: services, their VIPs and their running tasks. */
export function networkStateFeed(store: Store, prefix = DEFAULT_NETWORK_PREFIX): DnsRecordFeed {
  return async function* feed(signal, onError) {
    const state = new NetworkState(store, { prefix });
    const records = new StateRecords();
    try {
      yield* resilientWatch(
        (s) => state.watch({ signal: s }),
        (snapshot) => records.services(snapshot),
        {
          signal,
          onError,
          same: () => false,
        },
      );
    } finally {
      await state.close();
    }
  };
}

/**
 * Starts a DNS server for services and tasks (Swarm's embedded DNS, fixed where its users were
 * hurt — docs/discovery.md). Resolves once the first records are loaded and both sockets are
 * bound, so no name it owns is ever answered before it knows it.
 */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const o = validate(opts);
  const forwarder = o.upstreams.length > 0 ? new Forwarder(o.upstreams) : null;
  const responder = new Responder({ ttlSeconds: o.ttlSeconds, forwarder });
  const stop = new AbortController();
  const onError = opts.onError ?? (() => {});
  let loaded = false;
  let latest: DnsService[] = [];
  let group: UdpProcesses | null = null;
  const first = new Promise<void>((resolve, reject) => {
    const feeding = (async () => {
      const report = (err: unknown) => {
        if (loaded) return onError(err);
        stop.abort(err);
        reject(err);
      };
      const builder = new RecordBuilder({ networks: o.networks });
      for await (const services of o.feed(stop.signal, report)) {
        responder.setTable(builder.build(services));
        latest = services;
        group?.publish(services);
        if (!loaded) {
          loaded = true;
          resolve();
        }
      }
    })();
    feeding.catch((err) => {
      if (!loaded) reject(err);
      else onError(err);
    });
  });
  let sockets: DnsSockets | null = null;
  try {
    await withTimeout(first, o.startTimeoutMs, 'the DNS server’s record feed');
    sockets = await DnsSockets.bind(o.listen, responder, onError);
    const bound = sockets.address;
    const loop = o.upstreams.find((u) => u.port === bound.port && u.host === bound.host);
    if (loop) throw new InvalidArgumentError(`upstream ${loop.host}:${loop.port} is this server itself`);
    if (o.processes > 1) {
      const config = { ttlSeconds: o.ttlSeconds, upstreams: o.upstreams, networks: o.networks };
      group = await UdpProcesses.start(sockets.udp, o.processes - 1, config, latest, {
        timeoutMs: o.startTimeoutMs,
        onError,
      });
      group.publish(latest); // what changed while they started
    }
  } catch (err) {
    stop.abort(err);
    forwarder?.close();
    await sockets?.close();
    throw err;
  }
  const others = group;
  const running = sockets;
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      stop.abort();
      forwarder?.close();
      await others?.close();
      await running.close();
    })();
    return closing;
  };
  return { address: { ...running.address }, close, [Symbol.asyncDispose]: close };
}

interface Valid {
  feed: DnsRecordFeed;
  listen: Endpoint;
  networks: string[] | undefined;
  ttlSeconds: number;
  upstreams: Endpoint[];
  startTimeoutMs: number;
  processes: number;
}

function validate(opts: DnsServerOptions): Valid {
  if (opts === null || typeof opts !== 'object')
    throw new InvalidArgumentError('startDnsServer needs options');
  if ([opts.store, opts.gossip, opts.feed].filter((o) => o !== undefined).length !== 1)
    throw new InvalidArgumentError('startDnsServer needs one of store, gossip or feed');
  if (opts.gossip !== undefined && typeof opts.gossip?.entries !== 'function')
    throw new InvalidArgumentError('startDnsServer: gossip is not a gossip member');
  if (opts.store !== undefined && typeof opts.store?.watchTree !== 'function')
    throw new InvalidArgumentError('startDnsServer: store is not a Store');
  if (typeof opts.listen !== 'string')
    throw new InvalidArgumentError('startDnsServer needs listen: "HOST:PORT"');
  const listen = parseEndpoint(opts.listen, 53, { listening: true });
  const ttlSeconds = opts.ttl ?? DEFAULT_DNS_TTL_SECONDS;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > 2 ** 31 - 1)
    throw new InvalidArgumentError(
      `ttl must be a whole number of seconds from 0 to 2^31-1, got ${String(opts.ttl)}`,
    );
  if (
    opts.networks !== undefined &&
    (!Array.isArray(opts.networks) || opts.networks.some((n) => typeof n !== 'string'))
  )
    throw new InvalidArgumentError('networks must be a list of network names or ids');
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  if (!(startTimeoutMs > 0) || startTimeoutMs > 2 ** 31 - 1)
    throw new InvalidArgumentError(
      `startTimeoutMs must be a positive number of ms, got ${String(startTimeoutMs)}`,
    );
  const processes = opts.processes ?? 1;
  if (!Number.isInteger(processes) || processes < 1 || processes > MAX_DNS_PROCESSES)
    throw new InvalidArgumentError(
      `processes must be a whole number from 1 to ${MAX_DNS_PROCESSES}, got ${String(opts.processes)}`,
    );
  return {
    processes,
    feed:
      opts.feed ??
      (opts.gossip
        ? gossipDnsFeed(opts.gossip)
        : networkStateFeed(opts.store as Store, opts.prefix ?? DEFAULT_NETWORK_PREFIX)),
    listen,
    networks: opts.networks,
    ttlSeconds,
    upstreams: parseUpstreams(opts.upstream),
    startTimeoutMs,
  };
}
