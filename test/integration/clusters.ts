/**
 * Real 3-member etcd, Consul and ZooKeeper clusters for the fault tests, one container per member
 * from the same local images as test/integration/servers.ts (KVKIT_*_IMAGE).
 *
 * Why containers and not the Debian binaries as processes: the images are what the project's
 * set-up already builds for every integration test (scripts/build-images.sh), so CI needs nothing
 * new; a container's PID 1 is the server itself, so `docker kill -s KILL|STOP|CONT` is exactly
 * kill -9 / SIGSTOP / SIGCONT of that process, and its data directory survives a restart.
 *
 * - The members of one cluster share a bridge network this fixture creates and removes, with
 *   fixed addresses (no DNS at boot, so no member waits on another's name).
 * - Each member's client port is published on 127.0.0.1 at a port picked up front, so its
 *   endpoint stays the same across kill / start.
 * - Containers and the network carry the labels of servers.ts (kvkit.test, kvkit.run, kvkit.pid:
 *   scripts/cleanup-containers.sh);
 *   close() removes them, and so does a process-exit hook if a test forgot.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import { freeLoopbackPorts } from '../../src/raft-node/local-cluster.js';
import { CONTAINER_LABEL, RUN_LABEL, runId } from './servers.js';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

export type ClusterKind = 'etcd' | 'consul' | 'zookeeper';

export interface ClusterMember {
  /** m1, m2, ... */
  readonly name: string;
  /** host:port on 127.0.0.1 of its client port; stays the same across kill/start. */
  readonly endpoint: string;
  /** SIGKILL: the process dies at once, its data stays. */
  kill(): Promise<void>;
  /** A graceful stop (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** Starts a killed or stopped member again; resolves once it answers on its client port. */
  start(): Promise<void>;
  /** SIGSTOP: the process freezes, its sockets stay open. */
  freeze(): Promise<void>;
  /** SIGCONT. */
  thaw(): Promise<void>;
  /**
   * Cuts the member off from the other members (both directions, inside its own network
   * namespace); clients still reach it. Lasts until heal() or a restart.
   */
  isolate(): Promise<void>;
  heal(): Promise<void>;
  /** Runs a command inside the member's container. */
  exec(cmd: string[]): Promise<string>;
}

export interface RunningCluster extends AsyncDisposable {
  readonly kind: ClusterKind;
  readonly members: ClusterMember[];
  /** Every member's endpoint, in member order. */
  readonly endpoints: string[];
  /** Removes every container and the network (idempotent). */
  close(): Promise<void>;
}

export interface ClusterOptions {
  size?: number;
  /** Extra arguments for every member's server (etcd, consul) or zoo.cfg lines (zookeeper). */
  extra?: string[];
}

interface MemberSpec {
  image: string;
  clientPort: number;
  cmd: string[];
  env: string[];
}

/** How long a cluster may take to form (ZooKeeper's JVMs are the slowest). */
const FORM_TIMEOUT_MS = 120_000;
const PROBE_TIMEOUT_MS = 2000;

function specFor(kind: ClusterKind, index: number, ips: string[], extra: string[]): MemberSpec {
  const name = `m${index + 1}`;
  switch (kind) {
    case 'etcd':
      return {
        image: process.env.KVKIT_ETCD_IMAGE || 'quay.io/coreos/etcd:v3.5.17',
        clientPort: 2379,
        cmd: [
          '/usr/local/bin/etcd',
          `--name=${name}`,
          '--data-dir=/etcd-data',
          '--listen-client-urls=http://0.0.0.0:2379',
          `--advertise-client-urls=http://${ips[index]}:2379`,
          '--listen-peer-urls=http://0.0.0.0:2380',
          `--initial-advertise-peer-urls=http://${ips[index]}:2380`,
          `--initial-cluster=${ips.map((ip, i) => `m${i + 1}=http://${ip}:2380`).join(',')}`,
          '--initial-cluster-state=new',
          ...extra,
        ],
        env: ['ETCDCTL_API=3'],
      };
    case 'consul':
      return {
        image: process.env.KVKIT_CONSUL_IMAGE || 'hashicorp/consul:1.20',
        clientPort: 8500,
        cmd: [
          'agent',
          '-server',
          `-bootstrap-expect=${ips.length}`,
          `-node=${name}`,
          '-data-dir=/consul/data',
          `-bind=${ips[index]}`,
          '-client=0.0.0.0',
          '-disable-host-node-id',
          ...ips.filter((_, i) => i !== index).map((ip) => `-retry-join=${ip}`),
          // Production timing (the default multiplier 5 is for slow development machines).
          '-hcl',
          'performance { raft_multiplier = 1 }',
          ...extra,
        ],
        env: [],
      };
    case 'zookeeper': {
      // Short ticks: sessions may be as short as 1 s and a dead leader is replaced in seconds.
      const cfg = [
        'tickTime=500',
        'initLimit=20',
        'syncLimit=4',
        ...ips.map((ip, i) => `server.${i + 1}=${ip}:2888:3888`),
        ...extra,
      ];
      return {
        image: process.env.KVKIT_ZOOKEEPER_IMAGE || 'zookeeper:3.8',
        clientPort: 2181,
        // The image's entry point writes zoo.cfg (ZOO_CFG_EXTRA lines win) but no myid.
        cmd: ['/bin/sh', '-c', `mkdir -p /data && echo ${index + 1} > /data/myid && exec kvkit-zk-start`],
        env: ['ZOO_4LW_COMMANDS_WHITELIST=*', `ZOO_CFG_EXTRA=${cfg.join(' ')}`],
      };
    }
  }
}

