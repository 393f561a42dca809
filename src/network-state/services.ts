import { InvalidArgumentError, isKVError } from '../store/errors.js';
import { DELETE, UNCHANGED, updateRecord, type Versioned } from './cas.js';
import { forEachLimit, WRITE_CONCURRENCY } from './concurrency.js';
import type { Context } from './context.js';
import { NetworkNotFoundError, ServiceExistsError, ServiceNotFoundError } from './errors.js';
import { newId } from './ids.js';
import { type NetworkRecord, publicService, type ServiceRecord } from './records.js';
import type { CreateServiceOptions, Service, Task } from './types.js';

/** A DNS label (RFC 1035 §2.3.4: at most 63 octets); service names become `<service>` and `tasks.<service>`. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

/**
 * Refuses a service name that cannot be a DNS label: over 63 characters, characters outside
 * `[A-Za-z0-9-]`, or a leading `-` (names that broke lookups in Docker, moby#46928).
 */
export function checkServiceName(name: unknown): string {
  if (typeof name !== 'string' || !SERVICE_NAME.test(name)) {
    throw new InvalidArgumentError(
      `invalid service name ${JSON.stringify(name)}: a service name is a DNS label of 1 to 63 letters, digits and '-', not starting with '-'`,
    );
  }
  return name;
}

/** Largest replica count accepted (a /8 worth of tasks). */
export const MAX_REPLICAS = 16_777_216;

export function checkReplicas(replicas: unknown): number {
  if (
    typeof replicas !== 'number' ||
    !Number.isInteger(replicas) ||
    replicas < 0 ||
    replicas > MAX_REPLICAS
  ) {
    throw new InvalidArgumentError(
      `invalid replica count ${String(replicas)}: must be a whole number from 0 to ${MAX_REPLICAS}`,
    );
  }
  return replicas;
}

/**
 * Creates a service and its tasks (`new`). The record is written before the networks are
 * checked again, so a network being removed at the same moment is seen by one side or the other
 * (removeNetwork marks the network, then looks for services).
 */
export async function createService(ctx: Context, opts: CreateServiceOptions): Promise<Service> {
  if (opts === null || typeof opts !== 'object')
    throw new InvalidArgumentError('createService needs options');
  checkServiceName(opts.name);
  const replicas = checkReplicas(opts.replicas);
  const endpointMode = opts.endpointMode ?? 'vip';
  if (endpointMode !== 'vip' && endpointMode !== 'dnsrr') {
    throw new InvalidArgumentError(`invalid endpoint mode ${JSON.stringify(endpointMode)}: use vip or dnsrr`);
  }
  if (!Array.isArray(opts.networks))
    throw new InvalidArgumentError('networks must be a list of network names or ids');
  const networks: Versioned<NetworkRecord>[] = [];
  for (const nameOrId of opts.networks) {
    const network = await ctx.findNetwork(nameOrId);
    if (network.value.status === 'removing') throw new NetworkNotFoundError(nameOrId, 'is being removed');
    if (networks.some((n) => n.value.id === network.value.id)) {
      throw new InvalidArgumentError(`network ${nameOrId} is given twice`);
    }
    networks.push(network);
  }
  const record: ServiceRecord = {
    id: newId(),
    name: opts.name,
    networks: networks.map((n) => n.value.id),
    replicas,
    endpointMode,
    virtualIps: [],
    ...(opts.image ? { image: String(opts.image) } : {}),
    createdAt: new Date().toISOString(),
    status: 'allocating',
  };
  const key = ctx.layout.service(opts.name);
  try {
    await ctx.store.atomicPut(key, JSON.stringify(record), null);
  } catch (err) {
    if (isKVError(err, 'KEY_EXISTS')) throw new ServiceExistsError(opts.name);
    throw err;
  }
  for (const network of networks) {
    const now = await ctx.findNetwork(network.value.id).catch(() => null);
    if (!now || now.value.status === 'removing') {
      await updateRecord<ServiceRecord>(ctx.store, key, (c) => (c?.id === record.id ? DELETE : UNCHANGED));
      throw new NetworkNotFoundError(network.value.name, 'was removed while the service was created');
    }
  }
  await convergeTasks(ctx, record, [], []);
  await ctx.bump();
  return publicService(record);
}

