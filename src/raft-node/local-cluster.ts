import { createServer } from 'node:net';
import { join } from 'node:path';
import { type RaftNode, type RaftNodeOptions, startRaftNode } from './start.js';

/** Free TCP ports on 127.0.0.1 (bound, then released for the caller to bind right after). */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface LocalCluster extends AsyncDisposable {
  /** The running nodes, `n1`…`nN`. */
  readonly nodes: RaftNode[];
  /** The node every running node follows, once there is one (rejects after `timeoutMs`). */
  leader(timeoutMs?: number): Promise<RaftNode>;
  /** Closes every node still running. */
  close(): Promise<void>;
}

/**
 * A whole kvkit Raft cluster inside this process, on loopback ports: for examples, tests and
 * benchmarks. Each node keeps its data under `dataDir/<id>`.
 */
export async function startLocalCluster(
  options: { size?: number; dataDir: string } & Pick<
    RaftNodeOptions,
    'logger' | 'timing' | 'snapshotEvery' | 'keepEntries'
  >,
): Promise<LocalCluster> {
  const { size = 3, dataDir, ...rest } = options;
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const ports = await freeLoopbackPorts(size);
  const initialCluster = Object.fromEntries(ids.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
  const started = await Promise.allSettled(
    ids.map((id) =>
      startRaftNode({
        id,
        dataDir: join(dataDir, id),
        peerAddr: initialCluster[id],
        initialCluster,
        ...rest,
      }),
    ),
  );
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.close()));
    throw (failed as PromiseRejectedResult).reason;
  }
  const close = async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  };
  return {
    nodes,
    close,
    [Symbol.asyncDispose]: close,
    async leader(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const leader = nodes.find((n) => n.status().role === 'leader');
        if (leader && nodes.every((n) => n.status().leader === leader.id)) return leader;
        if (Date.now() > deadline) throw new Error(`no leader elected within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
}
