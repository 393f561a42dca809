import { InvalidArgumentError } from '../store/errors.js';
import { Subnet } from './cidr.js';

/** A base network carved into subnets of `size` bits of prefix, like `--default-addr-pool`. */
export interface AddrPoolSpec {
  base: string;
  size: number;
}

/** Swarm's cluster-wide default: 10.0.0.0/8 as /24s. */
export const DEFAULT_GLOBAL_POOLS: readonly AddrPoolSpec[] = [{ base: '10.0.0.0/8', size: 24 }];

/** Docker's local defaults: 172.17–172.31 as /16s, 192.168.0.0/16 as /20s (31 pools). */
export const DEFAULT_LOCAL_POOLS: readonly AddrPoolSpec[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

/** A validated spec: the base and the prefix length of the subnets carved from it. */
export interface DefaultPool {
  base: Subnet;
  size: number;
}

/**
 * Validates specs as docker does: the mask length defaults to 24, is at most 29 for IPv4 (there
 * must be room for hosts), and not shorter than the base's own prefix.
 */
export function resolveDefaultPools(specs: readonly AddrPoolSpec[]): DefaultPool[] {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new InvalidArgumentError('defaultAddrPools must be a non-empty list of { base, size }');
  }
  return specs.map((spec) => {
    const base = Subnet.parse(spec?.base, 'default address pool');
    const size = spec.size ?? 24;
    const max = base.family === 4 ? 29 : 125;
    if (!Number.isInteger(size) || size < base.prefixLength || size > max) {
      throw new InvalidArgumentError(
        `invalid default address pool size ${String(size)} for ${base.cidr}: must be between ${base.prefixLength} and ${max}`,
      );
    }
    return { base, size };
  });
}

/**
 * The first subnet carved from the defaults (in order) that overlaps none of `existing`, or
 * null. `existing` must be disjoint (an address space never holds overlapping pools), which lets
 * the search jump past each taken pool instead of testing every candidate.
 */
export function firstFreeDefault(pools: DefaultPool[], existing: Subnet[], family: 4 | 6): Subnet | null {
  const taken = existing.filter((s) => s.family === family).sort((a, b) => (a.base < b.base ? -1 : 1));
  for (const { base, size } of pools) {
    if (base.family !== family) continue;
    const bits = family === 4 ? 32 : 128;
    const step = 1n << BigInt(bits - size);
    let candidate = base.base;
    while (candidate + step - 1n <= base.last) {
      const last = candidate + step - 1n;
      const clash = lastStartingAtOrBefore(taken, last);
      if (clash === null || clash.last < candidate) return new Subnet(family, candidate, size);
      // Jump to the first aligned candidate after the clashing pool.
      const next = clash.last + 1n;
      candidate = base.base + ((next - base.base + step - 1n) / step) * step;
    }
  }
  return null;
}

function lastStartingAtOrBefore(sorted: Subnet[], value: bigint): Subnet | null {
  let lo = 0;
  let hi = sorted.length - 1;
  let found: Subnet | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid].base <= value) {
      found = sorted[mid];
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
