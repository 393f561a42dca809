import { InvalidArgumentError, isKVError } from '../store/errors.js';
import type { Store } from '../store/types.js';
import { AddressBatcher } from './address-batcher.js';
import { readRecord, UNCHANGED, updateRecord } from './cas.js';
import { parseAddressMaybeWithPrefix, Subnet } from './cidr.js';
import { type Claim, type ClaimSnapshot, ClaimSpace } from './claim-space.js';
import { type DefaultPool, firstFreeDefault } from './default-pools.js';
import {
  IpAlreadyAllocatedError,
  IpOutOfRangeError,
  NoAvailablePoolError,
  PoolNotFoundError,
  PoolOverlapError,
} from './errors.js';
import { newId } from './ids.js';
import type { Layout } from './layout.js';
import { maxOffset, minOffset, nextOffset, type Offset, subOffset, toOffset } from './offset.js';

export type AddressSpace = 'global' | 'local';

/** libnetwork's address space names, used in pool ids (`GlobalDefault/10.0.0.0/24`). */
export const ADDRESS_SPACE_NAMES: Record<AddressSpace, string> = {
  global: 'GlobalDefault',
  local: 'LocalDefault',
};

/** The owner of addresses requested through the public IPAM calls (no object holds them). */
export const IPAM_CALLER = 'x:ipam';

/** One top-level pool of an address space, as stored in the space's record. */
export interface PoolEntry {
  /** Unique per request: the claims live under `ipam/pools/<instance>`, so a pool released and
   * requested again never sees the old claims. */
  instance: string;
  /** `n:<network>` for a network's pool (released with it); null for a direct IPAM caller. */
  owner: string | null;
  /** Requests holding the pool (the pool itself and each sub-pool request). */
  refs: number;
  /** Sub-pools (ip-ranges) requested, with their request counts. */
  ranges: Record<string, number>;
}

interface SpaceRecord {
  pools: Record<string, PoolEntry>;
}

export interface RequestPoolOptions {
  addressSpace?: AddressSpace;
  pool?: string;
  subPool?: string;
  v6?: boolean;
}

export interface RequestAddressOptions {
  /** A preferred address, with or without the prefix length. */
  address?: string;
  /** Search from the persisted cursor (after the last address handed out) instead of the start. */
  serial?: boolean;
}

/**
 * A resolved pool id: the subnet, the range of offsets it hands out, and its claims. A sub-pool
 * (`AS/subnet/ip-range`) shares its parent's claims and only narrows the range.
 */
export class PoolRef {
  constructor(
    readonly poolId: string,
    readonly spaceName: string,
    readonly subnet: Subnet,
    readonly range: Subnet | null,
    readonly entry: PoolEntry,
    readonly claims: ClaimSpace,
  ) {}

  /** First and last offset handed out (inside the ip-range when there is one). */
  get bounds(): { first: Offset; last: Offset } {
    const usable = this.subnet.usableRange();
    if (!this.range) return usable;
    const first = this.subnet.offsetOf(this.range.base);
    const last = this.subnet.offsetOf(this.range.last);
    return { first: maxOffset(first, usable.first), last: minOffset(last, usable.last) };
  }

  /** The cursor scope: '' for the subnet, the ip-range for a sub-pool. */
  get scope(): string {
    return this.range?.cidr ?? '';
  }

  /** Addresses this pool (or sub-pool) can hand out. */
  get capacity(): Offset {
    const { first, last } = this.bounds;
    return last < first ? 0 : nextOffset(subOffset(last, first));
  }

  /** The offset of `address` (with or without prefix), or IP_OUT_OF_RANGE when it is not in the pool. */
  offsetOf(address: string, where = this.poolId): Offset {
    const parsed = parseAddressMaybeWithPrefix(address);
    if (parsed.family !== this.subnet.family || !this.subnet.containsAddress(parsed.value)) {
      throw new IpOutOfRangeError(address, `not in ${this.subnet.cidr} (pool ${where})`);
    }
    return this.subnet.offsetOf(parsed.value);
  }
}

/**
 * libnetwork's IPAM contract on a Store: pools per address space (one record per space, so the
 * overlap check and the pool's creation are one compare-and-swap), addresses as owner-tagged
 * claims (see ClaimSpace). Serial allocation keeps its cursor in the store.
 */
export class Ipam {
  readonly #store: Store;
  readonly #layout: Layout;
  readonly #defaults: Record<AddressSpace, DefaultPool[]>;
  readonly #batcher = new AddressBatcher();

