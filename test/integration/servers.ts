/**
 * Real etcd / Consul / ZooKeeper / Redis servers for the integration tests, in Docker via
 * testcontainers.
 *
 * - Images default to official ones and are overridden by KVKIT_ETCD_IMAGE, KVKIT_CONSUL_IMAGE,
 *   KVKIT_ZOOKEEPER_IMAGE, KVKIT_REDIS_IMAGE (`npm test` sets them: test/setup/integration.ts).
 * - The client port is published on 127.0.0.1 at a host port picked up front, so `endpoint` stays
 *   the same across stop()/start()/restart().
 * - Ryuk (the testcontainers reaper) is off, so every container is removed by close(); containers
 *   carry the labels kvkit.test=1, kvkit.run=$KVKIT_RUN_ID (one test run) and kvkit.pid (the
 *   process that made it); a process-exit hook removes the ones still alive, the end of the run
 *   removes its run's, and scripts/cleanup-containers.sh removes leftovers of runs that are over.
 */
import { spawnSync } from 'node:child_process';
import { Socket } from 'node:net';
import type {
  GenericContainer as GenericContainerClass,
  StartedTestContainer,
  WaitStrategy,
} from 'testcontainers';
import { freeLoopbackPorts } from '../../src/raft-node/local-cluster.js';

// Defaults that make a plain `npx vitest run --project integration` work without a reaper image and
// with mapped ports reached on loopback. Set before testcontainers is loaded (it is imported lazily).
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

export type ServerKind = 'etcd' | 'consul' | 'zookeeper' | 'redis';

export interface RunningServer extends AsyncDisposable {
  kind: ServerKind;
  /** host:port on 127.0.0.1 of the client port (2379 / 8500 / 2181 / 6379). Stays the SAME across restart(). */
  endpoint: string;
  /**
   * Stops and starts the same container, resolves once the server answers again. etcd and
   * ZooKeeper keep their data (it lives in the container), Redis too (the RDB it writes when
   * stopped); Consul runs `-dev` (in memory) and comes back EMPTY.
   */
  restart(): Promise<void>;
  /** Container stopped (the endpoint refuses connections) but not removed. */
  stop(): Promise<void>;
  /** Started again, same endpoint; resolves when ready. */
  start(): Promise<void>;
  /** Runs a command inside the container, e.g. ['etcdctl','get','/x']. */
  exec(cmd: string[]): Promise<{ exitCode: number; output: string }>;
  /** Removes the container (idempotent). */
  close(): Promise<void>;
}

/** How long a server may take to answer after (re)start; the JVM of ZooKeeper is the slowest. */
const READY_TIMEOUT_MS = 90_000;
const PROBE_TIMEOUT_MS = 2_000;
const STOP_TIMEOUT_S = 10;
const EXEC_TIMEOUT_MS = 60_000;
const DOCKER_CHECK_TIMEOUT_MS = 15_000;
export const CONTAINER_LABEL = 'kvkit.test';
/** Containers of one test run carry kvkit.run=<id>: cleaning up after a run touches only its own. */
export const RUN_LABEL = 'kvkit.run';
/** This run's id: KVKIT_RUN_ID (set by `.ci/run` and by test/setup/integration.ts), else per process. */
export function runId(): string {
  process.env.KVKIT_RUN_ID ||= `pid-${process.pid}`;
  return process.env.KVKIT_RUN_ID;
}
/** Servers accept values (and requests) up to this size: the conformance suite writes 1 MiB. */
export const MAX_VALUE_BYTES = 4 * 1024 * 1024;

interface ServerSpec {
  image: string;
  containerPort: number;
  /** Container command; undefined keeps the image's own. */
  command?: (hostPort: number) => string[];
  environment: Record<string, string>;
  /** Resolves true when the server on `endpoint` really serves requests. */
  ready: (endpoint: string, signal: AbortSignal) => Promise<boolean>;
}

