import { sleep } from '../store/signals.js';
import { readRecord, type Versioned } from './cas.js';
import type { Claim, ClaimSnapshot } from './claim-space.js';
import { forEachLimit, WRITE_CONCURRENCY } from './concurrency.js';
import type { Context } from './context.js';
import type { PoolRef } from './ipam.js';
import { nextOffset, type Offset } from './offset.js';
import type { NetworkRecord, ServiceRecord } from './records.js';
import { convergeTasks, finishServiceRemoval } from './services.js';
import { type AllocationResult, PENDING_MESSAGE, type Task, type TaskAttachment } from './types.js';

/** Rounds of re-planning after lost compare-and-swaps before a pass leaves the rest to the next pass. */
const MAX_ROUNDS = 64;

/** One pool as a pass sees it: its claims as loaded and the serial cursor the pass advances. */
interface PoolState {
  ref: PoolRef;
  snapshot: ClaimSnapshot;
  cursor: Offset | undefined;
  moved: boolean;
}

/** Pools loaded once per pass (one list per pool), reloaded only after a lost race. */
class PoolCache {
  readonly #ctx: Context;
  readonly #states = new Map<string, PoolState | null>();

  constructor(ctx: Context) {
    this.#ctx = ctx;
  }

  async load(poolIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(poolIds)].filter((id) => !this.#states.has(id));
    await forEachLimit(missing, 8, async (poolId) => {
      const ref = await this.#ctx.ipam.pool(poolId).catch((err) => {
        if ((err as { code?: string }).code === 'POOL_NOT_FOUND') return null;
        throw err;
      });
      if (!ref) {
        this.#states.set(poolId, null);
        return;
      }
      const [snapshot, cursors] = await Promise.all([ref.claims.load(), ref.claims.readCursors()]);
      this.#states.set(poolId, { ref, snapshot, cursor: cursors.get(ref.scope), moved: false });
    });
  }

  get(poolId: string): PoolState | null {
    return this.#states.get(poolId) ?? null;
  }

  async reload(state: PoolState): Promise<void> {
    state.snapshot = await state.ref.claims.load();
  }

  /** Persists each moved cursor, so the next pass (or a restarted process) continues after it. */
  async saveCursors(): Promise<void> {
    const moved = [...this.#states.values()].filter((s): s is PoolState => s?.moved === true);
    await forEachLimit(moved, 8, async (s) => {
      if (s.cursor !== undefined) await s.ref.claims.writeCursor(s.ref.scope, s.cursor);
    });
  }
}

/** Something that needs one address on each of some networks: a service's VIPs or a task. */
interface Need {
  owner: string;
  networks: NetworkRecord[];
}

interface Placement {
  networkId: string;
  pool: PoolState;
  offset: Offset;
  committed: boolean;
}

type Outcome = { ok: true; placements: Placement[] } | { ok: false; reason: string };

/**
 * Gives every need an address on each of its networks, all or nothing, with as few writes as
 * possible: every address of a round is planned in memory first (restoring addresses an owner
 * already holds, then serially from the pool's cursor), then each touched chunk is written with
 * one compare-and-swap. A lost race reloads that pool and re-plans only what was lost. An owner
 * that cannot get every address gives back the ones it got.
 */
