import type { AddrPoolSpec } from './default-pools.js';

export type NetworkDriver = 'overlay' | 'bridge' | 'macvlan' | 'ipvlan' | 'host';
export const NETWORK_DRIVERS: readonly NetworkDriver[] = ['overlay', 'bridge', 'macvlan', 'ipvlan', 'host'];

/** `swarm` for overlay networks (cluster-wide, global address space), `local` for the others. */
export type NetworkScope = 'swarm' | 'local';

/** The overlay driver option naming the VNIs to use, one per IPv4 subnet (docker's name). */
export const VXLANID_LIST_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';

export interface NetworkSubnet {
  subnet: string;
  /** The gateway address, without prefix length (`10.9.0.1`). */
  gateway: string;
  ipRange?: string;
  /** Reserved addresses by name; never handed out. */
  auxAddresses: Record<string, string>;
  /** The IPAM pool (`GlobalDefault/10.9.0.0/24[/ip-range]`). */
  poolId: string;
}

export interface Network {
  id: string;
  name: string;
  driver: NetworkDriver;
  scope: NetworkScope;
  subnets: NetworkSubnet[];
  /** One VNI per IPv4 subnet of an overlay network. */
  vxlanIds: number[];
  labels: Record<string, string>;
  options: Record<string, string>;
  attachable: boolean;
  internal: boolean;
  /** ISO time. */
  createdAt: string;
}

export interface SubnetRequest {
  subnet: string;
  ipRange?: string;
  gateway?: string;
  auxAddresses?: Record<string, string>;
}

export interface CreateNetworkOptions {
  name: string;
  driver?: NetworkDriver;
  /** Omitted: one IPv4 subnet from the default pools (none for `host`). */
  subnets?: SubnetRequest[];
  options?: Record<string, string>;
  labels?: Record<string, string>;
  attachable?: boolean;
  internal?: boolean;
}

export type EndpointMode = 'vip' | 'dnsrr';

export interface VirtualIp {
  networkId: string;
  /** `10.9.0.2/24`. */
  addr: string;
}

export interface Service {
  id: string;
  name: string;
  /** Network ids, in the order given. */
  networks: string[];
  replicas: number;
  endpointMode: EndpointMode;
  /** One per network in `vip` mode once allocated; none in `dnsrr`. */
  virtualIps: VirtualIp[];
  image?: string;
  /** Placement constraints (`node.labels.zone==a`), all of which a node must meet. */
  constraints: string[];
  /** What the `process` executor runs for each task (argv; no shell). */
  command?: string[];
  /** How long a failed task's slot waits before its replacement starts (ms). */
  restartDelayMs: number;
  /** Restarts after a failure a slot gets before it is left failed; 0: no limit. */
  restartMaxAttempts: number;
  createdAt: string;
}

/** swarmkit's default restart delay (ms). */
export const DEFAULT_RESTART_DELAY_MS = 5000;

export interface CreateServiceOptions {
  name: string;
  /** Network names or ids. */
  networks: string[];
  replicas: number;
  endpointMode?: EndpointMode;
  image?: string;
  /** `node.id==ID`, `node.hostname==NAME`, `node.labels.K==V`, or the same with `!=`. */
  constraints?: string[];
  /** argv the `process` executor runs per task, e.g. `['node', 'server.js']`. */
  command?: string[];
  /** Default 5000 (swarmkit's). */
  restartDelayMs?: number;
  /** Default 0: restart without limit. */
  restartMaxAttempts?: number;
}

/** swarmkit's task states, in order; a task's state only moves forward through this list. */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** The message of a task once its addresses are committed. */
export const PENDING_MESSAGE = 'pending task scheduling';

export interface TaskAttachment {
  networkId: string;
  /** `10.9.0.5/24`. */
  addresses: string[];
}

/**
 * What the orchestrator wants of a task: `running`; `ready` (prepare it, but wait — a restart
 * delay, or the slot's previous task still stopping); `shutdown` (stop it, it was replaced,
 * scaled away or its service removed).
 */
export type DesiredState = 'ready' | 'running' | 'shutdown';

export interface Task {
  id: string;
  serviceId: string;
  /** 1-based, like swarm's replicated slots. */
  slot: number;
  state: TaskState;
  desiredState: DesiredState;
  message: string;
  attachments: TaskAttachment[];
  /** The node it is scheduled on, once `assigned`. */
  nodeId?: string;
  /** Restarts of this slot after failures before this task (0 or absent for the first). */
  restarts?: number;
  /** ISO time before which it is not started (the restart delay). */
  notBefore?: string;
  /** The exit code of its process, once it exited. */
  exitCode?: number;
  createdAt: string;
  /** ISO time of its last state change. */
  updatedAt?: string;
}

/** States a task does not leave (swarmkit: anything after running). */
export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.has(state);
}
const TERMINAL_STATES = new Set<TaskState>([
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
]);

export type NodeAvailability = 'active' | 'pause' | 'drain';
export const NODE_AVAILABILITIES: readonly NodeAvailability[] = ['active', 'pause', 'drain'];

/** `ready` while its agent heartbeats; `down` after it missed 3 heartbeat periods (or left). */
export type NodeState = 'ready' | 'down';

/** A worker: what `kvkit agent start` registers and the manager keeps up to date. */
export interface Node {
  id: string;
  hostname: string;
  /** The address the agent advertised. */
  addr: string;
  labels: Record<string, string>;
  availability: NodeAvailability;
  state: NodeState;
  /** Why it is in its state (`heartbeat failure`, `agent stopped`); empty when ready. */
  message: string;
  /** The period its agent heartbeats at (ms). */
  heartbeatPeriodMs: number;
  createdAt: string;
  /** ISO time of its last state change. */
  stateSince: string;
}

export interface UpdateNodeOptions {
  availability?: NodeAvailability;
  /** Replaces every label. */
  labels?: Record<string, string>;
}

export interface NetworkStateOptions {
  /** Where everything lives in the store. Default `kvkit/network`. */
  prefix?: string;
  /** The global (swarm) default pools, like `docker swarm init --default-addr-pool`. Default 10.0.0.0/8 as /24s. */
  defaultAddrPools?: AddrPoolSpec[];
  /** VNIs handed out. Default 4096–16777215. */
  vxlanRange?: { start: number; end: number };
  /** TTL of the allocator leader lock (ms): how fast a crashed leader is replaced. Default 10000. */
  leaderTtlMs?: number;
  /** runAllocator also runs a pass this often, whatever the watch says (ms). Default 60000. */
  retryIntervalMs?: number;
  /** A network still `allocating` this long after creation was abandoned by a crashed creator (ms). Default 60000. */
  abandonAfterMs?: number;
}

/** Result of one allocation pass. */
export interface AllocationResult {
  /** Tasks committed `pending` by this pass. */
  allocated: number;
  /** Tasks still `new` after it. */
  unallocated: number;
}
