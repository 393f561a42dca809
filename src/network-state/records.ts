import type { Network, Service } from './types.js';

/** allocating: pools, gateway and VNIs being reserved; ready: usable; removing: being torn down. */
export type NetworkStatus = 'allocating' | 'ready' | 'removing';

/** How networks are stored: the public shape plus where it is in its life. */
export interface NetworkRecord extends Network {
  status: NetworkStatus;
}

/** allocating: virtual IPs not yet committed; allocated: tasks may be allocated; removing: being torn down. */
export type ServiceStatus = 'allocating' | 'allocated' | 'removing';

export interface ServiceRecord extends Service {
  status: ServiceStatus;
}

export function publicNetwork(record: NetworkRecord): Network {
  const { status: _status, ...network } = record;
  return network;
}

export function publicService(record: ServiceRecord): Service {
  const { status: _status, ...service } = record;
  return service;
}
