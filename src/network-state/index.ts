/**
 * Network state (Docker Swarm's allocator on any Store): the public entry. The lead re-exports
 * this from src/index.ts.
 */
export { BitSequence, MAX_BITS } from './bit-sequence.js';
export { Subnet } from './cidr.js';
export { type Constraint, meetsConstraint, parseConstraint, parseConstraints } from './constraints.js';
export { type AddrPoolSpec, DEFAULT_GLOBAL_POOLS, DEFAULT_LOCAL_POOLS } from './default-pools.js';
export {
  InvalidArgumentError,
  IpAlreadyAllocatedError,
  IpOutOfRangeError,
  NetworkExistsError,
  NetworkInUseError,
  NetworkNotFoundError,
  type NetworkStateErrorCode,
  NoAvailableIpsError,
  NoAvailablePoolError,
  NodeNotDownError,
  NodeNotFoundError,
  PoolNotFoundError,
  PoolOverlapError,
  ServiceExistsError,
  ServiceNotFoundError,
} from './errors.js';
export type { AddressSpace, RequestAddressOptions, RequestPoolOptions } from './ipam.js';
export { type IpamApi, NetworkState, openNetworkState } from './network-state.js';
export type { RegisterNodeOptions } from './nodes.js';
export type { Offset } from './offset.js';
export type { ReconcileReport } from './reconcile.js';
export { canAdvance } from './task-state.js';
export {
  type AllocationResult,
  type CreateNetworkOptions,
  type CreateServiceOptions,
  DEFAULT_RESTART_DELAY_MS,
  type DesiredState,
  type EndpointMode,
  isTerminal,
  type Network,
  type NetworkDriver,
  type NetworkScope,
  type NetworkStateOptions,
  type NetworkSubnet,
  NODE_AVAILABILITIES,
  type Node,
  type NodeAvailability,
  type NodeState,
  PENDING_MESSAGE,
  type Service,
  type SubnetRequest,
  TASK_STATES,
  type Task,
  type TaskAttachment,
  type TaskState,
  type UpdateNodeOptions,
  type VirtualIp,
  VXLANID_LIST_OPTION,
} from './types.js';
export { DEFAULT_VXLAN_RANGE, VXLAN_MAX } from './vxlan.js';
export type { NetworkStateSnapshot } from './watch.js';
