import { InvalidArgumentError, KVError } from '../store/errors.js';

/**
 * The network-state errors: each a KVError with a stable code, and a message that names the
 * offending value (the pool, the address, the network) so the CLI can print it as it is.
 * Malformed input (a bad CIDR, a gateway outside its subnet, negative replicas) is the store's
 * `InvalidArgumentError` (`INVALID_ARGUMENT`), re-exported here.
 */
export { InvalidArgumentError };

export type NetworkStateErrorCode =
  | 'POOL_OVERLAP'
  | 'NO_AVAILABLE_POOL'
  | 'NO_AVAILABLE_IPS'
  | 'IP_ALREADY_ALLOCATED'
  | 'IP_OUT_OF_RANGE'
  | 'POOL_NOT_FOUND'
  | 'NETWORK_EXISTS'
  | 'NETWORK_NOT_FOUND'
  | 'NETWORK_IN_USE'
  | 'SERVICE_EXISTS'
  | 'SERVICE_NOT_FOUND'
  | 'NODE_NOT_FOUND'
  | 'NODE_NOT_DOWN'
  | 'INVALID_ARGUMENT';

/** A requested pool contains, or lies inside, a pool of the same address space. */
export class PoolOverlapError extends KVError {
  constructor(pool: string, existing: string, addressSpace: string) {
    super(
      'POOL_OVERLAP',
      `pool ${pool} overlaps with existing pool ${existing} in address space ${addressSpace}`,
    );
  }
}

/** No default pool is left that overlaps nothing (or no VXLAN ID is left). */
export class NoAvailablePoolError extends KVError {
  constructor(message: string) {
    super('NO_AVAILABLE_POOL', message);
  }
}

/** Every address of a pool (or its ip-range) is taken. */
export class NoAvailableIpsError extends KVError {
  constructor(where: string) {
    super('NO_AVAILABLE_IPS', `no available addresses on ${where}`);
  }
}

export class IpAlreadyAllocatedError extends KVError {
  constructor(address: string, poolId: string) {
    super('IP_ALREADY_ALLOCATED', `address ${address} is already in use in pool ${poolId}`);
  }
}

export class IpOutOfRangeError extends KVError {
  constructor(address: string, where: string) {
    super('IP_OUT_OF_RANGE', `address ${address} is out of range: ${where}`);
  }
}

export class PoolNotFoundError extends KVError {
  constructor(poolId: string) {
    super('POOL_NOT_FOUND', `address pool not found: ${poolId}`);
  }
}

export class NetworkExistsError extends KVError {
  constructor(name: string) {
    super('NETWORK_EXISTS', `network with name ${name} already exists`);
  }
}

export class NetworkNotFoundError extends KVError {
  constructor(nameOrId: string, why = 'not found') {
    super('NETWORK_NOT_FOUND', `network ${nameOrId} ${why}`);
  }
}

export class NetworkInUseError extends KVError {
  constructor(name: string, users: string[]) {
    super('NETWORK_IN_USE', `network ${name} is in use by service ${users.join(', ')}`);
  }
}

export class ServiceExistsError extends KVError {
  constructor(name: string, why = 'already exists') {
    super('SERVICE_EXISTS', `service with name ${name} ${why}`);
  }
}

export class ServiceNotFoundError extends KVError {
  constructor(nameOrId: string) {
    super('SERVICE_NOT_FOUND', `service ${nameOrId} not found`);
  }
}

export class NodeNotFoundError extends KVError {
  constructor(idOrHostname: string, why = 'not found') {
    super('NODE_NOT_FOUND', `node ${idOrHostname} ${why}`);
  }
}

/** docker's FailedPrecondition: a node still ready is only removed when forced. */
export class NodeNotDownError extends KVError {
  constructor(idOrHostname: string) {
    super(
      'NODE_NOT_DOWN',
      `node ${idOrHostname} is not down and can't be removed (force it, or stop its agent first)`,
    );
  }
}