/**
 * One command line per kind that works for both the official image and ours:
 * - etcd: official quay.io/coreos/etcd has no entrypoint and etcd in /usr/local/bin; so has ours.
 *   The advertised client URL is the host-side endpoint, which is what a client outside sees.
 * - consul: the official entrypoint turns `agent ...` into `consul agent ...`; ours has
 *   ENTRYPOINT ["consul"]. `-dev` = single in-memory server.
 * - zookeeper: both images read ZOO_4LW_COMMANDS_WHITELIST and ZOO_CFG_EXTRA.
 */
function specFor(kind: ServerKind): ServerSpec {
  switch (kind) {
    case 'etcd':
      return {
        image: process.env.KVKIT_ETCD_IMAGE || 'quay.io/coreos/etcd:v3.5.17',
        containerPort: 2379,
        command: (hostPort) => [
          '/usr/local/bin/etcd',
          '--name=kvkit',
          '--data-dir=/etcd-data',
          '--listen-client-urls=http://0.0.0.0:2379',
          `--advertise-client-urls=http://127.0.0.1:${hostPort}`,
          '--listen-peer-urls=http://127.0.0.1:2380',
          '--initial-advertise-peer-urls=http://127.0.0.1:2380',
          '--initial-cluster=kvkit=http://127.0.0.1:2380',
          `--max-request-bytes=${MAX_VALUE_BYTES}`,
        ],
        environment: { ETCDCTL_API: '3' },
        ready: async (endpoint, signal) =>
          (await httpGet(`http://${endpoint}/health`, signal))?.includes('"health":"true"') ?? false,
      };
    case 'consul':
      return {
        image: process.env.KVKIT_CONSUL_IMAGE || 'hashicorp/consul:1.20',
        containerPort: 8500,
        // The conformance suite round-trips 1 MiB values; kvkit writes through /v1/txn with base64
        // values, so raise both limits (defaults: 512 KiB) well above that.
        command: () => [
          'agent',
          '-dev',
          '-client',
          '0.0.0.0',
          '-hcl',
          `limits { kv_max_value_size = ${MAX_VALUE_BYTES} txn_max_req_len = ${MAX_VALUE_BYTES} }`,
        ],
        environment: {},
        // The HTTP API answers before a leader exists; KV calls fail until one is elected.
        ready: async (endpoint, signal) => {
          const leader = await httpGet(`http://${endpoint}/v1/status/leader`, signal);
          return leader !== undefined && leader.trim() !== '""' && leader.trim() !== '';
        },
      };
    case 'zookeeper':
      return {
        image: process.env.KVKIT_ZOOKEEPER_IMAGE || 'zookeeper:3.8',
        containerPort: 2181,
        environment: {
          ZOO_4LW_COMMANDS_WHITELIST: '*',
          ZOO_CFG_EXTRA: 'extendedTypesEnabled=true',
          ZOO_ADMINSERVER_ENABLED: 'false',
          // 1 MiB values exceed the default jute.maxbuffer (1 MiB - 1); zkServer.sh and zkCli.sh
          // both read JVMFLAGS, so the server and the CLI inside the container accept them.
          JVMFLAGS: `-Djute.maxbuffer=${MAX_VALUE_BYTES}`,
        },
        // `ruok` only says the process is up; `srvr` reports a Mode once it serves requests.
        ready: async (endpoint, signal) =>
          (await fourLetterWord(endpoint, 'ruok', signal)) === 'imok' &&
          ((await fourLetterWord(endpoint, 'srvr', signal))?.includes('Mode:') ?? false),
      };
    case 'redis':
      return {
        image: process.env.KVKIT_REDIS_IMAGE || 'redis:7.0',
        containerPort: 6379,
        // Both images run `redis-server` in /data (where it writes its RDB when stopped).
        command: () => ['redis-server', '--bind', '0.0.0.0', '--protected-mode', 'no'],
        environment: {},
        // Redis answers PING with +PONG once it has loaded its data (-LOADING before).
        ready: async (endpoint, signal) =>
          (await askTcp(endpoint, 'PING\r\n', signal, (reply) => reply.includes('\r\n'))) === '+PONG\r\n',
      };
  }
}

