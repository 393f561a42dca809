import { InvalidArgumentError, isKVError } from '../store/errors.js';
import { DELETE, readRecord, UNCHANGED, updateRecord, type Versioned } from './cas.js';
import { forEachLimit, WRITE_CONCURRENCY } from './concurrency.js';
import { parseConstraints } from './constraints.js';
import type { Context } from './context.js';
import { NetworkNotFoundError, ServiceExistsError, ServiceNotFoundError } from './errors.js';
import { newId } from './ids.js';
import {
  type NetworkRecord,
  publicService,
  type ServiceRecord,
  type TaskRecord,
  tasksOfSlot,
} from './records.js';
import {
  type CreateServiceOptions,
  DEFAULT_RESTART_DELAY_MS,
  isTerminal,
  type Service,
  type Task,
} from './types.js';

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

const MAX_COMMAND_ARGS = 1024;
/** How long createService waits for a service of the same name that is being removed (ms). */
const REMOVAL_WAIT_MS = 15_000;

/** Resolves true once `key` is absent, false after `timeoutMs`. */
async function waitUntilAbsent(ctx: Context, key: string, timeoutMs: number): Promise<boolean> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    for await (const pair of ctx.store.watch(key, { signal })) if (pair === null) return true;
  } catch (err) {
    if (!signal.aborted) throw err;
  }
  return false;
}

const MAX_COMMAND_CHARS = 64 * 1024;
/** Longest restart delay accepted: a day. */
export const MAX_RESTART_DELAY_MS = 86_400_000;

/** argv for the process executor: non-empty strings without NUL, bounded in count and size. */
export function checkCommand(command: unknown): string[] | undefined {
  if (command === undefined) return undefined;
  const ok =
    Array.isArray(command) &&
    command.length > 0 &&
    command.length <= MAX_COMMAND_ARGS &&
    command.every((a) => typeof a === 'string' && !a.includes('\u0000')) &&
    command[0] !== '' &&
    command.reduce((n: number, a: string) => n + a.length, 0) <= MAX_COMMAND_CHARS;
  if (!ok) {
    throw new InvalidArgumentError(
      `invalid command: a non-empty list of at most ${MAX_COMMAND_ARGS} strings (no NUL), the first naming the program`,
    );
  }
  return [...(command as string[])];
}

function checkWhole(value: unknown, name: string, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`invalid ${name} ${String(value)}: a whole number from 0 to ${max}`);
  }
  return value;
}

/** A task created in its slot: `new`, to be allocated, then scheduled. */
export function newTask(serviceId: string, slot: number, fields: Partial<Task> = {}): Task {
  const now = new Date().toISOString();
  return {
    id: newId(),
    serviceId,
    slot,
    state: 'new',
    desiredState: 'running',
    message: 'created',
    attachments: [],
    createdAt: now,
    updatedAt: now,
    ...fields,
  };
}

/**
 * True when some task of the slot may be running on a node: then the slot is not deleted at
 * once but shut down first (its agent stops the task; the manager deletes the slot after).
 */
export function isPlaced(record: TaskRecord): boolean {
  return tasksOfSlot(record).some((t) => t.nodeId !== undefined && !isTerminal(t.state));
}

/** The slot with every task still placed told to shut down; UNCHANGED when all already are. */
export function shutDownSlot(record: TaskRecord): TaskRecord | typeof UNCHANGED {
  const told = (t: Task) => t.desiredState === 'shutdown' || isTerminal(t.state);
  if (told(record) && (record.retired ?? []).every(told)) return UNCHANGED;
  const shut = <T extends Task>(t: T): T => (told(t) ? t : { ...t, desiredState: 'shutdown' });
  return { ...shut(record), ...(record.retired ? { retired: record.retired.map(shut) } : {}) };
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
  parseConstraints(opts.constraints);
  const command = checkCommand(opts.command);
  const restartDelayMs = checkWhole(
    opts.restartDelayMs,
    'restartDelayMs',
    MAX_RESTART_DELAY_MS,
    DEFAULT_RESTART_DELAY_MS,
  );
  const restartMaxAttempts = checkWhole(opts.restartMaxAttempts, 'restartMaxAttempts', 1_000_000, 0);
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
    constraints: [...(opts.constraints ?? [])],
    ...(command ? { command } : {}),
    restartDelayMs,
    restartMaxAttempts,
    createdAt: new Date().toISOString(),
    status: 'allocating',
  };
  const key = ctx.layout.service(opts.name);
  for (let attempt = 0; ; attempt++) {
    try {
      await ctx.store.atomicPut(key, JSON.stringify(record), null);
      break;
    } catch (err) {
      if (!isKVError(err, 'KEY_EXISTS')) throw err;
      // A service of that name still shutting its tasks down (`rm` then `create`, a common
      // script): wait a little for it to go, as docker's name is free once rm returned.
      const existing = await readRecord<ServiceRecord>(ctx.store, key);
      if (attempt > 0 || existing?.value.status !== 'removing') throw new ServiceExistsError(opts.name);
      if (!(await waitUntilAbsent(ctx, key, REMOVAL_WAIT_MS)))
        throw new ServiceExistsError(opts.name, 'is still being removed');
    }
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
  const { gone } = await retireSlots(ctx, await ctx.tasks(service.id), networks);
  // Tasks still placed on nodes are being shut down by their agents: the manager deletes their
  // slots once they stopped, and the next pass finishes the removal.
  if (!gone) return;
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
  await forEachLimit(missing, WRITE_CONCURRENCY, async (slot) => {
    const task = newTask(service.id, slot);
    try {
      const pair = await ctx.store.atomicPut(ctx.layout.task(service.id, slot), JSON.stringify(task), null);
      created.push({ value: task, pair });
    } catch (err) {
      if (!isKVError(err, 'KEY_EXISTS')) throw err;
    }
  });
  await retireSlots(ctx, extra, networks);
  return [...existing.filter((t) => t.value.slot <= service.replicas), ...created];
}

/**
 * Scale-down and removal: slots whose tasks never reached a node are deleted (and their
 * addresses freed) at once; slots with a task on a node are told to shut down instead — the
 * address stays held until the task has stopped (swarmkit#2407: freed too early, it was handed
 * to a new task while the old one still used it). `gone` is false while any slot remains.
 */
export async function retireSlots(
  ctx: Context,
  slots: Versioned<Task>[],
  networks: NetworkRecord[],
): Promise<{ gone: boolean }> {
  const unplaced: Versioned<Task>[] = [];
  let placed = 0;
  await forEachLimit(slots, WRITE_CONCURRENCY, async (slot) => {
    if (!isPlaced(slot.value as TaskRecord)) {
      unplaced.push(slot);
      return;
    }
    placed++;
    await updateRecord<TaskRecord>(ctx.store, slot.pair.key, (current) =>
      current?.id === slot.value.id ? shutDownSlot(current) : UNCHANGED,
    );
  });
  await ctx.removeTasks(unplaced, networks);
  return { gone: placed === 0 };
}