async function claimAll(ctx: Context, pools: PoolCache, needs: Need[]): Promise<Map<string, Outcome>> {
  const placements = new Map<string, Map<string, Placement>>();
  const outcomes = new Map<string, Outcome>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const planned: Placement[] = [];
    const plannedOwner = new Map<Placement, string>();
    for (const need of needs) {
      if (outcomes.has(need.owner)) continue;
      let mine = placements.get(need.owner);
      if (!mine) placements.set(need.owner, (mine = new Map()));
      const fresh: Placement[] = [];
      for (const network of need.networks) {
        if (mine.has(network.id) || network.subnets.length === 0) continue;
        const placement = place(pools, network, need.owner);
        if (!placement) {
          for (const p of fresh) {
            p.pool.snapshot.bits.unset(p.offset);
            mine.delete(p.networkId);
          }
          fresh.length = 0;
          outcomes.set(need.owner, {
            ok: false,
            reason: `no available addresses on network ${network.name}`,
          });
          break;
        }
        mine.set(network.id, placement);
        if (!placement.committed) fresh.push(placement);
      }
      for (const p of fresh) {
        planned.push(p);
        plannedOwner.set(p, need.owner);
      }
    }
    if (planned.length === 0) break;
    const byPool = new Map<PoolState, Placement[]>();
    for (const p of planned) {
      const list = byPool.get(p.pool);
      if (list) list.push(p);
      else byPool.set(p.pool, [p]);
    }
    let conflicts = false;
    await Promise.all(
      [...byPool].map(async ([pool, list]) => {
        const claimOf = new Map<Offset, Placement>();
        const claims: Claim[] = list.map((p) => {
          claimOf.set(p.offset, p);
          return { offset: p.offset, owner: plannedOwner.get(p) as string };
        });
        const result = await pool.ref.claims.commit(pool.snapshot, claims);
        for (const c of result.committed) (claimOf.get(c.offset) as Placement).committed = true;
        const lost = [...result.conflicted, ...result.failed.flatMap((f) => f.claims)];
        for (const c of lost) {
          const p = claimOf.get(c.offset) as Placement;
          placements.get(c.owner)?.delete(p.networkId);
        }
        if (lost.length > 0) {
          conflicts = true;
          await pools.reload(pool);
        }
      }),
    );
    if (!conflicts) break;
    // Several allocators planning from the same cursor collide; a little jitter spreads them.
    if (round > 1) await sleep(Math.floor(Math.random() * 5 * round));
  }
  const rollback: Placement[] = [];
  const rollbackOwner = new Map<Placement, string>();
  for (const need of needs) {
    const mine = placements.get(need.owner) ?? new Map<string, Placement>();
    const outcome = outcomes.get(need.owner);
    const wanted = need.networks.filter((n) => n.subnets.length > 0);
    const complete = wanted.every((n) => mine.get(n.id)?.committed);
    if (!outcome && complete) {
      outcomes.set(need.owner, { ok: true, placements: wanted.map((n) => mine.get(n.id) as Placement) });
      continue;
    }
    if (!outcome) outcomes.set(need.owner, { ok: false, reason: 'lost every race for an address; retrying' });
    for (const p of mine.values()) {
      if (!p.committed) continue;
      rollback.push(p);
      rollbackOwner.set(p, need.owner);
    }
  }
  await releasePlacements(ctx, rollback, (p) => rollbackOwner.get(p) as string);
  return outcomes;
}

/** An address for `owner` on `network`: one it already holds (restored), else the next free one. */
function place(pools: PoolCache, network: NetworkRecord, owner: string): Placement | null {
  const states = network.subnets.map((s) => pools.get(s.poolId)).filter((s): s is PoolState => s !== null);
  for (const pool of states) {
    const { first, last } = pool.ref.bounds;
    const held = pool.snapshot.heldBy(owner).find((o) => o >= first && o <= last);
    if (held !== undefined) return { networkId: network.id, pool, offset: held, committed: true };
  }
  for (const pool of states) {
    const { first, last } = pool.ref.bounds;
    if (last < first) continue;
    const offset = pool.snapshot.bits.allocate({ from: first, to: last, cursor: pool.cursor });
    if (offset === null) continue;
    pool.cursor = nextOffset(offset);
    pool.moved = true;
    return { networkId: network.id, pool, offset, committed: false };
  }
  return null;
}

async function releasePlacements(
  ctx: Context,
  list: Placement[],
  ownerOf: (p: Placement) => string,
): Promise<void> {
  const byPool = new Map<PoolState, Claim[]>();
  for (const p of list) {
    const claims = byPool.get(p.pool) ?? [];
    claims.push({ offset: p.offset, owner: ownerOf(p) });
    byPool.set(p.pool, claims);
  }
  for (const [pool, claims] of byPool) {
    const release = () => pool.ref.claims.release(claims);
    await release().catch(() =>
      ctx.releaseLater(`rollback:${pool.ref.poolId}:${String(claims[0].offset)}`, release),
    );
  }
}

function attachmentsOf(placements: Placement[]): TaskAttachment[] {
  return placements.map((p) => ({
    networkId: p.networkId,
    addresses: [p.pool.ref.subnet.addressWithPrefix(p.offset)],
  }));
}

/**
 * One allocation pass, swarmkit's order: finish what crashed callers left (removals, missing or
 * extra task slots), give services their virtual IPs, then every `new` task whose service and
 * networks are ready an address per network, committed `pending`. Safe to run in any number of
 * processes at once: every write is a compare-and-swap and a lost one is redone from a fresh read.
 */