/** GET with a short timeout; undefined when the server does not answer 200. */
async function httpGet(url: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    const res = await fetch(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]),
    });
    const body = await res.text();
    return res.ok ? body : undefined;
  } catch {
    return undefined;
  }
}

/** Sends a ZooKeeper four-letter word and returns the whole reply (the server closes after it). */
function fourLetterWord(endpoint: string, word: string, signal: AbortSignal): Promise<string | undefined> {
  return askTcp(endpoint, word, signal, () => false);
}

/**
 * Sends `request` and returns what came back once `complete(reply)` holds or the server closed;
 * undefined on error or after a short timeout.
 */
function askTcp(
  endpoint: string,
  request: string,
  signal: AbortSignal,
  complete: (reply: string) => boolean,
): Promise<string | undefined> {
  const [host, port] = splitEndpoint(endpoint);
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const finish = (value: string | undefined) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(value);
    };
    const onAbort = () => finish(undefined);
    const timer = setTimeout(() => finish(undefined), PROBE_TIMEOUT_MS);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (complete(reply)) finish(reply);
    });
    socket.on('end', () => finish(reply));
    socket.on('error', () => finish(undefined));
    socket.connect(port, host, () => socket.write(request));
  });
}

function splitEndpoint(endpoint: string): [string, number] {
  const i = endpoint.lastIndexOf(':');
  return [endpoint.slice(0, i), Number(endpoint.slice(i + 1))];
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Rejects with `message` if `promise` has not settled after `ms`; the timer never outlives it. */
async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `spec.ready` until it holds, the deadline passes (throws) or `signal` aborts (throws). */
async function waitReady(kind: ServerKind, endpoint: string, signal?: AbortSignal): Promise<void> {
  const spec = specFor(kind);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const probeSignal = signal ?? new AbortController().signal;
  for (;;) {
    signal?.throwIfAborted();
    if (await spec.ready(endpoint, probeSignal)) return;
    if (Date.now() > deadline) {
      throw new Error(`${kind} on ${endpoint} not ready after ${READY_TIMEOUT_MS} ms`);
    }
    await sleep(100, signal);
  }
}

type DockerodeContainer = Parameters<WaitStrategy['waitUntilReady']>[0];

/** The last lines a container printed, for error messages (docker multiplexes stdout/stderr). */
async function tailLogs(container: DockerodeContainer, lines = 30): Promise<string> {
  try {
    const raw = (await container.logs({ stdout: true, stderr: true, tail: lines })) as unknown as Buffer;
    const parts: Buffer[] = [];
    let at = 0;
    // Frames: 1 byte stream id, 3 zero bytes, 4 byte big-endian length, payload.
    while (at + 8 <= raw.length && raw[at] <= 2 && raw[at + 1] === 0) {
      const size = raw.readUInt32BE(at + 4);
      parts.push(raw.subarray(at + 8, at + 8 + size));
      at += 8 + size;
    }
    return (at === 0 ? raw : Buffer.concat(parts)).toString('utf8').trimEnd();
  } catch {
    return '(container logs unavailable)';
  }
}

/** A testcontainers wait strategy backed by our own readiness probe; says why on timeout. */
function probeWaitStrategy(kind: ServerKind, endpoint: string, signal?: AbortSignal): WaitStrategy {
  let timeout = READY_TIMEOUT_MS;
  let timeoutSet = false;
  const strategy: WaitStrategy = {
    waitUntilReady: async (container) => {
      try {
        await waitReady(kind, endpoint, signal);
      } catch (error) {
        if (signal?.aborted) throw error;
        throw new Error(`${(error as Error).message}; last container output:\n${await tailLogs(container)}`, {
          cause: error,
        });
      }
    },
    withStartupTimeout: (ms) => {
      timeout = ms;
      timeoutSet = true;
      return strategy;
    },
    isStartupTimeoutSet: () => timeoutSet,
    getStartupTimeout: () => timeout,
  };
  return strategy;
}

// Containers this process created and has not removed yet: removed synchronously at exit if a
// test forgot close() (Ryuk is off). Best effort; scripts/cleanup-containers.sh catches the rest.
const liveContainers = new Set<string>();
let exitHookInstalled = false;
function trackContainer(id: string): void {
  liveContainers.add(id);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    if (liveContainers.size === 0) return;
    spawnSync('docker', ['rm', '-f', '-v', ...liveContainers], { stdio: 'ignore', timeout: 20_000 });
  });
}