/** Resolves true once the member answers as part of a cluster with a leader. */
async function memberReady(kind: ClusterKind, endpoint: string, size: number): Promise<boolean> {
  switch (kind) {
    case 'etcd':
      return (await httpGet(`http://${endpoint}/health`))?.includes('"health":"true"') ?? false;
    case 'consul': {
      const leader = (await httpGet(`http://${endpoint}/v1/status/leader`))?.trim() ?? '';
      if (leader === '' || leader === '""') return false;
      const peers = await httpGet(`http://${endpoint}/v1/status/peers`);
      return peers !== undefined && (JSON.parse(peers) as string[]).length === size;
    }
    case 'zookeeper': {
      const mode = await fourLetterWord(endpoint, 'srvr');
      return /Mode: (leader|follower|standalone)/.test(mode ?? '');
    }
  }
}

/** The member that leads right now (by its own account), or undefined. */
export async function leaderOf(cluster: RunningCluster): Promise<ClusterMember | undefined> {
  for (const member of cluster.members) {
    if (await isLeader(cluster.kind, member.endpoint)) return member;
  }
  return undefined;
}

async function isLeader(kind: ClusterKind, endpoint: string): Promise<boolean> {
  switch (kind) {
    case 'etcd': {
      const metrics = await httpGet(`http://${endpoint}/metrics`);
      return /^etcd_server_is_leader 1$/m.test(metrics ?? '');
    }
    case 'consul': {
      const self = await httpGet(`http://${endpoint}/v1/agent/self`);
      return self !== undefined && JSON.parse(self)?.Stats?.consul?.leader === 'true';
    }
    case 'zookeeper':
      return (await fourLetterWord(endpoint, 'srvr'))?.includes('Mode: leader') ?? false;
  }
}

async function httpGet(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const body = await res.text();
    return res.ok ? body : undefined;
  } catch {
    return undefined;
  }
}

function fourLetterWord(endpoint: string, word: string): Promise<string | undefined> {
  const i = endpoint.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const finish = (value: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), PROBE_TIMEOUT_MS);
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
    });
    socket.on('end', () => finish(reply));
    socket.on('error', () => finish(undefined));
    socket.connect(Number(endpoint.slice(i + 1)), endpoint.slice(0, i), () => socket.write(word));
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Left-overs a crashed test did not close, removed synchronously at exit (Ryuk is off).
const live = { containers: new Set<string>(), networks: new Set<string>() };
let exitHook = false;
function track(kind: 'containers' | 'networks', id: string): void {
  live[kind].add(id);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    const opts = { stdio: 'ignore' as const, timeout: 20_000 };
    if (live.containers.size > 0) spawnSync('docker', ['rm', '-f', '-v', ...live.containers], opts);
    if (live.networks.size > 0) spawnSync('docker', ['network', 'rm', ...live.networks], opts);
  });
}

async function docker(): Promise<Dockerode> {
  const tc = await import('testcontainers');
  return (await tc.getContainerRuntimeClient()).container.dockerode;
}

/** A bridge network on a private /24 no other network uses (retried on an overlap). */
async function createNetwork(
  api: Dockerode,
  instance: string,
): Promise<{ network: Dockerode.Network; base: string }> {
  for (let attempt = 1; ; attempt++) {
    const base = `10.${200 + (randomBytes(1)[0] % 50)}.${randomBytes(1)[0]}`;
    try {
      const network = await api.createNetwork({
        Name: `kvkit-${instance}`,
        Driver: 'bridge',
        Labels: {
          [CONTAINER_LABEL]: '1',
          [RUN_LABEL]: runId(),
          'kvkit.pid': String(process.pid),
          'kvkit.instance': instance,
        },
        IPAM: { Config: [{ Subnet: `${base}.0/24`, Gateway: `${base}.1` }] },
      });
      track('networks', network.id);
      return { network, base };
    } catch (error) {
      if (attempt >= 8 || !/overlap|already/i.test(String((error as Error).message))) throw error;
    }
  }
}

/** Signals a container's PID 1 (the server process itself). */
async function signal(container: Dockerode.Container, sig: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): Promise<void> {
  try {
    await container.kill({ signal: sig });
  } catch (error) {
    // 409: not running (already killed); 304: nothing to do.
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== 409 && status !== 304) throw error;
  }
}

