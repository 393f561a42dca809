import { RaftClientStore } from '../backends/raft/index.js';
import { isLoopbackHost } from '../metrics/http-server.js';
import type { NodeObservability } from '../metrics/index.js';
import { createKvStateMachine, type KvStateMachine, LeaseExpiryClock } from '../raft/kv/index.js';
import type { Replica, ReplicaMember, ReplicaStatus } from '../raft/replica.js';
import type { ClusterAdmin, NewMember } from '../raft/runtime/admin.js';
import type { InitialCluster } from '../raft/runtime/cluster-config.js';
import { AddressInUseError } from '../raft/runtime/errors.js';
import type { FaultHook } from '../raft/runtime/fault-hook.js';
import { RaftReplicaNode, type RaftTiming } from '../raft/runtime/replica-node.js';
import type { TlsMaterial } from '../raft/runtime/tls-material.js';
import { parseEndpoint } from '../store/endpoints.js';
import { InvalidArgumentError, KVError } from '../store/errors.js';
import { resolveMaxValueBytes } from '../store/limits.js';
import type { Store } from '../store/types.js';
import { type ClientServer, startClientServer } from './client-server.js';
import { createEmbeddedStore } from './embedded-store.js';

export interface RaftNodeOptions {
  /** This server's id (letters, digits, `.`, `_`, `-`); never reuse the id of a removed member. */
  id: string;
  /** Where the log, hard state and snapshots live. */
  dataDir: string;
  /** host:port for Raft traffic between nodes (listened on, and advertised to peers). */
  peerAddr: string;
  /** host:port of the client port serving `raft://` clients; omit for an embedded-only node. */
  clientAddr?: string;
  /** Bootstrap a new cluster: `{ n1: 'host:port', ... }` or `n1=host:port,n2=...`. Checked on restart. */
  initialCluster?: string | InitialCluster;
  /** Join a running cluster through any member's client port(s): `host:port[,host:port]`. */
  join?: string;
  /** How long to keep trying to reach the cluster when joining. Default 30,000 ms. */
  joinTimeoutMs?: number;
  /** Mutual TLS from the cluster CA on the peer port and the client port (see `kvkit raft certs`). */
  tls?: TlsMaterial;
  /**
   * Without `tls`, a node listens only on loopback addresses (anyone who can reach a port
   * could change the cluster's data and membership); `insecure: true` lets its peer, client
   * and metrics ports listen anywhere without TLS, with a warning in the log.
   */
  insecure?: boolean;
  /** The largest value a write may carry on this node (default MAX_VALUE_BYTES, 1 MiB; at most 64 MiB). */
  maxValueBytes?: number;
  /** One line per event (role changes, membership, refused peers); default stderr. */
  logger?: (line: string) => void;
  /** Clock (default: 100 ms ticks, election after 10–19 ticks, heartbeat every tick). */
  timing?: RaftTiming;
  /** Snapshot every N applied entries (default 100,000), keeping M entries before it (default 5,000). */
  snapshotEvery?: number;
  keepEntries?: number;
  /** Called if the node stops on an unrecoverable error (e.g. a failed disk write). */
  onFatal?: (err: unknown) => void;
  /** host:port serving /metrics, /health, /livez, /readyz over plain HTTP (docs/metrics.md); default none. */
  metricsAddr?: string;
}

/** A running kvkit Raft server. */
export interface RaftNode extends AsyncDisposable {
  readonly id: string;
  /** The Store served in-process by this node: no socket on the data path. */
  readonly store: Store;
  /** Opens another in-process Store on this node (its own client session; the caller closes it). */
  openStore(): Store;
  /** The replica under the store (propose, read barriers, leadership). */
  readonly replica: Replica;
  /** Membership administration (what `kvkit raft members|remove` and `--join` use). */
  readonly admin: ClusterAdmin;
  readonly peerAddr: string;
  /** The bound client address, or null without a client port. */
  readonly clientAddr: string | null;
  /** The bound metrics address, or null without `metricsAddr`. */
  readonly metricsAddr: string | null;
  /** Test hook: drop traffic with chosen peers. */
  readonly faults: FaultHook;
  status(): ReplicaStatus;
  members(): ReplicaMember[];
  /** Removes this node from its cluster, then closes it. */
  leave(): Promise<void>;
  /** Asks the leader to hand leadership to `to`. */
  transferLeadership(to: string): void;
  /** Stops timers, closes sockets and the data dir. */
  close(): Promise<void>;
}

/**
 * Assembles a node: replica (log, transport), KV state machine, lease clock, embedded store,
 * client port. Loaded on first use by `startRaftNode` of ./start.ts (what kvkit exports).
 */