  constructor(store: Store, layout: Layout, defaults: Record<AddressSpace, DefaultPool[]>) {
    this.#store = store;
    this.#layout = layout;
    this.#defaults = defaults;
  }

  /**
   * Reserves a pool: the given one (refused with POOL_OVERLAP when it overlaps a pool of the same
   * space), or the first default that overlaps nothing (NO_AVAILABLE_POOL when none is left).
   * With `subPool`, also an ip-range inside it; a pool requested by IPAM callers may be shared by
   * several sub-pool requests.
   */
  async requestPool(
    opts: RequestPoolOptions = {},
    owner: string | null = null,
  ): Promise<{ poolId: string; pool: string }> {
    const space = resolveSpace(opts.addressSpace);
    const pool = opts.pool === undefined || opts.pool === '' ? null : Subnet.parse(opts.pool, 'pool');
    const subPool =
      opts.subPool === undefined || opts.subPool === '' ? null : Subnet.parse(opts.subPool, 'ip-range');
    if (subPool && !pool)
      throw new InvalidArgumentError(`ip-range ${subPool.cidr} needs a pool to be inside`);
    if (subPool && pool && !pool.contains(subPool)) {
      throw new InvalidArgumentError(`ip-range ${subPool.cidr} is not inside subnet ${pool.cidr}`);
    }
    if (pool && opts.v6 !== undefined && (pool.family === 6) !== opts.v6) {
      throw new InvalidArgumentError(`pool ${pool.cidr} is not an IPv${opts.v6 ? 6 : 4} pool`);
    }
    const family = pool?.family ?? (opts.v6 ? 6 : 4);
    const spaceName = ADDRESS_SPACE_NAMES[space];
    let chosen: Subnet | null = null;
    await updateRecord<SpaceRecord>(this.#store, this.#layout.addressSpace(spaceName), (current) => {
      const pools = { ...current?.pools };
      chosen = pool;
      const existing = chosen ? pools[chosen.cidr] : undefined;
      if (chosen && existing) {
        if (!subPool || existing.owner !== null || owner !== null)
          throw new PoolOverlapError(chosen.cidr, chosen.cidr, spaceName);
        const ranges = { ...existing.ranges, [subPool.cidr]: (existing.ranges[subPool.cidr] ?? 0) + 1 };
        pools[chosen.cidr] = { ...existing, refs: existing.refs + 1, ranges };
        return { pools };
      }
      const taken = Object.keys(pools).map((cidr) => Subnet.parse(cidr));
      if (chosen) {
        const clash = taken.find((s) => s.overlaps(chosen as Subnet));
        if (clash) throw new PoolOverlapError(chosen.cidr, clash.cidr, spaceName);
      } else {
        chosen = firstFreeDefault(this.#defaults[space], taken, family);
        if (!chosen) {
          throw new NoAvailablePoolError(
            `could not find an available, non-overlapping IPv${family} address pool among the defaults of address space ${spaceName}`,
          );
        }
      }
      pools[chosen.cidr] = {
        instance: newId(),
        owner,
        refs: 1,
        ranges: subPool ? { [subPool.cidr]: 1 } : {},
      };
      return { pools };
    });
    const cidr = (chosen as Subnet | null)?.cidr as string;
    return { poolId: subPool ? `${spaceName}/${cidr}/${subPool.cidr}` : `${spaceName}/${cidr}`, pool: cidr };
  }