type Testcontainers = typeof import('testcontainers');
let testcontainersModule: Promise<Testcontainers> | undefined;
function loadTestcontainers(): Promise<Testcontainers> {
  testcontainersModule ??= import('testcontainers');
  return testcontainersModule;
}

/** GenericContainer that publishes its port on 127.0.0.1 only (testcontainers binds 0.0.0.0). */
function loopbackContainer(tc: Testcontainers, image: string) {
  class LoopbackContainer extends tc.GenericContainer {
    withLoopbackPort(containerPort: number, hostPort: number): this {
      this.withExposedPorts({ container: containerPort, host: hostPort });
      this.hostConfig.PortBindings = {
        ...this.hostConfig.PortBindings,
        [`${containerPort}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }],
      };
      return this;
    }
  }
  return new LoopbackContainer(image);
}

function isPortClash(error: unknown): boolean {
  const text = String((error as Error)?.message ?? error);
  return /port is already allocated|address already in use/i.test(text);
}

/** Adds what to do when the image is neither local nor pullable (no registry here). */
async function startError(
  tc: Testcontainers,
  kind: ServerKind,
  image: string,
  error: unknown,
): Promise<Error> {
  const text = String((error as Error)?.message ?? error);
  let hint = '';
  try {
    const client = await tc.getContainerRuntimeClient();
    await client.container.dockerode.getImage(image).inspect();
  } catch {
    hint =
      ` Image ${image} is not on this machine and could not be pulled: build the local images ` +
      `(sudo scripts/build-images.sh) and set KVKIT_${kind.toUpperCase()}_IMAGE=kvkit/..., or allow ` +
      'pulling from the registry. See docs/integration.md.';
  }
  return new Error(`could not start ${kind} (${image}): ${text}${hint}`, { cause: error });
}

async function createContainer(
  tc: Testcontainers,
  kind: ServerKind,
  signal: AbortSignal | undefined,
  args: string[],
): Promise<{ started: StartedTestContainer; endpoint: string }> {
  const spec = specFor(kind);
  for (let attempt = 1; ; attempt++) {
    // Below the ephemeral range: no other socket takes it while a restarted server is down.
    const [hostPort] = await freeLoopbackPorts(1);
    const endpoint = `127.0.0.1:${hostPort}`;
    const instance = `${process.pid}-${hostPort}-${Date.now()}`;
    const container = loopbackContainer(tc, spec.image)
      .withLoopbackPort(spec.containerPort, hostPort)
      .withEnvironment(spec.environment)
      .withLabels({
        [CONTAINER_LABEL]: '1',
        [RUN_LABEL]: runId(),
        'kvkit.pid': String(process.pid),
        'kvkit.kind': kind,
        'kvkit.instance': instance,
      })
      .withWaitStrategy(probeWaitStrategy(kind, endpoint, signal))
      .withStartupTimeout(READY_TIMEOUT_MS);
    if (spec.command) container.withCommand([...spec.command(hostPort), ...args]);
    try {
      const started = await (container as GenericContainerClass).start();
      return { started, endpoint };
    } catch (error) {
      // A container that was created but failed to start (e.g. port clash) is still there.
      await removeByInstance(tc, instance);
      if (signal?.aborted) throw signal.reason;
      if (isPortClash(error) && attempt < 3) continue;
      throw await startError(tc, kind, spec.image, error);
    }
  }
}

/** Removes the container(s) of one start attempt, found by their label. */
async function removeByInstance(tc: Testcontainers, instance: string): Promise<void> {
  try {
    const { dockerode } = (await tc.getContainerRuntimeClient()).container;
    const found = await dockerode.listContainers({
      all: true,
      filters: { label: [`kvkit.instance=${instance}`] },
    });
    for (const info of found) await dockerode.getContainer(info.Id).remove({ force: true, v: true });
  } catch {
    // Best effort: scripts/cleanup-containers.sh removes whatever is left.
  }
}

function isGone(error: unknown): boolean {
  const status = (error as { statusCode?: number })?.statusCode;
  return status === 404 || status === 304;
}

/** Starts a server of `kind` in a fresh container; resolves once it serves requests. */
export async function startServer(
  kind: ServerKind,
  opts: {
    signal?: AbortSignal /** Appended to the server's command line (etcd flags, …). */;
    args?: string[];
  } = {},
): Promise<RunningServer> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const tc = await loadTestcontainers();
  const { started, endpoint } = await createContainer(tc, kind, signal, opts.args ?? []);
  const id = started.getId();
  trackContainer(id);
  const client = await tc.getContainerRuntimeClient();
  const handle = client.container.getById(id);
  let closed = false;

  const stop = async () => {
    try {
      await handle.stop({ t: STOP_TIMEOUT_S });
    } catch (error) {
      if (!isGone(error)) throw error; // 304: already stopped
    }
  };
  const start = async () => {
    try {
      await handle.start();
    } catch (error) {
      if (!isGone(error)) throw error; // 304: already running
    }
    await waitReady(kind, endpoint);
  };
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await handle.remove({ force: true, v: true });
    } catch (error) {
      if (!isGone(error)) throw error;
    }
    liveContainers.delete(id);
  };

  const server: RunningServer = {
    kind,
    endpoint,
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
    exec: async (cmd) => {
      const result = await withTimeout(
        started.exec(cmd),
        EXEC_TIMEOUT_MS,
        `exec ${cmd.join(' ')} in ${kind} took over ${EXEC_TIMEOUT_MS} ms`,
      );
      return { exitCode: result.exitCode, output: result.output };
    },
    close,
    [Symbol.asyncDispose]: close,
  };

  if (signal?.aborted) {
    await close();
    throw signal.reason;
  }
  return server;
}

/** What to do without Docker: printed by the set-up of `npm test` and by every integration file. */
export const DOCKER_HELP =
  'Docker is not reachable, and the integration tests need it to run real etcd, Consul, ZooKeeper and ' +
  "Redis servers. Run `npm test` as root (it starts an installed dockerd, or installs Debian's docker.io, " +
  'and builds the server images), or install Docker yourself (Debian: apt-get install docker.io; then ' +
  'start the daemon: dockerd, or systemctl start docker) and give your user access to it. Set ' +
  'KVKIT_SKIP_INTEGRATION=1 to skip these tests on purpose. See docs/integration.md.';

/**
 * True when Docker answers. When it does not: throws an Error saying how to get it, unless
 * KVKIT_SKIP_INTEGRATION=1, in which case it returns false and the caller skips.
 */
export async function requireDocker(): Promise<boolean> {
  const skip = process.env.KVKIT_SKIP_INTEGRATION === '1';
  try {
    const tc = await loadTestcontainers();
    const ping = (async () => {
      const client = await tc.getContainerRuntimeClient();
      await client.container.dockerode.ping();
    })();
    ping.catch(() => {}); // the timeout may win the race; never leave an unhandled rejection
    await withTimeout(ping, DOCKER_CHECK_TIMEOUT_MS, `no answer within ${DOCKER_CHECK_TIMEOUT_MS} ms`);
    return true;
  } catch (error) {
    if (skip) return false;
    throw new Error(`${DOCKER_HELP} (${String((error as Error)?.message ?? error)})`, { cause: error });
  }
}