export async function allocationPass(ctx: Context): Promise<AllocationResult> {
  await ctx.retryLeftovers();
  // Read in creation order reversed (tasks, then services, then networks): whatever a task or
  // service refers to was created before it, so it is in the later listing.
  let tasks = await ctx.tasks();
  const serviceList = await ctx.services();
  const networkList = await ctx.networks();
  const networks = new Map(networkList.map((n) => [n.value.id, n.value]));
  const services = new Map(serviceList.map((s) => [s.value.id, s]));

  tasks = await converge(
    ctx,
    tasks,
    serviceList,
    networkList.map((n) => n.value),
  );

  const pools = new PoolCache(ctx);
  const poolIdsOf = (ids: string[]) =>
    ids.flatMap((id) => networks.get(id)?.subnets.map((s) => s.poolId) ?? []);
  const waiting = (s: ServiceRecord) => s.networks.find((id) => networks.get(id)?.status !== 'ready');

  // Services first: a task is only allocated once its service is.
  const serviceNeeds: Need[] = [];
  for (const { value: s } of serviceList) {
    if (s.status !== 'allocating' || waiting(s)) continue;
    serviceNeeds.push({
      owner: `v:${s.id}`,
      networks: s.endpointMode === 'vip' ? s.networks.map((id) => networks.get(id) as NetworkRecord) : [],
    });
  }
  await pools.load(
    serviceNeeds.flatMap((n) => n.networks.flatMap((net) => net.subnets.map((s) => s.poolId))),
  );
  const serviceWhy = new Map<string, string>();
  const serviceOutcomes = await claimAll(ctx, pools, serviceNeeds);
  for (const [owner, outcome] of serviceOutcomes) {
    const found = services.get(owner.slice(2)) as Versioned<ServiceRecord>;
    if (!outcome.ok) {
      serviceWhy.set(
        found.value.id,
        `waiting for a virtual IP of service ${found.value.name}: ${outcome.reason}`,
      );
      continue;
    }
    const vips = outcome.placements.map((p) => ({
      networkId: p.networkId,
      addr: p.pool.ref.subnet.addressWithPrefix(p.offset),
    }));
    const committed = await commitService(ctx, found, vips);
    if (committed.ok) {
      services.set(found.value.id, committed.service as Versioned<ServiceRecord>);
    } else {
      // Removed, or allocated by another allocator meanwhile (maybe with the very claims we
      // restored): give back only what its record does not hold.
      const kept = new Set(committed.service?.value.virtualIps.map((v) => v.addr) ?? []);
      const unused = outcome.placements.filter(
        (p) => !kept.has(p.pool.ref.subnet.addressWithPrefix(p.offset)),
      );
      await releasePlacements(ctx, unused, () => owner);
      if (committed.service) services.set(found.value.id, committed.service);
    }
  }

  // Then tasks.
  const taskNeeds: Need[] = [];
  const stuck = new Map<Versioned<Task>, string>();
  const byOwner = new Map<string, Versioned<Task>>();
  for (const task of tasks) {
    if (task.value.state !== 'new' || task.value.desiredState === 'shutdown') continue;
    const service = services.get(task.value.serviceId)?.value;
    if (!service) continue;
    const pendingNetwork = waiting(service);
    if (pendingNetwork) {
      const name = networks.get(pendingNetwork)?.name ?? pendingNetwork;
      stuck.set(task, `waiting for network ${name} to be allocated`);
    } else if (service.status !== 'allocated') {
      stuck.set(task, serviceWhy.get(service.id) ?? `waiting for service ${service.name} to be allocated`);
    } else {
      const owner = `t:${task.value.id}`;
      byOwner.set(owner, task);
      taskNeeds.push({ owner, networks: service.networks.map((id) => networks.get(id) as NetworkRecord) });
    }
  }
  await pools.load(poolIdsOf([...new Set(taskNeeds.flatMap((n) => n.networks.map((net) => net.id)))]));
  const taskOutcomes = await claimAll(ctx, pools, taskNeeds);

  let allocated = 0;
  const commits: [Versioned<Task>, Placement[]][] = [];
  for (const [owner, outcome] of taskOutcomes) {
    const task = byOwner.get(owner) as Versioned<Task>;
    if (outcome.ok) commits.push([task, outcome.placements]);
    else stuck.set(task, outcome.reason);
  }
  await forEachLimit(commits, WRITE_CONCURRENCY, async ([task, placements]) => {
    if (await commitTask(ctx, task, placements)) allocated++;
  });
  await forEachLimit([...stuck], WRITE_CONCURRENCY, async ([task, message]) => {
    if (task.value.message === message) return;
    const next: Task = { ...task.value, message };
    await ctx.store.atomicPut(task.pair.key, JSON.stringify(next), task.pair).catch(() => undefined);
  });
  await pools.saveCursors();
  const unallocated = tasks.filter((t) => t.value.state === 'new').length - allocated;
  return { allocated, unallocated };
}

