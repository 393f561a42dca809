import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, collectDefaultMetrics, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';
import type { Message } from '../raft/core/index.js';
import type { Replica } from '../raft/replica.js';
import type { ReplicaCounts } from './counted-replica.js';
import { PeerRoundTrips } from './peer-round-trip.js';

/** What a node hands its metrics once it runs. */
export interface NodeMetricsSources {
  replica: Replica;
  counts: ReplicaCounts;
  /** The data directory whose size is `kvkit_mvcc_db_total_size_in_bytes`. */
  dataDir: string;
  /** Watches (and other change listeners) open on the node's state machine. */
  watchers: () => number;
  /** Open connections on the client port (0 without one). */
  clientConnections: () => number;
}

/** Deepest directory level and most entries the size walk looks at: a data dir is shallow. */
const SIZE_WALK_DEPTH = 4;
const SIZE_WALK_ENTRIES = 10_000;

/**
 * The metrics of one Raft node, named after etcd's where etcd has one (etcd
 * server/etcdserver/metrics.go, server/storage/wal/metrics.go, rafthttp/metrics.go,
 * mvcc/metrics.go) with `kvkit_` for `etcd_`, so etcd dashboards and alerts carry over:
 * leadership (`has_leader`, `is_leader`, `leader_changes_seen_total`), proposals
 * (`committed_total` and `applied_total` are the commit and applied index, gauges as in etcd;
 * `pending`, `failed_total`), failed read barriers (`read_indexes_failed_total`), the log's
 * durable write time (`kvkit_disk_wal_fsync_duration_seconds`), round trips to peers, the data
 * directory's size, watchers and client connections; plus Node's process metrics.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly #rtt: PeerRoundTrips;
  readonly #fsync: Histogram;
  #sources: NodeMetricsSources | null = null;
  #offRole: (() => void) | null = null;
  #lastLeader: string | null = null;
  readonly #leaderChanges: Counter;

  constructor(nodeId: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const source = () => this.#sources;

    new Gauge({
      name: 'kvkit_server_has_leader',
      help: 'Whether or not a leader exists. 1 is existence, 0 is not.',
      registers,
      collect() {
        this.set(source()?.replica.status().leader ? 1 : 0);
      },
    });
    new Gauge({
      name: 'kvkit_server_is_leader',
      help: 'Whether or not this member is a leader. 1 if is, 0 otherwise.',
      registers,
      collect() {
        this.set(source()?.replica.status().role === 'leader' ? 1 : 0);
      },
    });
    const noteLeader = () => this.#noteLeader();
    this.#leaderChanges = new Counter({
      name: 'kvkit_server_leader_changes_seen_total',
      help: 'The number of leader changes seen.',
      registers,
      // The role callback comes once the change is persisted; status() knows it a moment
      // sooner, so a scrape showing a new leader also counts it.
      collect: noteLeader,
    });
    new Gauge({
      name: 'kvkit_server_proposals_committed_total',
      help: 'The total number of consensus proposals committed.',
      registers,
      collect() {
        this.set(source()?.replica.status().commitIndex ?? 0);
      },
    });
    new Gauge({
      name: 'kvkit_server_proposals_applied_total',
      help: 'The total number of consensus proposals applied.',
      registers,
      collect() {
        this.set(source()?.replica.status().appliedIndex ?? 0);
      },
    });
    new Gauge({
      name: 'kvkit_server_proposals_pending',
      help: 'The current number of pending proposals to commit.',
      registers,
      collect() {
        this.set(source()?.counts.pending ?? 0);
      },
    });
    new Counter({
      name: 'kvkit_server_proposals_failed_total',
      help: 'The total number of failed proposals seen.',
      registers,
      collect() {
        this.reset();
        this.inc(source()?.counts.failed ?? 0);
      },
    });
    new Counter({
      name: 'kvkit_server_read_indexes_failed_total',
      help: 'The total number of failed read indexes seen.',
      registers,
      collect() {
        this.reset();
        this.inc(source()?.counts.barriersFailed ?? 0);
      },
    });
    new Gauge({
      name: 'kvkit_server_id',
      help: 'Server or member ID.',
      labelNames: ['server_id'],
      registers,
    }).set({ server_id: nodeId }, 1);
    this.#fsync = new Histogram({
      name: 'kvkit_disk_wal_fsync_duration_seconds',
      help: 'The latency distributions of fsync called by WAL (one durable write of the Raft log).',
      buckets: exponentialBuckets(0.001, 2, 14),
      registers,
    });
    const rtt = new Histogram({
      name: 'kvkit_network_peer_round_trip_time_seconds',
      help: 'Round-Trip-Time histogram between peers (heartbeat to answer, measured by the leader).',
      labelNames: ['To'],
      buckets: exponentialBuckets(0.0001, 2, 16),
      registers,
    });
    this.#rtt = new PeerRoundTrips((peer, seconds) => rtt.observe({ To: peer }, seconds));
    new Gauge({
      name: 'kvkit_mvcc_db_total_size_in_bytes',
      help: 'Total size of the underlying database physically allocated in bytes (the data directory).',
      registers,
      async collect() {
        const dir = source()?.dataDir;
        this.set(dir ? await directorySize(dir) : 0);
      },
    });
    new Gauge({
      name: 'kvkit_mvcc_watcher_total',
      help: 'Total number of watchers (change listeners on the state machine: watches, lock waits).',
      registers,
      collect() {
        this.set(source()?.watchers() ?? 0);
      },
    });
    new Gauge({
      name: 'kvkit_server_client_connections',
      help: 'The number of open connections on the client port.',
      registers,
      collect() {
        this.set(source()?.clientConnections() ?? 0);
      },
    });
  }

  /** The hooks the runtime calls (see ReplicaNodeObserver in src/raft/runtime/replica-node.ts). */
  readonly observer = {
    onSend: (messages: readonly Message[]) => this.#rtt.sent(messages),
    onReceive: (message: Message) => this.#rtt.received(message),
    onLogWrite: (ms: number, synced: boolean) => {
      if (synced) this.#fsync.observe(ms / 1000);
    },
  };

  /** Starts collecting from a running node. */
  attach(sources: NodeMetricsSources): void {
    this.#sources = sources;
    this.#offRole = sources.replica.onRoleChange(() => this.#noteLeader());
    this.#noteLeader();
  }

  /** As etcd (etcdserver/raft.go): every move to a leader from none or from another, the first included. */
  #noteLeader(): void {
    const leader = this.#sources?.replica.status().leader ?? null;
    if (leader !== null && leader !== this.#lastLeader) this.#leaderChanges.inc();
    this.#lastLeader = leader;
  }

  close(): void {
    this.#offRole?.();
    this.#offRole = null;
    this.registry.clear();
  }
}

/** Bytes in the files under `dir` (a bounded walk; entries that vanish meanwhile count 0). */
async function directorySize(
  dir: string,
  depth = 0,
  budget = { entries: SIZE_WALK_ENTRIES },
): Promise<number> {
  if (depth > SIZE_WALK_DEPTH) return 0;
  let total = 0;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (--budget.entries < 0) break;
    const path = join(dir, name);
    try {
      const info = await stat(path);
      if (info.isDirectory()) total += await directorySize(path, depth + 1, budget);
      else if (info.isFile()) total += info.size;
    } catch {
      // Gone since readdir (a compaction renamed it): not there any more.
    }
  }
  return total;
}
