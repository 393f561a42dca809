import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { type RaftNode, type RaftNodeOptions, startRaftNode } from './start.js';

/** Where candidate ports are drawn from when the kernel's ephemeral range cannot be read. */
const FALLBACK_EPHEMERAL_LOW = 32768;
const LOWEST_CANDIDATE = 10000;

/** The first port of the kernel's ephemeral range (Linux; elsewhere the usual 32768 or higher). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : FALLBACK_EPHEMERAL_LOW;
  } catch {
    return FALLBACK_EPHEMERAL_LOW;
  }
}

function listenOn(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * Free TCP ports on 127.0.0.1 (bound, then released for the caller to bind right after).
 * They are drawn below the kernel's ephemeral range, so no port-0 bind and no outgoing
 * connection of any process can take one — a node killed and restarted on its address gets it
 * back. Another process choosing the same way may still take one in between: bind them through
 * `onFreeLoopbackPorts`, which retries.
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const high = Math.min(ephemeralLow(), 65536);
  const servers: Server[] = [];
  try {
    if (high - LOWEST_CANDIDATE < 1000) {
      // No room below the ephemeral range: let the kernel choose.
      for (let i = 0; i < count; i++) {
        const server = await listenOn(0);
        if (!server) throw new Error('no free loopback port: listening on 127.0.0.1:0 failed');
        servers.push(server);
      }
    } else {
      const tried = new Set<number>();
      while (servers.length < count && tried.size < 2000) {
        const port = LOWEST_CANDIDATE + Math.floor(Math.random() * (high - LOWEST_CANDIDATE));
        if (tried.has(port)) continue;
        tried.add(port);
        const server = await listenOn(port);
        if (server) servers.push(server);
      }
      if (servers.length < count) throw new Error(`no ${count} free loopback ports found in 2000 tries`);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** True when `err`, or an error in its cause chain, says a listen address was taken. */
export function isAddressInUse(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ADDRESS_IN_USE' || code === 'EADDRINUSE') return true;
  }
  return false;
}

/**
 * Runs `start` on `count` loopback ports that were free a moment ago. A cluster must know all its
 * addresses before any node binds one, so the ports cannot be bound as port 0; if another process
 * takes one first, `start` fails with ADDRESS_IN_USE and runs again on new ports (up to
 * `attempts` times). `start` must undo its own partial work before it throws.
 */
export async function onFreeLoopbackPorts<T>(
  count: number,
  start: (ports: number[]) => Promise<T>,
  attempts = 5,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports = await freeLoopbackPorts(count);
    try {
      return await start(ports);
    } catch (err) {
      if (attempt >= attempts || !isAddressInUse(err)) throw err;
    }
  }
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
  const created = ids.filter((id) => !existsSync(join(dataDir, id)));
  const nodes = await onFreeLoopbackPorts(size, async (ports) => {
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
    const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(running.map((n) => n.close()));
      const reason = (failed as PromiseRejectedResult).reason;
      // A retry on new ports must not meet the member list this attempt wrote: remove the data
      // dirs this call created (never one that held data before).
      if (isAddressInUse(reason)) {
        await Promise.all(created.map((id) => rm(join(dataDir, id), { recursive: true, force: true })));
      }
      throw reason;
    }
    return running;
  });
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