/** Crash repair every pass: finish removals, drop tasks of vanished services, match replica counts. */
async function converge(
  ctx: Context,
  tasks: Versioned<Task>[],
  services: Versioned<ServiceRecord>[],
  networks: NetworkRecord[],
): Promise<Versioned<Task>[]> {
  const byService = new Map<string, Versioned<Task>[]>();
  for (const t of tasks) {
    const list = byService.get(t.value.serviceId);
    if (list) list.push(t);
    else byService.set(t.value.serviceId, [t]);
  }
  const live: Versioned<Task>[] = [];
  for (const { value: service } of services) {
    const mine = byService.get(service.id) ?? [];
    byService.delete(service.id);
    if (service.status === 'removing') {
      await finishServiceRemoval(ctx, service, networks);
      continue;
    }
    const slots = new Set(mine.map((t) => t.value.slot));
    const needsWork =
      mine.length !== service.replicas ||
      mine.some((t) => t.value.slot > service.replicas) ||
      slots.size !== mine.length;
    live.push(...(needsWork ? await convergeTasks(ctx, service, mine, networks) : mine));
  }
  const orphans = [...byService.values()].flat();
  if (orphans.length > 0) await ctx.removeTasks(orphans, networks);
  return live;
}

/**
 * Commits a service's virtual IPs. Not ok when it was removed (service null) or allocated by
 * someone else meanwhile (service is that record).
 */
async function commitService(
  ctx: Context,
  found: Versioned<ServiceRecord>,
  virtualIps: ServiceRecord['virtualIps'],
): Promise<{ ok: boolean; service: Versioned<ServiceRecord> | null }> {
  let current: Versioned<ServiceRecord> | null = found;
  for (;;) {
    if (!current || current.value.id !== found.value.id) return { ok: false, service: null };
    if (current.value.status !== 'allocating') return { ok: false, service: current };
    const next: ServiceRecord = { ...current.value, status: 'allocated', virtualIps };
    try {
      const pair = await ctx.store.atomicPut(current.pair.key, JSON.stringify(next), current.pair);
      return { ok: true, service: { value: next, pair } };
    } catch (err) {
      if (!isRetryable(err)) throw err;
      current = await readRecord<ServiceRecord>(ctx.store, found.pair.key);
    }
  }
}

/**
 * Commits a task `pending` with its addresses. If the task changed meanwhile it is re-read:
 * still `new` → try again; removed, or allocated by another allocator → give back whatever of
 * ours it does not hold.
 */
async function commitTask(ctx: Context, found: Versioned<Task>, placements: Placement[]): Promise<boolean> {
  const attachments = attachmentsOf(placements);
  let current: Versioned<Task> | null = found;
  for (;;) {
    if (!current || current.value.id !== found.value.id || current.value.state !== 'new') {
      const kept = new Set(
        current?.value.id === found.value.id ? current.value.attachments.flatMap((a) => a.addresses) : [],
      );
      const unused = placements.filter((p) => !kept.has(p.pool.ref.subnet.addressWithPrefix(p.offset)));
      await releasePlacements(ctx, unused, () => `t:${found.value.id}`);
      return false;
    }
    const next: Task = { ...current.value, state: 'pending', message: PENDING_MESSAGE, attachments };
    try {
      await ctx.store.atomicPut(current.pair.key, JSON.stringify(next), current.pair);
      return true;
    } catch (err) {
      if (!isRetryable(err)) throw err;
      current = await readRecord<Task>(ctx.store, found.pair.key);
    }
  }
}

/**
 * A commit worth re-reading and trying again: a conflict, or a write whose outcome is unknown
 * (timed out, connection lost). Both commits compare what the fresh record holds with their own
 * claims, so a write that did land is recognised, never applied twice. The re-read itself
 * fails when the store stays unreachable, which ends the loop.
 */
function isRetryable(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return (
    code === 'KEY_MODIFIED' ||
    code === 'KEY_EXISTS' ||
    code === 'KEY_NOT_FOUND' ||
    code === 'TIMEOUT' ||
    code === 'NOT_REACHABLE'
  );
}
