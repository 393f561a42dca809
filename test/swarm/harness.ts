import {
  type Agent,
  type AgentOptions,
  createStore,
  type NetworkState,
  openNetworkState,
  runManager,
  type Store,
  type Task,
} from '../../src/index.js';

/** Short periods so a test sees many heartbeats; verdicts never depend on them (deadlines are generous). */
export const PERIOD_MS = 500;
let seq = 0;

/** A memory store with network state, one manager and `mh_net`; close() undoes everything. */
export interface Swarm extends AsyncDisposable {
  store: Store;
  net: NetworkState;
  agents: Agent[];
  join(hostname: string, opts?: Partial<AgentOptions>): Promise<Agent>;
  /** Starts another manager on the same store (a failover contender). */
  manager(): AbortController;
  close(): Promise<void>;
}

export async function startSwarm(opts: { manager?: boolean; periodMs?: number } = {}): Promise<Swarm> {
  const periodMs = opts.periodMs ?? PERIOD_MS;
  const { startAgent } = await import('../../src/index.js');
  const store = await createStore(`memory://swarm-${process.pid}-${++seq}`);
  const net = await openNetworkState(store);
  await net.createNetwork({ name: 'mh_net', driver: 'overlay', subnets: [{ subnet: '10.9.0.0/24' }] });
  const managers: { stop: AbortController; done: Promise<void> }[] = [];
  const agents: Agent[] = [];
  const manager = () => {
    const stop = new AbortController();
    const done = runManager(store, { signal: stop.signal, heartbeatPeriodMs: periodMs, lockTtlMs: 1000 });
    managers.push({ stop, done });
    return stop;
  };
  if (opts.manager !== false) manager();
  const close = async () => {
    await Promise.allSettled(agents.map((a) => a.close()));
    for (const m of managers) m.stop.abort();
    await Promise.allSettled(managers.map((m) => m.done));
    await net.close();
    await store.close();
  };
  return {
    store,
    net,
    agents,
    manager,
    async join(hostname, more = {}) {
      const agent = await startAgent(store, {
        hostname,
        heartbeatPeriodMs: PERIOD_MS,
        stopGraceMs: 2000,
        ...more,
      });
      agents.push(agent);
      return agent;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Polls until `check` returns a value (not undefined/false); fails with `what` after a generous deadline. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The service's tasks once `count` are running (current tasks of each slot). */
export function running(net: NetworkState, service: string, count: number): Promise<Task[]> {
  return until(`${count} running tasks of ${service}`, async () => {
    const tasks = await net.listTasks({ service });
    return (
      tasks.length === count &&
      tasks.every((t) => t.state === 'running' && t.desiredState === 'running') &&
      tasks
    );
  });
}
