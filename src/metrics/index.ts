/**
 * Observability of a kvkit Raft node (docs/metrics.md): Prometheus metrics named after etcd's,
 * and etcd's /health, /livez and /readyz, on `--metrics-addr`.
 */

import type { Replica } from '../raft/replica.js';
import { KVError } from '../store/errors.js';
import { CountedReplica } from './counted-replica.js';
import { type MetricsServer, startMetricsServer } from './http-server.js';
import { NodeMetrics } from './node-metrics.js';

export { CountedReplica } from './counted-replica.js';
export { isLoopbackHost, type MetricsServer, startMetricsServer } from './http-server.js';
export { NodeMetrics, type NodeMetricsSources } from './node-metrics.js';
export { PeerRoundTrips } from './peer-round-trip.js';

/** How long the linearizable read of /health and /readyz may take (etcd: its request timeout). */
const HEALTH_READ_TIMEOUT_MS = 2000;

export interface ServeOptions {
  listen: string;
  insecure?: boolean;
  dataDir: string;
  watchers: () => number;
  clientConnections: () => number;
  log?: (line: string) => void;
}

/**
 * What a node wires in, in order: `observer` to the runtime as it starts, `instrument(replica)`
 * for the Stores and the client port, then `serve(...)` once the node runs; `close()` with it.
 */
export class NodeObservability {
  readonly metrics: NodeMetrics;
  #counted: CountedReplica | null = null;
  #server: MetricsServer | null = null;
  #reading: Promise<string | null> | null = null;

  constructor(nodeId: string) {
    this.metrics = new NodeMetrics(nodeId);
  }

  get observer(): NodeMetrics['observer'] {
    return this.metrics.observer;
  }

  instrument(replica: Replica): CountedReplica {
    this.#counted = new CountedReplica(replica);
    return this.#counted;
  }

  async serve(options: ServeOptions): Promise<MetricsServer> {
    const replica = this.#counted;
    if (!replica) throw new KVError('INVALID_ARGUMENT', 'instrument(replica) before serve()');
    this.metrics.attach({
      replica,
      counts: replica.counts,
      dataDir: options.dataDir,
      watchers: options.watchers,
      clientConnections: options.clientConnections,
    });
    this.#server = await startMetricsServer({
      listen: options.listen,
      insecure: options.insecure,
      log: options.log,
      metrics: async () => ({
        contentType: this.metrics.registry.contentType,
        text: await this.metrics.registry.metrics(),
      }),
      leader: async () => (replica.status().leader === null ? 'RAFT NO LEADER' : null),
      // Scrapes arriving together share one read barrier.
      linearizableRead: () => {
        this.#reading ??= replica
          .readBarrier({ timeoutMs: HEALTH_READ_TIMEOUT_MS })
          .then(
            () => null,
            (err: unknown) =>
              `LINEARIZABLE READ FAILED: ${(err as KVError)?.code ?? (err as Error)?.message}`,
          )
          .finally(() => {
            this.#reading = null;
          });
        return this.#reading;
      },
    });
    return this.#server;
  }

  async close(): Promise<void> {
    await this.#server?.close();
    this.metrics.close();
  }
}
