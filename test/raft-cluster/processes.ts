import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import '../../src/backends/index.js';
import type { RaftClientStore } from '../../src/backends/raft/index.js';
import type { ReplicaStatus } from '../../src/raft/replica.js';
import { onFreeLoopbackPorts } from '../../src/raft-node/local-cluster.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/types.js';
import { freePorts, tempDir } from '../raft-runtime/support.js';

/** How often, and how far apart, a restart retries a port another process holds for a moment. */
const RESTART_ATTEMPTS = 20;
const RESTART_RETRY_MS = 250;

/** The real command-line entry point: `node --import tsx src/cli/main.ts raft start ...`. */
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

export interface NodeProcessSpec {
  id: string;
  peerAddr: string;
  clientAddr: string;
  dataDir: string;
}

/** One `kvkit raft start` child process and its stderr lines. */
export class NodeProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private readonly waiters: { re: RegExp; from: number; resolve: () => void }[] = [];

  constructor(
    readonly spec: NodeProcessSpec,
    readonly child: ChildProcess,
  ) {
    let buffered = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        this.lines.push(line);
        if (process.env.KVKIT_TEST_VERBOSE) process.stderr.write(`${line}\n`);
      }
      for (const w of [...this.waiters]) {
        if (this.lines.slice(w.from).some((l) => w.re.test(l))) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
    child.stdout?.resume();
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for a stderr line matching `re` (among lines from index `from`). */
  waitLine(re: RegExp, timeoutMs = 30_000, from = 0): Promise<void> {
    if (this.lines.slice(from).some((l) => re.test(l))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(
          new Error(
            `${this.spec.id}: no line matching ${re} within ${timeoutMs} ms:\n${this.lines.slice(-20).join('\n')}`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        re,
        from,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends a fault-control line (`block n2 n3`, `heal`, ...). */
  fault(command: string): void {
    this.child.stdin?.write(`${command}\n`);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child.kill(sig);
  }
}

export interface ClusterOptions {
  tickMs?: number;
  snapshotEvery?: number;
  keepEntries?: number;
  /** More `kvkit raft start` arguments for every node (e.g. `--metrics-addr 127.0.0.1:0`). */
  extraArgs?: string[];
  /** Run the Swarm manager inside each node (`kvkit raft start` does by default); off here unless asked, so Raft tests see only their own keys. */
  manager?: boolean;
}

/** Real kvkit Raft node processes on 127.0.0.1 (ephemeral ports), each with its own data dir. */
export class ProcessCluster {
  readonly specs = new Map<string, NodeProcessSpec>();
  readonly procs = new Map<string, NodeProcess>();
  readonly dir = tempDir('kvkit-raft-procs-');
  private readonly stores: Store[] = [];
  initialCluster = '';

  constructor(readonly opts: ClusterOptions = {}) {}

  /** Starts n node processes; a port another process took first means a new cluster on new ports. */
  static start(n: number, opts: ClusterOptions = {}): Promise<ProcessCluster> {
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    return onFreeLoopbackPorts(2 * n, async (ports) => {
      const cluster = new ProcessCluster(opts);
      cluster.assign(ids, ports);
      cluster.initialCluster = ids.map((id) => `${id}=${cluster.specs.get(id)?.peerAddr}`).join(',');
      try {
        await Promise.all(ids.map((id) => cluster.spawn(id, ['--initial-cluster', cluster.initialCluster])));
      } catch (err) {
        await cluster.close();
        throw err;
      }
      return cluster;
    });
  }

  async allocate(ids: string[]): Promise<void> {
    this.assign(ids, await freePorts(ids.length * 2));
  }

  /** A peer and a client port for each id, in that order. */
  private assign(ids: string[], ports: number[]): void {
    ids.forEach((id, i) => {
      this.specs.set(id, {
        id,
        peerAddr: `127.0.0.1:${ports[2 * i]}`,
        clientAddr: `127.0.0.1:${ports[2 * i + 1]}`,
        dataDir: join(this.dir.path, id),
      });
    });
  }

  /** Spawns a node; resolves once it logged that it started (rejects if it exits first). */
  async spawn(id: string, extraArgs: string[], waitStarted = true): Promise<NodeProcess> {
    const spec = this.specs.get(id);
    if (!spec) throw new Error(`no spec for ${id}`);
    const args = [
      '--import',
      'tsx',
      MAIN,
      'raft',
      'start',
      '--id',
      id,
      '--data-dir',
      spec.dataDir,
      '--peer-addr',
      spec.peerAddr,
      '--client-addr',
      spec.clientAddr,
      '--tick-ms',
      String(this.opts.tickMs ?? 50),
      ...(this.opts.snapshotEvery ? ['--snapshot-every', String(this.opts.snapshotEvery)] : []),
      ...(this.opts.keepEntries ? ['--keep-entries', String(this.opts.keepEntries)] : []),
      ...(this.opts.manager ? [] : ['--no-manager']),
      ...(this.opts.extraArgs ?? []),
      ...extraArgs,
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, KVKIT_RAFT_FAULT_CONTROL: 'stdin' },
    });
    const proc = new NodeProcess(spec, child);
    this.procs.set(id, proc);
    if (waitStarted) {
      const started = proc.waitLine(/\] started: peer/, 60_000);
      const failed = proc.exited.then(({ code }) => {
        const output = proc.lines.join('\n');
        const error = new Error(`${id} exited with ${code} before starting:\n${output}`);
        // Lets onFreeLoopbackPorts retry when another process took the port first.
        throw /ADDRESS_IN_USE/.test(output) ? Object.assign(error, { code: 'ADDRESS_IN_USE' }) : error;
      });
      await Promise.race([started, failed]);
      failed.catch(() => {});
    }
    return proc;
  }

  /** Restarts a stopped node from its data dir. */
  /**
   * Starts a stopped node again on its own ports. While it was down another test's port probe
   * (freeLoopbackPorts binds candidates for a moment) may hold one of them: ADDRESS_IN_USE is
   * retried for a while, since the node cannot move to other ports. A port held for good still
   * fails the restart.
   */
  async restart(id: string): Promise<NodeProcess> {
    const args = this.initialCluster ? ['--initial-cluster', this.initialCluster] : [];
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.spawn(id, args);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ADDRESS_IN_USE' || attempt >= RESTART_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, RESTART_RETRY_MS));
      }
    }
  }

  proc(id: string): NodeProcess {
    const p = this.procs.get(id);
    if (!p) throw new Error(`${id} never started`);
    return p;
  }

  async kill9(id: string): Promise<void> {
    const p = this.proc(id);
    p.signal('SIGKILL');
    await p.exited;
  }

  /** SIGTERM and wait for a clean exit; returns the exit code. */
  async stop(id: string): Promise<number | null> {
    const p = this.proc(id);
    p.signal('SIGTERM');
    return (await p.exited).code;
  }

  clientAddrs(ids = [...this.specs.keys()]): string[] {
    return ids.map((id) => this.specs.get(id)?.clientAddr as string);
  }

  /** A raft:// client over the given nodes' client ports (closed with the cluster). */
  async client(ids?: string[], connectTimeoutMs = 20_000): Promise<RaftClientStore> {
    const store = (await createStore({
      backend: 'raft',
      endpoints: this.clientAddrs(ids),
      connectTimeoutMs,
    })) as RaftClientStore;
    this.stores.push(store);
    return store;
  }

  /** The leader's status as seen through any reachable node. */
  async status(ids?: string[]): Promise<ReplicaStatus> {
    const c = await this.client(ids, 2000);
    try {
      return await c.cluster.status();
    } finally {
      await c.close();
    }
  }

  /** Waits until some live node reports a leader; returns its id. */
  async leader(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const live = () => [...this.procs.values()].filter((p) => p.alive).map((p) => p.spec.id);
    for (;;) {
      for (const id of live()) {
        try {
          const s = await this.status([id]);
          if (s.leader !== null && live().includes(s.leader)) return s.leader;
        } catch {
          // not reachable yet
        }
      }
      if (Date.now() > deadline) throw new Error('no leader elected');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.stores.splice(0).map((s) => s.close().catch(() => {})));
    for (const p of this.procs.values()) p.signal('SIGKILL');
    await Promise.all([...this.procs.values()].map((p) => p.exited));
    this.dir.remove();
  }
}
