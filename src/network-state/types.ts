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
  createdAt: string;
}

export interface CreateServiceOptions {
  name: string;
  /** Network names or ids. */
  networks: string[];
  replicas: number;
  endpointMode?: EndpointMode;
  image?: string;
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

export interface Task {
  id: string;
  serviceId: string;
  /** 1-based, like swarm's replicated slots. */
  slot: number;
  state: TaskState;
  message: string;
  attachments: TaskAttachment[];
  createdAt: string;
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
