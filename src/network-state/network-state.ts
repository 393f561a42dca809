import { ClosedError, InvalidArgumentError } from '../store/errors.js';
import { anySignal } from '../store/signals.js';
import type { Store } from '../store/types.js';
import { allocationPass } from './allocator.js';
import { listRecords, updateRecord } from './cas.js';
import { Context } from './context.js';
import { DEFAULT_GLOBAL_POOLS, DEFAULT_LOCAL_POOLS, resolveDefaultPools } from './default-pools.js';
import { Ipam, type RequestAddressOptions, type RequestPoolOptions } from './ipam.js';
import { Layout } from './layout.js';
import { createNetwork, removeNetwork } from './networks.js';
import {
  findNode,
  listNodes,
  type RegisterNodeOptions,
  registerNode,
  removeNode,
  updateNode,
} from './nodes.js';
import type { Offset } from './offset.js';
import { type ReconcileReport, reconcile } from './reconcile.js';
import { publicNetwork, publicService, publicTask, type TaskRecord, tasksOfSlot } from './records.js';
import { runAllocatorLoop } from './run-allocator.js';
import { createService, removeService, scaleService } from './services.js';
import { checkAdvance } from './task-state.js';
import type {
  AllocationResult,
  CreateNetworkOptions,
  CreateServiceOptions,
  Network,
  NetworkStateOptions,
  Node,
  Service,
  Task,
  TaskState,
  UpdateNodeOptions,
} from './types.js';
import { DEFAULT_VXLAN_RANGE, VxlanIds } from './vxlan.js';
import { type NetworkStateSnapshot, watchNetworkState } from './watch.js';

/** libnetwork's IPAM calls, on the store. */
export interface IpamApi {
  requestPool(opts?: RequestPoolOptions): Promise<{ poolId: string; pool: string }>;
  releasePool(poolId: string): Promise<void>;
  /** Resolves with the address and the pool's prefix length, `10.9.0.5/24`. */
  requestAddress(poolId: string, opts?: RequestAddressOptions): Promise<string>;
  releaseAddress(poolId: string, address: string): Promise<void>;
  /** How many addresses the pool (or sub-pool) hands out, holds and has left. */
  usage(poolId: string): Promise<{ capacity: Offset; used: Offset; free: Offset }>;
}

/**
 * Docker Swarm's network state on any Store: overlay networks with their pools and VXLAN IDs,
 * services with virtual IPs, tasks with one address per network. Everything lives under the
 * prefix; any number of processes may use one store at once.
 */
export class NetworkState implements AsyncDisposable {
  readonly ipam: IpamApi;
  readonly #ctx: Context;
  readonly #closing = new AbortController();
  readonly #running = new Set<Promise<void>>();
  #current: Promise<AllocationResult> | null = null;
  #queued: Promise<AllocationResult> | null = null;

