/**
 * One agent process of the scale bench (`bench/scale.ts` spawns several): many simulated nodes
 * on one Store client, real Store traffic.
 *
 * - `kvkit` pattern: `startAgent` with the `none` executor for each node (the BeatWriter shares
 *   one record per ≤256 nodes; only the acting manager watches them).
 * - `libkv` pattern: what classic Swarm did on libkv — every node puts its own key with a TTL of 3
 *   periods every period, and every node watches the whole node list.
 *
 * Protocol: configuration as JSON in argv[2]; it prints `{"t":"connected"}` once its store is
 * open, joins every node when it reads `join` on stdin, then prints one JSON line per second with
 * the heartbeat write latencies since the last line. SIGKILL is how it ends in the failure phase;
 * otherwise `stop` on stdin closes everything.
 */
import { createInterface } from 'node:readline';
import { type Agent, createStore, type Store, startAgent } from '../../src/index.js';

export interface AgentsConfig {
  url: string;
  pattern: 'kvkit' | 'libkv';
  /** Hostnames are `<prefix>-<i>` for i in [first, first + count). */
  prefix: string;
  first: number;
  count: number;
  heartbeatMs: number;
  /** Nodes joining at once in this process. */
  joinConcurrency: number;
}

/** The key prefix of the libkv pattern (outside network state). */
export const LIBKV_PREFIX = 'scale-libkv/nodes';

/** A line this process prints. */
export type AgentsLine =
  | { t: 'connected' }
  | { t: 'joined'; at: number; nodes: number; errors: number }
  | {
      t: 'beats';
      at: number;
      /** Latency of each heartbeat write since the last line (ms), and how many nodes each carried. */
      latencies: number[];
      weights: number[];
      writes: number;
      errors: number;
      /** libkv only: nodes the watch saw vanish while their writer is alive, and the list size seen. */
      vanished?: number;
      listed?: number;
    };

const config = JSON.parse(process.argv[2] ?? '{}') as AgentsConfig;
const emit = (line: AgentsLine) => process.stdout.write(`${JSON.stringify(line)}\n`);

const latencies: number[] = [];
const weights: number[] = [];
let writes = 0;
let errors = 0;

/** Times every heartbeat write (a put under `agents/`, or the libkv node key) as the agent sees it. */
function timed(store: Store): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'put') {
        return async (key: string, value: string, opts?: { ttl?: number }) => {
          const t0 = performance.now();
          try {
            await target.put(key, value, opts);
            if (key.includes('/agents/') || key.startsWith(LIBKV_PREFIX)) {
              latencies.push(performance.now() - t0);
              weights.push(key.startsWith(LIBKV_PREFIX) ? 1 : nodesIn(value));
            }
          } catch (err) {
            errors++;
            throw err;
          } finally {
            writes++;
          }
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Nodes in an agent record (`"n":{"<id>":...}`): counted without decoding the whole record. */
function nodesIn(record: string): number {
  let n = 0;
  for (let i = record.indexOf('{"t":'); i !== -1; i = record.indexOf('{"t":', i + 1)) n++;
  for (let i = record.indexOf('{"l":1'); i !== -1; i = record.indexOf('{"l":1', i + 1)) n++;
  return Math.max(1, n);
}

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

const raw = await createStore(config.url);
const store = timed(raw);
const stop = new AbortController();
const agents: Agent[] = [];
const libkvTimers: ReturnType<typeof setInterval>[] = [];
let vanished = 0;
let listed = 0;

async function joinKvkit(): Promise<void> {
  const hosts = Array.from({ length: config.count }, (_, i) => `${config.prefix}-${config.first + i}`);
  await forEachLimit(hosts, config.joinConcurrency, async (hostname) => {
    for (let attempt = 0; ; attempt++) {
      try {
        agents.push(
          await startAgent(store, {
            hostname,
            heartbeatPeriodMs: config.heartbeatMs,
            stopGraceMs: 1000,
            onError: () => {
              errors++;
            },
          }),
        );
        return;
      } catch (err) {
        errors++;
        if (attempt >= 5 || stop.signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      }
    }
  });
}

async function joinLibkv(): Promise<void> {
  const ttl = 3 * config.heartbeatMs;
  const hosts = Array.from({ length: config.count }, (_, i) => `${config.prefix}-${config.first + i}`);
  const beat = (host: string) =>
    store.put(`${LIBKV_PREFIX}/${host}`, JSON.stringify({ host, at: Date.now() }), { ttl }).catch(() => {});
  await forEachLimit(hosts, config.joinConcurrency, async (host) => {
    await beat(host);
    // Every node watches the whole list (the libkv-era discovery loop); the first one counts.
    const counting = host === hosts[0];
    void (async () => {
      const seen = new Set<string>();
      try {
        for await (const list of store.watchTree(LIBKV_PREFIX, { signal: stop.signal })) {
          if (!counting) continue;
          const now = new Set(list.map((p) => p.key));
          for (const key of seen) if (!now.has(key)) vanished++;
          for (const key of now) seen.add(key);
          for (const key of [...seen]) if (!now.has(key)) seen.delete(key);
          listed = now.size;
        }
      } catch {
        if (!stop.signal.aborted) errors++;
      }
    })();
    // Jittered start so the writes spread over the period, as real nodes' do.
    const timer = setTimeout(
      () => libkvTimers.push(setInterval(() => void beat(host), config.heartbeatMs)),
      Math.random() * config.heartbeatMs,
    );
    libkvTimers.push(timer as unknown as ReturnType<typeof setInterval>);
  });
}

const report = setInterval(() => {
  emit({
    t: 'beats',
    at: Date.now(),
    latencies: latencies.splice(0).map((x) => Math.round(x * 100) / 100),
    weights: weights.splice(0),
    writes,
    errors,
    ...(config.pattern === 'libkv' ? { vanished, listed } : {}),
  });
}, 1000);

async function shutdown(): Promise<void> {
  stop.abort();
  clearInterval(report);
  for (const t of libkvTimers) clearInterval(t);
  await Promise.allSettled(agents.map((a) => a.close()));
  await raw.close().catch(() => {});
  process.exit(0);
}

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line === 'join') {
    const join = config.pattern === 'libkv' ? joinLibkv() : joinKvkit();
    join.then(
      () => emit({ t: 'joined', at: Date.now(), nodes: config.count, errors }),
      (err) => {
        process.stderr.write(`join failed: ${String(err)}\n`);
        emit({ t: 'joined', at: Date.now(), nodes: agents.length, errors });
      },
    );
  } else if (line === 'stop') {
    void shutdown();
  }
});
// The bench went away: do not outlive it.
input.on('close', () => void shutdown());
emit({ t: 'connected' });
