import type { Store } from '../store/types.js';
import { listRecords, readRecord, type Versioned } from './cas.js';
import { forEachLimit, WRITE_CONCURRENCY } from './concurrency.js';
import { NetworkNotFoundError, ServiceNotFoundError } from './errors.js';
import { newId } from './ids.js';
import type { Ipam } from './ipam.js';
import type { Layout } from './layout.js';
import type { NetworkRecord, ServiceRecord } from './records.js';
import type { Task } from './types.js';
import type { VxlanIds } from './vxlan.js';

/** Resolved options. */
export interface Settings {
  leaderTtlMs: number;
  retryIntervalMs: number;
  abandonAfterMs: number;
}

/**
 * What every part of network state shares: the store, where keys go, the allocators, and the
 * read helpers. Also the queue of releases that failed midway, retried before the next pass
 * (reconciliation frees them too, if this process dies first).
 */
export class Context {
  readonly #leftovers = new Map<string, () => Promise<unknown>>();

  constructor(
    readonly store: Store,
    readonly layout: Layout,
    readonly ipam: Ipam,
    readonly vxlan: VxlanIds,
    readonly settings: Settings,
  ) {}

  /** Tells every allocator that something changed (a release may let a stuck task proceed). */
  async bump(): Promise<void> {
    await this.store.put(this.layout.changed, newId(8));
  }

  networks(): Promise<Versioned<NetworkRecord>[]> {
    return listRecords<NetworkRecord>(this.store, this.layout.networks);
  }

  services(): Promise<Versioned<ServiceRecord>[]> {
    return listRecords<ServiceRecord>(this.store, this.layout.services);
  }

  tasks(serviceId?: string): Promise<Versioned<Task>[]> {
    return listRecords<Task>(this.store, serviceId ? this.layout.serviceTasks(serviceId) : this.layout.tasks);
  }

  /** A network by name, id or unique id prefix; NETWORK_NOT_FOUND otherwise. */
  async findNetwork(nameOrId: string): Promise<Versioned<NetworkRecord>> {
    const found = await this.#find(
      nameOrId,
      (name) => this.layout.network(name),
      () => this.networks(),
    );
    if (!found) throw new NetworkNotFoundError(String(nameOrId));
    return found;
  }

  /** A service by name, id or unique id prefix; SERVICE_NOT_FOUND otherwise. */
  async findService(nameOrId: string): Promise<Versioned<ServiceRecord>> {
    const found = await this.#find(
      nameOrId,
      (name) => this.layout.service(name),
      () => this.services(),
    );
    if (!found) throw new ServiceNotFoundError(String(nameOrId));
    return found;
  }

  async #find<T extends { id: string; name: string }>(
    nameOrId: string,
    keyOf: (name: string) => string,
    all: () => Promise<Versioned<T>[]>,
  ): Promise<Versioned<T> | null> {
    if (typeof nameOrId !== 'string' || nameOrId === '') return null;
    if (!nameOrId.includes('/')) {
      const byName = await readRecord<T>(this.store, keyOf(nameOrId));
      if (byName) return byName;
    }
    const records = await all();
    const exact = records.find((r) => r.value.id === nameOrId);
    if (exact) return exact;
    const prefixed = records.filter((r) => r.value.id.startsWith(nameOrId));
    return prefixed.length === 1 ? prefixed[0] : null;
  }

  /**
   * Frees, in the pools of `networks`, every claim whose owner is in `owners` (one load and one
   * batched release per pool). Every pool is tried; the errors of those that failed are returned.
   */
  async releaseClaimsOf(networks: NetworkRecord[], owners: Set<string>): Promise<unknown[]> {
    const errors: unknown[] = [];
    const poolIds = new Set(networks.flatMap((n) => n.subnets.map((s) => s.poolId)));
    await forEachLimit([...poolIds], 8, async (poolId) => {
      try {
        const pool = await this.ipam.pool(poolId).catch((err) => {
          if ((err as { code?: string }).code === 'POOL_NOT_FOUND') return null;
          throw err;
        });
        if (!pool) return;
        const snapshot = await pool.claims.load();
        const mine = [...snapshot.claims()].filter((c) => owners.has(c.owner));
        if (mine.length > 0) await pool.claims.release(mine);
      } catch (err) {
        errors.push(err);
      }
    });
    return errors;
  }

  /**
   * Deletes task records first (so their claims have no owner any more), then frees their claims.
   * If freeing fails midway the claims are garbage that the next pass retries and reconciliation
   * frees; the records are gone either way.
   */
  async removeTasks(tasks: Versioned<Task>[], networks: NetworkRecord[]): Promise<void> {
    if (tasks.length === 0) return;
    await forEachLimit(tasks, WRITE_CONCURRENCY, async (task) => {
      await this.store.delete(task.pair.key);
    });
    const owners = new Set(tasks.map((t) => `t:${t.value.id}`));
    this.releaseLater(`tasks:${newId(8)}`, async () => {
      const errors = await this.releaseClaimsOf(networks, owners);
      if (errors.length > 0) throw errors[0];
    });
    await this.retryLeftovers();
  }

  /** Frees everything a network holds: its pools (with every claim in them) and its VNIs. */
  async releaseNetworkResources(networkId: string): Promise<void> {
    const owner = `n:${networkId}`;
    this.releaseLater(`pools:${networkId}`, () => this.ipam.releasePoolsOwnedBy(owner));
    this.releaseLater(`vnis:${networkId}`, async () => {
      const snapshot = await this.vxlan.space.load();
      const held = snapshot.heldBy(owner);
      if (held.length > 0) await this.vxlan.space.release(held.map((offset) => ({ offset, owner })));
    });
    await this.retryLeftovers();
  }

  /** Queues a release step; it is tried at once by `retryLeftovers` and again until it succeeds. */
  releaseLater(key: string, step: () => Promise<unknown>): void {
    this.#leftovers.set(key, step);
  }

  /**
   * Runs every queued release step. Each one runs even if another fails (a release that stops at
   * its first error is how moby#37338 leaked addresses); failed steps stay queued.
   */
  async retryLeftovers(): Promise<number> {
    let failed = 0;
    for (const [key, step] of [...this.#leftovers]) {
      try {
        await step();
        this.#leftovers.delete(key);
      } catch {
        failed++;
      }
    }
    return failed;
  }

  get pendingReleases(): number {
    return this.#leftovers.size;
  }
}