  constructor(store: Store, opts: NetworkStateOptions = {}) {
    const layout = new Layout(opts.prefix ?? 'kvkit/network');
    if (layout.root === '') throw new InvalidArgumentError('network state needs a non-empty prefix');
    const ipam = new Ipam(store, layout, {
      global: resolveDefaultPools(opts.defaultAddrPools ?? DEFAULT_GLOBAL_POOLS),
      local: resolveDefaultPools(DEFAULT_LOCAL_POOLS),
    });
    const vxlan = new VxlanIds(store, layout, opts.vxlanRange ?? DEFAULT_VXLAN_RANGE);
    this.#ctx = new Context(store, layout, ipam, vxlan, {
      leaderTtlMs: positive(opts.leaderTtlMs, 10_000, 'leaderTtlMs'),
      retryIntervalMs: positive(opts.retryIntervalMs, 60_000, 'retryIntervalMs'),
      abandonAfterMs: positive(opts.abandonAfterMs, 60_000, 'abandonAfterMs'),
    });
    this.ipam = {
      requestPool: (o) => this.#open(() => ipam.requestPool(o)),
      releasePool: (id) => this.#open(() => ipam.releasePool(id)),
      requestAddress: (id, o) => this.#open(() => ipam.requestAddress(id, o)),
      releaseAddress: async (id, address) => {
        await this.#open(() => ipam.releaseAddress(id, address));
        await this.#ctx.bump();
      },
      usage: (id) => this.#open(() => ipam.usage(id)),
    };
  }

  createNetwork(opts: CreateNetworkOptions): Promise<Network> {
    return this.#open(() => createNetwork(this.#ctx, opts));
  }

  inspectNetwork(nameOrId: string): Promise<Network> {
    return this.#open(async () => publicNetwork((await this.#ctx.findNetwork(nameOrId)).value));
  }

  listNetworks(): Promise<Network[]> {
    return this.#open(async () => (await this.#ctx.networks()).map((n) => publicNetwork(n.value)));
  }

  removeNetwork(nameOrId: string): Promise<void> {
    return this.#open(() => removeNetwork(this.#ctx, nameOrId));
  }

  createService(opts: CreateServiceOptions): Promise<Service> {
    return this.#open(() => createService(this.#ctx, opts));
  }

  inspectService(nameOrId: string): Promise<Service> {
    return this.#open(async () => publicService((await this.#ctx.findService(nameOrId)).value));
  }

  listServices(): Promise<Service[]> {
    return this.#open(async () =>
      (await this.#ctx.services())
        .filter((s) => s.value.status !== 'removing')
        .map((s) => publicService(s.value)),
    );
  }

  scaleService(nameOrId: string, replicas: number): Promise<Service> {
    return this.#open(() => scaleService(this.#ctx, nameOrId, replicas));
  }

  removeService(nameOrId: string): Promise<void> {
    return this.#open(() => removeService(this.#ctx, nameOrId));
  }

  /**
   * Tasks of one service (name or id) or of all, by service and slot: the current task of each
   * slot, and with `history: true` also the tasks each slot replaced (newest first after it).
   */
  listTasks(opts: { service?: string; history?: boolean } = {}): Promise<Task[]> {
    return this.#open(async () => {
      const serviceId =
        opts.service === undefined ? undefined : (await this.#ctx.findService(opts.service)).value.id;
      const records = (await this.#ctx.tasks(serviceId)).map((t) => t.value as TaskRecord);
      return opts.history ? records.flatMap((r) => tasksOfSlot(r)) : records.map(publicTask);
    });
  }

  /** Every worker node, by id. */
  listNodes(): Promise<Node[]> {
    return this.#open(async () => (await listNodes(this.#ctx)).map((n) => n.value));
  }

  /** A node by id, hostname or unique id prefix; NODE_NOT_FOUND otherwise. */
  inspectNode(idOrHostname: string): Promise<Node> {
    return this.#open(async () => (await findNode(this.#ctx, idOrHostname)).value);
  }

  /** Sets a node's availability (`drain` moves its tasks away, `pause` takes no new ones) or its labels. */
  updateNode(idOrHostname: string, opts: UpdateNodeOptions): Promise<Node> {
    return this.#open(() => updateNode(this.#ctx, idOrHostname, opts));
  }

  /** Removes a node that is `down` (or any, with `force`); its tasks are orphaned and replaced. */
  removeNode(idOrHostname: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.#open(() => removeNode(this.#ctx, idOrHostname, opts.force === true));
  }

  /** What an agent does when it starts (startAgent): a new node, or a down one of that hostname taken over. */
  registerNode(opts: RegisterNodeOptions): Promise<Node> {
    return this.#open(() => registerNode(this.#ctx, opts));
  }

  /**
   * Moves a task forward (a scheduler or agent reporting progress); INVALID_ARGUMENT when the
   * state would go backwards. Not part of allocation; provided so states can be driven on.
   */
  updateTaskState(taskId: string, state: TaskState, message = ''): Promise<Task> {
    return this.#open(async () => {
      const found = (await listRecords<TaskRecord>(this.#ctx.store, this.#ctx.layout.tasks)).find(
        (t) => t.value.id === taskId,
      );
      if (!found) throw new InvalidArgumentError(`task ${taskId} not found`);
      const next = await updateRecord<TaskRecord>(this.#ctx.store, found.pair.key, (current) => {
        if (current?.id !== taskId) throw new InvalidArgumentError(`task ${taskId} not found`);
        checkAdvance(taskId, current.state, state);
        return { ...current, state, message, updatedAt: new Date().toISOString() };
      });
      return publicTask(next as TaskRecord);
    });
  }

  /**
   * Gives back the addresses the given tasks hold (their claims, owner-checked: an address
   * reassigned meanwhile is not touched). For the Swarm manager, once a task has stopped or its
   * slot is gone. A release that fails is retried before the next allocation pass.
   */
  releaseTaskAddresses(tasks: readonly Task[]): Promise<void> {
    return this.#open(async () => {
      const withAddresses = tasks.filter((t) => t.attachments.some((a) => a.addresses.length > 0));
      if (withAddresses.length === 0) return;
      const networkIds = new Set(withAddresses.flatMap((t) => t.attachments.map((a) => a.networkId)));
      const networks = (await this.#ctx.networks()).map((n) => n.value).filter((n) => networkIds.has(n.id));
      const owners = new Set(withAddresses.map((t) => `t:${t.id}`));
      this.#ctx.releaseLater(`swarm:${withAddresses[0].id}:${withAddresses.length}`, async () => {
        const errors = await this.#ctx.releaseClaimsOf(networks, owners);
        if (errors.length > 0) throw errors[0];
      });
      await this.#ctx.retryLeftovers();
      await this.#ctx.bump();
    });
  }

  /**
   * Networks, services (not being removed) and tasks as a whole now, then after every change
   * (the latest snapshot when changes come faster than they are read). Ends on abort or
   * close(); a store error ends it with that error (open it again to resync).
   */
  watch(opts: { signal?: AbortSignal } = {}): AsyncIterable<NetworkStateSnapshot> {
    if (this.#closing.signal.aborted) throw new ClosedError('network state is closed');
    return watchNetworkState(this.#ctx.store, this.#ctx.layout, anySignal(opts.signal, this.#closing.signal));
  }

  /**
   * One allocation pass over everything not yet allocated; resolves once its writes are
   * committed. Calls made while a pass runs share the next one.
   */
  allocate(): Promise<AllocationResult> {
    return this.#open(() => {
      if (this.#queued) return this.#queued;
      const previous = this.#current ?? Promise.resolve();
      const next = previous
        .catch(() => undefined)
        .then(() => {
          this.#queued = null;
          this.#current = next;
          return allocationPass(this.#ctx);
        });
      this.#queued = next;
      return next;
    });
  }

  /**
   * Frees what crashed processes left behind (claims whose owner is gone, half-removed networks
   * and services). runAllocator does this when it starts leading; safe to call at any time.
   */
  reconcile(): Promise<ReconcileReport> {
    return this.#open(() => reconcile(this.#ctx));
  }

  /**
   * Runs the allocator until `signal` aborts (or close()): leads through a store lock, reconciles,
   * then allocates whenever something changes. Resolves once it has stopped cleanly.
   */
  runAllocator(opts: { signal?: AbortSignal; onError?: (err: unknown) => void } = {}): Promise<void> {
    return this.#open(() => {
      const signal = anySignal(opts.signal, this.#closing.signal);
      const run = runAllocatorLoop(
        this.#ctx,
        { pass: () => this.allocate(), reconcile: () => reconcile(this.#ctx), onError: opts.onError },
        signal,
      ).finally(() => this.#running.delete(run));
      this.#running.add(run);
      return run;
    });
  }

  /** Stops every runAllocator of this instance and waits for them. The store stays open (it is the caller's). */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(new ClosedError('network state is closed'));
    await Promise.allSettled([...this.#running, this.#current]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #open<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closing.signal.aborted) throw new ClosedError('network state is closed');
    return work();
  }
}

/** Opens network state on a store. Nothing is written until the first change. */
export async function openNetworkState(store: Store, opts: NetworkStateOptions = {}): Promise<NetworkState> {
  if (!store || typeof store.atomicPut !== 'function')
    throw new InvalidArgumentError('openNetworkState needs a Store');
  return new NetworkState(store, opts);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}
