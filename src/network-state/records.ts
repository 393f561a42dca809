import type { Network, Service, Task } from './types.js';

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

/**
 * How tasks are stored: one record per slot holding the slot's current task, plus the tasks it
 * replaced (`retired`, newest first) while they shut down and for history. One record per slot
 * makes a replacement one compare-and-swap: the new task and the old one's retirement land
 * together, so a slot never has two current tasks.
 */
export interface TaskRecord extends Task {
  retired?: RetiredTask[];
}

/** A replaced task; `released` once its addresses went back to the pools. */
export interface RetiredTask extends Task {
  released?: boolean;
}

export function publicTask(record: TaskRecord): Task {
  const { retired: _retired, ...task } = record;
  return task;
}

/** The slot's current task and every retired one, current first. */
export function tasksOfSlot(record: TaskRecord): Task[] {
  return record.retired ? [publicTask(record), ...record.retired] : [record];
}