  /**
   * Drops one request on a pool; the last one releases it and its claims. `owner` (internal)
   * must match the pool's owner; the public call refuses to release a network's pool.
   */
  async releasePool(poolId: string, owner?: string | null): Promise<void> {
    const { spaceName, subnet, range } = parsePoolId(poolId);
    let released: PoolEntry | null = null;
    await updateRecord<SpaceRecord>(this.#store, this.#layout.addressSpace(spaceName), (current) => {
      released = null;
      const entry = current?.pools[subnet.cidr];
      if (!entry || (range && !entry.ranges[range.cidr])) throw new PoolNotFoundError(poolId);
      if (owner === undefined && entry.owner !== null) {
        throw new InvalidArgumentError(
          `pool ${poolId} belongs to network ${entry.owner.slice(2)}; remove the network instead`,
        );
      }
      if (owner !== undefined && entry.owner !== owner) return UNCHANGED;
      const pools = { ...current?.pools };
      const ranges = { ...entry.ranges };
      if (range) {
        ranges[range.cidr]--;
        if (ranges[range.cidr] === 0) delete ranges[range.cidr];
      }
      if (entry.refs <= 1) {
        delete pools[subnet.cidr];
        released = entry;
      } else {
        pools[subnet.cidr] = { ...entry, refs: entry.refs - 1, ranges };
      }
      return { pools };
    });
    const gone = released as PoolEntry | null;
    if (gone) await this.claimSpace(gone.instance, subnet).destroy();
  }

  /**
   * Releases every pool `owner` holds, whatever its reference count (a network's pools go with
   * it), and their claims. Resolves with the pools released.
   */
  async releasePoolsOwnedBy(owner: string): Promise<string[]> {
    const released: string[] = [];
    for (const space of Object.keys(ADDRESS_SPACE_NAMES) as AddressSpace[]) {
      const spaceName = ADDRESS_SPACE_NAMES[space];
      let gone: [string, PoolEntry][] = [];
      await updateRecord<SpaceRecord>(this.#store, this.#layout.addressSpace(spaceName), (current) => {
        gone = Object.entries(current?.pools ?? {}).filter(([, entry]) => entry.owner === owner);
        if (gone.length === 0) return UNCHANGED;
        const pools = { ...current?.pools };
        for (const [cidr] of gone) delete pools[cidr];
        return { pools };
      });
      for (const [cidr, entry] of gone) {
        await this.claimSpace(entry.instance, Subnet.parse(cidr)).destroy();
        released.push(`${spaceName}/${cidr}`);
      }
    }
    return released;
  }

  /** Resolves a pool id; POOL_NOT_FOUND when the pool (or the sub-pool) is not reserved. */
  async pool(poolId: string): Promise<PoolRef> {
    const { spaceName, subnet, range } = parsePoolId(poolId);
    const record = await readRecord<SpaceRecord>(this.#store, this.#layout.addressSpace(spaceName));
    const entry = record?.value.pools[subnet.cidr];
    if (!entry || (range && !entry.ranges[range.cidr])) throw new PoolNotFoundError(poolId);
    return new PoolRef(poolId, spaceName, subnet, range, entry, this.claimSpace(entry.instance, subnet));
  }

  /** Every pool of a space as stored (for reconciliation and listings). */
  async pools(space: AddressSpace): Promise<Record<string, PoolEntry>> {
    const name = ADDRESS_SPACE_NAMES[space];
    return (await readRecord<SpaceRecord>(this.#store, this.#layout.addressSpace(name)))?.value.pools ?? {};
  }

  claimSpace(instance: string, subnet: Subnet): ClaimSpace {
    return new ClaimSpace(this.#store, this.#layout.poolInstance(instance), subnet.trackedSize);
  }

  /**
   * Hands out one address of the pool as `a.b.c.d/len`: the preferred one (IP_ALREADY_ALLOCATED
   * when held, IP_OUT_OF_RANGE when outside the pool or its ip-range), else the first free one
   * (serially: after the last one handed out), or NO_AVAILABLE_IPS.
   */
  async requestAddress(
    poolId: string,
    opts: RequestAddressOptions = {},
    owner = IPAM_CALLER,
  ): Promise<string> {
    const pool = await this.pool(poolId);
    if (opts.address !== undefined) {
      const offset = this.checkInRange(pool, opts.address);
      await this.claimExact(pool, offset, owner, opts.address, false);
      return pool.subnet.addressWithPrefix(offset);
    }
    return pool.subnet.addressWithPrefix(await this.claimNext(pool, owner, opts.serial ?? false));
  }

  /** The offset of a preferred address, checked against the sub-pool's range too (libnetwork only checked the parent). */
  checkInRange(pool: PoolRef, address: string, bounds = pool.bounds): Offset {
    const offset = pool.offsetOf(address);
    if (offset < bounds.first || offset > bounds.last) {
      const why = pool.range
        ? `outside ip-range ${pool.range.cidr} of ${pool.poolId}`
        : offset < bounds.first || pool.subnet.family === 4
          ? `it is the network or broadcast address of ${pool.subnet.cidr}`
          : `beyond the first 2^64 addresses of ${pool.subnet.cidr}, which are all a pool tracks`;
      throw new IpOutOfRangeError(address, why);
    }
    return offset;
  }

  /**
   * Claims exactly `offset` for `owner` (one chunk read, one CAS, retried on conflict). With
   * `reuseOwn`, an offset the owner already holds counts as claimed (restoring after a crash).
   */
  async claimExact(
    pool: PoolRef,
    offset: Offset,
    owner: string,
    shown: string,
    reuseOwn = true,
  ): Promise<void> {
    for (;;) {
      const chunk = await pool.claims.loadChunkOf(offset);
      const snapshot = pool.claims.snapshotOfChunk(chunk);
      const holder = snapshot.ownerAt(offset);
      if (holder === owner && reuseOwn) return;
      if (holder !== undefined) throw new IpAlreadyAllocatedError(shown, pool.poolId);
      const result = await pool.claims.commit(snapshot, [{ offset, owner }]);
      if (result.failed.length > 0) throw result.failed[0].error;
      if (result.committed.length > 0) return;
    }
  }

  /**
   * Claims the next free offset of the pool's range for `owner`. Concurrent calls on one pool are
   * committed together (see AddressBatcher).
   */
  claimNext(pool: PoolRef, owner: string, serial: boolean): Promise<Offset> {
    return this.#batcher.next(pool, owner, serial);
  }

  /**
   * Frees an address held by an IPAM caller. Freeing a free address does nothing (so retries are
   * safe); an address held by a task, service or network is refused — its owner releases it.
   */
  async releaseAddress(poolId: string, address: string, owner = IPAM_CALLER): Promise<void> {
    const pool = await this.pool(poolId);
    const offset = pool.offsetOf(address);
    const chunk = await pool.claims.loadChunkOf(offset);
    const holder = pool.claims.snapshotOfChunk(chunk).ownerAt(offset);
    if (holder !== undefined && holder !== owner) {
      throw new InvalidArgumentError(
        `address ${address} in pool ${poolId} is held by ${describeOwner(holder)}; release it through its owner`,
      );
    }
    await pool.claims.release([{ offset, owner }]);
  }

  /** Frees claims of one owner in a pool (internal release paths); missing pools count as freed. */
  async releaseClaims(poolId: string, claims: Claim[]): Promise<void> {
    let pool: PoolRef;
    try {
      pool = await this.pool(poolId);
    } catch (err) {
      if (isKVError(err, 'POOL_NOT_FOUND')) return;
      throw err;
    }
    await pool.claims.release(claims);
  }

  /** How full a pool (or sub-pool) is. */
  async usage(poolId: string): Promise<{ capacity: Offset; used: Offset; free: Offset }> {
    const pool = await this.pool(poolId);
    const snapshot: ClaimSnapshot = await pool.claims.load();
    const { first, last } = pool.bounds;
    const used = last < first ? 0 : snapshot.bits.countSet(first, last);
    return { capacity: pool.capacity, used, free: toOffset(BigInt(pool.capacity) - BigInt(used)) };
  }
}

function resolveSpace(space: AddressSpace | undefined): AddressSpace {
  if (space === undefined) return 'global';
  if (space !== 'global' && space !== 'local') {
    throw new InvalidArgumentError(`unknown address space ${JSON.stringify(space)}: use 'global' or 'local'`);
  }
  return space;
}

/** Splits `AS/subnet[/ip-range]`. */
export function parsePoolId(poolId: string): { spaceName: string; subnet: Subnet; range: Subnet | null } {
  const parts = typeof poolId === 'string' ? poolId.split('/') : [];
  const spaceName = parts[0];
  if ((parts.length !== 3 && parts.length !== 5) || !Object.values(ADDRESS_SPACE_NAMES).includes(spaceName)) {
    throw new PoolNotFoundError(String(poolId));
  }
  try {
    const subnet = Subnet.parse(`${parts[1]}/${parts[2]}`);
    const range = parts.length === 5 ? Subnet.parse(`${parts[3]}/${parts[4]}`) : null;
    return { spaceName, subnet, range };
  } catch {
    throw new PoolNotFoundError(poolId);
  }
}

/** `t:abc` → `task abc`, for messages. */
export function describeOwner(owner: string): string {
  const kind: Record<string, string> = {
    t: 'task',
    v: 'the virtual IP of service',
    g: 'the gateway of network',
    a: 'an auxiliary address of network',
    n: 'network',
    x: 'an IPAM caller',
  };
  const [prefix, ...rest] = owner.split(':');
  return `${kind[prefix] ?? prefix} ${rest.join(':')}`.trim();
}