/** Sets the replica count and creates or removes tasks to match; removed tasks' addresses are freed. */
export async function scaleService(ctx: Context, nameOrId: string, replicas: number): Promise<Service> {
  checkReplicas(replicas);
  const found = await ctx.findService(nameOrId);
  const updated = await updateRecord<ServiceRecord>(ctx.store, found.pair.key, (current) => {
    if (current?.id !== found.value.id || current.status === 'removing')
      throw new ServiceNotFoundError(nameOrId);
    return current.replicas === replicas ? UNCHANGED : { ...current, replicas };
  });
  const service = updated as ServiceRecord;
  const networks = (await ctx.networks()).map((n) => n.value).filter((n) => service.networks.includes(n.id));
  await convergeTasks(ctx, service, await ctx.tasks(service.id), networks);
  await ctx.bump();
  return publicService(service);
}

/** Marks the service `removing`, then removes its tasks, frees their and its virtual IPs' addresses, and the record. */
export async function removeService(ctx: Context, nameOrId: string): Promise<void> {
  const found = await ctx.findService(nameOrId);
  const marked = await updateRecord<ServiceRecord>(ctx.store, found.pair.key, (current) => {
    if (current?.id !== found.value.id) throw new ServiceNotFoundError(nameOrId);
    return current.status === 'removing' ? UNCHANGED : { ...current, status: 'removing' };
  });
  await finishServiceRemoval(
    ctx,
    marked as ServiceRecord,
    (await ctx.networks()).map((n) => n.value),
  );
}

/**
 * The tail of a removal, also run by allocation passes for a service left `removing` by a crash.
 * Every step runs even if an earlier one failed; what could not be freed stays queued and is
 * garbage reconciliation frees (its owner is gone).
 */
export async function finishServiceRemoval(
  ctx: Context,
  service: ServiceRecord,
  allNetworks: NetworkRecord[],
): Promise<void> {
  const networks = allNetworks.filter((n) => service.networks.includes(n.id));
  await ctx.removeTasks(await ctx.tasks(service.id), networks);
  ctx.releaseLater(`vips:${service.id}`, async () => {
    const errors = await ctx.releaseClaimsOf(networks, new Set([`v:${service.id}`]));
    if (errors.length > 0) throw errors[0];
  });
  await ctx.retryLeftovers();
  await updateRecord<ServiceRecord>(ctx.store, ctx.layout.service(service.name), (current) =>
    current?.id === service.id ? DELETE : UNCHANGED,
  );
  await ctx.bump();
}

/**
 * Makes the service's tasks match its replica count: creates the missing slots (create-if-absent,
 * so two allocators converging at once make one task per slot) and removes slots above it.
 * Returns the tasks that now exist.
 */
export async function convergeTasks(
  ctx: Context,
  service: ServiceRecord,
  existing: Versioned<Task>[],
  networks: NetworkRecord[],
): Promise<Versioned<Task>[]> {
  const bySlot = new Map(existing.map((t) => [t.value.slot, t]));
  const extra = existing.filter((t) => t.value.slot > service.replicas);
  const missing: number[] = [];
  for (let slot = 1; slot <= service.replicas; slot++) if (!bySlot.has(slot)) missing.push(slot);
  const created: Versioned<Task>[] = [];
  const now = new Date().toISOString();
  await forEachLimit(missing, WRITE_CONCURRENCY, async (slot) => {
    const task: Task = {
      id: newId(),
      serviceId: service.id,
      slot,
      state: 'new',
      message: 'created',
      attachments: [],
      createdAt: now,
    };
    try {
      const pair = await ctx.store.atomicPut(ctx.layout.task(service.id, slot), JSON.stringify(task), null);
      created.push({ value: task, pair });
    } catch (err) {
      if (!isKVError(err, 'KEY_EXISTS')) throw err;
    }
  });
  await ctx.removeTasks(extra, networks);
  return [...existing.filter((t) => t.value.slot <= service.replicas), ...created];
}