/**
 * Starts a cluster of `size` members (default 3) and resolves once every member answers as part
 * of it with a leader. On failure nothing is left behind.
 */
export async function startCluster(kind: ClusterKind, options: ClusterOptions = {}): Promise<RunningCluster> {
  const size = options.size ?? 3;
  const api = await docker();
  const instance = `${process.pid}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  const { network, base } = await createNetwork(api, instance);
  const containers: Dockerode.Container[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(
      containers.map(async (c) => {
        await c.remove({ force: true, v: true }).catch(() => {});
        live.containers.delete(c.id);
      }),
    );
    await network.remove().catch(() => {});
    live.networks.delete(network.id);
  };
  try {
    const ips = Array.from({ length: size }, (_, i) => `${base}.${11 + i}`);
    const members: ClusterMember[] = [];
    for (let i = 0; i < size; i++) {
      const spec = specFor(kind, i, ips, options.extra ?? []);
      const { container, endpoint } = await createMember(api, spec, {
        instance,
        kind,
        name: `m${i + 1}`,
        network: `kvkit-${instance}`,
        ip: ips[i],
      });
      containers.push(container);
      const ready = () =>
        until(`${kind} m${i + 1} on ${endpoint}`, () => memberReady(kind, endpoint, size), FORM_TIMEOUT_MS);
      members.push({
        name: `m${i + 1}`,
        endpoint,
        kill: () => signal(container, 'SIGKILL'),
        freeze: () => signal(container, 'SIGSTOP'),
        thaw: () => signal(container, 'SIGCONT'),
        stop: async () => {
          await container.stop({ t: 10 }).catch((error: { statusCode?: number }) => {
            if (error.statusCode !== 304) throw error;
          });
        },
        start: async () => {
          await container.start().catch((error: { statusCode?: number }) => {
            if (error.statusCode !== 304) throw error;
          });
          await ready();
        },
        exec: (cmd) => execIn(container, cmd),
        isolate: () =>
          firewall(
            container,
            ips.filter((_, j) => j !== i),
            '-I',
          ),
        heal: () =>
          firewall(
            container,
            ips.filter((_, j) => j !== i),
            '-D',
          ),
      });
    }
    await Promise.all(containers.map((c) => c.start()));
    await Promise.all(
      members.map((m) =>
        until(
          `${kind} ${m.name} on ${m.endpoint}`,
          () => memberReady(kind, m.endpoint, size),
          FORM_TIMEOUT_MS,
        ),
      ),
    );
    return { kind, members, endpoints: members.map((m) => m.endpoint), close, [Symbol.asyncDispose]: close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function createMember(
  api: Dockerode,
  spec: MemberSpec,
  where: { instance: string; kind: ClusterKind; name: string; network: string; ip: string },
): Promise<{ container: Dockerode.Container; endpoint: string }> {
  for (let attempt = 1; ; attempt++) {
    // Below the ephemeral range: no other socket takes it while a restarted server is down.
    const [hostPort] = await freeLoopbackPorts(1);
    try {
      const container = await api.createContainer({
        Image: spec.image,
        Cmd: spec.cmd,
        Env: spec.env,
        Hostname: where.name,
        Labels: {
          [CONTAINER_LABEL]: '1',
          [RUN_LABEL]: runId(),
          'kvkit.pid': String(process.pid),
          'kvkit.kind': where.kind,
          'kvkit.instance': where.instance,
          'kvkit.member': where.name,
        },
        ExposedPorts: { [`${spec.clientPort}/tcp`]: {} },
        HostConfig: {
          NetworkMode: where.network,
          PortBindings: { [`${spec.clientPort}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] },
        },
        NetworkingConfig: {
          EndpointsConfig: { [where.network]: { IPAMConfig: { IPv4Address: where.ip } } },
        },
      });
      track('containers', container.id);
      return { container, endpoint: `127.0.0.1:${hostPort}` };
    } catch (error) {
      if (attempt >= 3 || !/port is already allocated|address already in use/i.test(String(error)))
        throw error;
    }
  }
}

const run = promisify(execFile);

/** Adds (-I) or removes (-D) DROP rules for traffic to and from `peers` in the container's netns. */
async function firewall(container: Dockerode.Container, peers: string[], op: '-I' | '-D'): Promise<void> {
  const pid = String((await container.inspect()).State.Pid);
  for (const peer of peers) {
    for (const rule of [
      ['INPUT', '-s'],
      ['OUTPUT', '-d'],
    ]) {
      const args = ['-t', pid, '-n', 'iptables', op, rule[0], rule[1], peer, '-j', 'DROP'];
      await run('nsenter', args, { timeout: 10_000 });
    }
  }
}

async function execIn(container: Dockerode.Container, cmd: string[]): Promise<string> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  // Docker multiplexes stdout/stderr: 8-byte frame headers before each payload.
  const raw = Buffer.concat(chunks);
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