export async function startRaftNode(opts: RaftNodeOptions): Promise<RaftNode> {
  const tls = opts.tls;
  const log = opts.logger
    ? (line: string) => opts.logger?.(`[${opts.id}] ${line}`)
    : (line: string) => process.stderr.write(`[${opts.id}] ${line}\n`);
  checkExposure(opts, log);
  const maxValueBytes = resolveMaxValueBytes(opts.maxValueBytes);
  const sm = createKvStateMachine();
  // Loaded only when asked for: a node without metrics never loads prom-client.
  const observability =
    opts.metricsAddr === undefined
      ? null
      : new (await import('../metrics/index.js')).NodeObservability(opts.id);
  const replica = await RaftReplicaNode.start({
    id: opts.id,
    dataDir: opts.dataDir,
    peerAddr: opts.peerAddr,
    clientAddr: opts.clientAddr ?? null,
    initialCluster: opts.initialCluster,
    join:
      opts.join === undefined
        ? undefined
        : (member) => joinThroughClientPort(opts.join as string, member, tls, opts.joinTimeoutMs ?? 30_000),
    stateMachine: sm,
    tls,
    logger: opts.logger,
    timing: opts.timing,
    snapshotEvery: opts.snapshotEvery,
    keepEntries: opts.keepEntries,
    onFatal: opts.onFatal,
    observe: observability?.observer,
  });
  // What the Stores and the client port call: counted for the metrics when they are on.
  const served: Replica = observability ? observability.instrument(replica) : replica;
  const clock = new LeaseExpiryClock(replica, sm);
  const store = createEmbeddedStore(served, sm, { maxValueBytes });
  let server: ClientServer | null = null;
  let metricsAddr: string | null = null;
  try {
    if (opts.clientAddr !== undefined) {
      server = await startClientServer({
        replica: served,
        sm,
        admin: replica,
        listen: opts.clientAddr,
        tls,
        maxValueBytes,
        log,
      }).catch((err: unknown) => {
        const cause = (err as { cause?: NodeJS.ErrnoException })?.cause;
        throw cause?.code === 'EADDRINUSE'
          ? new AddressInUseError('client address', opts.clientAddr as string, { cause: err })
          : err;
      });
      replica.setClientAddr(server.address);
    }
    if (observability) {
      const metrics = await observability.serve({
        listen: opts.metricsAddr as string,
        insecure: opts.insecure,
        dataDir: opts.dataDir,
        watchers: () => sm.changeListenerCount,
        clientConnections: () => server?.connections ?? 0,
        log,
      });
      metricsAddr = metrics.address;
    }
    await replica.ensureJoined();
  } catch (err) {
    await observability?.close();
    await store.close().catch(() => {});
    clock.close();
    await server?.close();
    await replica.close();
    throw err;
  }
  return new RunningNode(
    replica,
    served,
    sm,
    store,
    clock,
    server,
    opts.peerAddr,
    observability,
    metricsAddr,
  );
}

class RunningNode implements RaftNode {
  private closing: Promise<void> | null = null;

  constructor(
    readonly replica: RaftReplicaNode,
    private readonly served: Replica,
    readonly sm: KvStateMachine,
    readonly store: Store,
    private readonly clock: LeaseExpiryClock,
    private readonly server: ClientServer | null,
    readonly peerAddr: string,
    private readonly observability: NodeObservability | null,
    readonly metricsAddr: string | null,
  ) {}

  get id(): string {
    return this.replica.id;
  }

  openStore(): Store {
    return createEmbeddedStore(this.served, this.sm, {
      maxValueBytes: this.store.capabilities.maxValueBytes,
    });
  }

  get admin(): ClusterAdmin {
    return this.replica;
  }

  get clientAddr(): string | null {
    return this.server?.address ?? null;
  }

  get faults(): FaultHook {
    return this.replica.transport.faults;
  }

  status(): ReplicaStatus {
    return this.replica.status();
  }

  members(): ReplicaMember[] {
    return this.replica.members();
  }

  async leave(): Promise<void> {
    await this.replica.removeMember(this.id);
    await this.close();
  }

  transferLeadership(to: string): void {
    this.replica.transferLeadership(to);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.observability?.close();
      await this.store.close().catch(() => {});
      this.clock.close();
      await this.server?.close();
      await this.replica.close();
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * A node without TLS listens only on loopback unless told `insecure` (then it warns): its
 * ports accept writes and membership changes from anyone who reaches them.
 */
function checkExposure(opts: RaftNodeOptions, warn: (line: string) => void): void {
  if (opts.tls) return;
  const exposed = [opts.peerAddr, opts.clientAddr].filter(
    (addr): addr is string =>
      typeof addr === 'string' && !isLoopbackHost(parseEndpoint(addr, 0, { listening: true }).host),
  );
  if (exposed.length === 0) return;
  if (!opts.insecure) {
    throw new InvalidArgumentError(
      `refusing to listen on ${exposed.join(' and ')} without TLS: anyone who reaches it could write data and ` +
        'change membership. Give --tls-dir (see `kvkit raft certs`), listen on 127.0.0.1, or start with --insecure',
    );
  }
  warn(
    `WARNING: listening on ${exposed.join(' and ')} without TLS (--insecure): anyone who reaches these ports can write data and change membership`,
  );
}

/** Asks a running cluster, through a member's client port, to add this node. */
async function joinThroughClientPort(
  endpoints: string,
  member: NewMember,
  tls: TlsMaterial | undefined,
  timeoutMs: number,
): Promise<void> {
  const client = await RaftClientStore.open({
    backend: 'raft',
    endpoints: endpoints.split(',').map((e) => e.trim()),
    tls,
    connectTimeoutMs: timeoutMs,
  });
  try {
    await client.cluster.addMember(member);
  } catch (err) {
    if (err instanceof KVError) throw err;
    throw new KVError('NOT_REACHABLE', `join through ${endpoints} failed: ${(err as Error)?.message}`, {
      cause: err,
    });
  } finally {
    await client.close();
  }
}
