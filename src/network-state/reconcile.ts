import type { KVPair } from '../store/types.js';
import { json } from '../store/values.js';
import { CHUNK_BITS, type Claim, ClaimSpace } from './claim-space.js';
import type { Context } from './context.js';
import { type AddressSpace, type PoolEntry, parsePoolId } from './ipam.js';
import { finishNetworkRemoval } from './networks.js';
import { reconcileHostnames } from './nodes.js';
import { toOffset } from './offset.js';
import type { NetworkRecord, ServiceRecord, TaskRecord } from './records.js';
import { finishServiceRemoval } from './services.js';
import { isTerminal, type Task } from './types.js';

/** What one reconciliation did. */
export interface ReconcileReport {
  /** Addresses freed because their owner is gone or holds another one. */
  freedAddresses: number;
  freedVnis: number;
  /** Pools whose network is gone, and claim directories of pools no longer reserved. */
  releasedPools: number;
  /** Networks left `allocating` by a crashed creator, or `removing` by a crashed remover. */
  finishedNetworks: number;
  /** Services left `removing`. */
  finishedServices: number;
  /** Hostname entries added (nodes without one) or deleted (their node is gone). */
  hostnameEntries: number;
}

/**
 * Makes the claims agree with the objects, as swarmkit's allocator does when it starts — except
 * that here the claims are in the store, so restoring is free and the work is freeing what a
 * crash left behind. A claim is garbage when its owner no longer exists (ids are never reused,
 * so a gone owner never comes back) or when its owner's allocation is committed without it (a
 * committed task, VIP, gateway or VNI never changes again). A claim of an owner still being
 * allocated is kept: the next pass restores it, or gives it back if the owner stays stuck.
 *
 * Claims are read before the objects, so a claim made by a live allocator after that read is
 * not seen at all, and one made before it has an owner that the later object read still finds.
 * That is why this is safe while other allocators run, with or without the leader lock.
 */
export async function reconcile(ctx: Context): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    freedAddresses: 0,
    freedVnis: 0,
    releasedPools: 0,
    finishedNetworks: 0,
    finishedServices: 0,
    hostnameEntries: 0,
  };
  await ctx.retryLeftovers();

  // 1. Claims first.
  const poolPairs = await ctx.store.list(ctx.layout.poolInstances);
  const vniSnapshot = await ctx.vxlan.space.load();
  // 2. Then which pools are reserved.
  const entries = new Map<string, { poolId: string; entry: PoolEntry }>();
  for (const space of ['global', 'local'] as AddressSpace[]) {
    for (const [cidr, entry] of Object.entries(await ctx.ipam.pools(space))) {
      entries.set(entry.instance, {
        poolId: `${space === 'global' ? 'GlobalDefault' : 'LocalDefault'}/${cidr}`,
        entry,
      });
    }
  }
  // 3. Then the objects, in reverse creation order.
  // A slot's retired tasks own their addresses until they have stopped (then they are freed).
  const tasks = (await ctx.tasks()).flatMap((t) => {
    const record = t.value as TaskRecord;
    return [record, ...(record.retired ?? []).filter((r) => !isTerminal(r.state))];
  });
  const services = (await ctx.services()).map((s) => s.value);
  const networkList = await ctx.networks();
  const networks = new Map(networkList.map((n) => [n.value.id, n.value]));

  // Finish what crashed callers left half done.
  const now = Date.now();
  for (const { value: network, pair } of networkList) {
    const abandoned =
      network.status === 'allocating' && now - Date.parse(network.createdAt) > ctx.settings.abandonAfterMs;
    const unused = !services.some((s) => s.networks.includes(network.id));
    if (abandoned || (network.status === 'removing' && unused)) {
      await finishNetworkRemoval(ctx, pair.key, network.id);
      networks.delete(network.id);
      report.finishedNetworks++;
    }
  }
  for (const service of services) {
    if (service.status !== 'removing') continue;
    await finishServiceRemoval(ctx, service, [...networks.values()]);
    report.finishedServices++;
  }

  // Pools whose network is gone.
  for (const { entry } of entries.values()) {
    if (entry.owner?.startsWith('n:') && !networks.has(entry.owner.slice(2))) {
      report.releasedPools += (await ctx.ipam.releasePoolsOwnedBy(entry.owner)).length;
    }
  }

  // Claims.
  const judge = new OwnerJudge(tasks, services, networks);
  const byInstance = groupByInstance(ctx, poolPairs);
  for (const [instance, pairs] of byInstance) {
    const reserved = entries.get(instance);
    if (
      !reserved ||
      (reserved.entry.owner?.startsWith('n:') && !networks.has(reserved.entry.owner.slice(2)))
    ) {
      // Claims of a pool that is no longer reserved (released, or its release crashed midway).
      if (!reserved) {
        await ctx.store.deleteTree(ctx.layout.poolInstance(instance));
        report.releasedPools++;
      }
      continue;
    }
    const { subnet } = parsePoolId(reserved.poolId);
    const network = reserved.entry.owner ? networks.get(reserved.entry.owner.slice(2)) : undefined;
    const garbage: Claim[] = [];
    for (const pair of pairs) {
      if (!pair.key.includes('/chunks/')) continue;
      const index = BigInt(pair.key.slice(pair.key.lastIndexOf('/') + 1));
      for (const [within, owner] of json<{ e: [number, string][] }>(pair).e) {
        const offset = toOffset(index * BigInt(CHUNK_BITS) + BigInt(within));
        if (judge.isGarbage(owner, network, subnet.addressWithPrefix(offset)))
          garbage.push({ offset, owner });
      }
    }
    if (garbage.length > 0) {
      report.freedAddresses += await new ClaimSpace(
        ctx.store,
        ctx.layout.poolInstance(instance),
        subnet.trackedSize,
      ).release(garbage);
    }
  }

  // VNIs.
  const vniGarbage = [...vniSnapshot.claims()].filter(({ offset, owner }) => {
    if (!owner.startsWith('n:')) return false;
    const network = networks.get(owner.slice(2));
    return !network || (network.status === 'ready' && !network.vxlanIds.includes(offset as number));
  });
  if (vniGarbage.length > 0) report.freedVnis = await ctx.vxlan.space.release(vniGarbage);

  const { hostnameEntries: _, ...freed } = report;
  if (Object.values(freed).some((n) => n > 0)) await ctx.bump();
  // Nodes are not allocation: their hostname entries change nothing an allocator waits for.
  report.hostnameEntries = await reconcileHostnames(ctx, ctx.settings.abandonAfterMs);
  return report;
}

function groupByInstance(ctx: Context, pairs: KVPair[]): Map<string, KVPair[]> {
  const out = new Map<string, KVPair[]>();
  const base = `${ctx.layout.poolInstances}/`;
  for (const pair of pairs) {
    const rest = pair.key.startsWith(base) ? pair.key.slice(base.length) : pair.key;
    const instance = rest.slice(0, rest.indexOf('/'));
    const list = out.get(instance);
    if (list) list.push(pair);
    else out.set(instance, [pair]);
  }
  return out;
}

/** Decides, for one claim, whether its owner still holds it. */
class OwnerJudge {
  readonly #tasks: Map<string, Task>;
  readonly #services: Map<string, ServiceRecord>;
  readonly #networks: Map<string, NetworkRecord>;

  constructor(tasks: Task[], services: ServiceRecord[], networks: Map<string, NetworkRecord>) {
    this.#tasks = new Map(tasks.map((t) => [t.id, t]));
    this.#services = new Map(services.map((s) => [s.id, s]));
    this.#networks = networks;
  }

  /** `address` is the claim's address with prefix; `network` the pool's owner (if a network). */
  isGarbage(owner: string, network: NetworkRecord | undefined, address: string): boolean {
    const kind = owner.slice(0, 2);
    const id = owner.slice(2);
    const plain = address.slice(0, address.indexOf('/'));
    switch (kind) {
      case 't:': {
        const task = this.#tasks.get(id);
        if (!task) return true;
        if (task.state === 'new') return false;
        return !task.attachments.some((a) => a.networkId === network?.id && a.addresses.includes(address));
      }
      case 'v:': {
        const service = this.#services.get(id);
        if (!service || service.status === 'removing') return true;
        if (service.status === 'allocating') return false;
        return !service.virtualIps.some((v) => v.networkId === network?.id && v.addr === address);
      }
      case 'g:':
      case 'a:': {
        const owned = this.#networks.get(id);
        if (!owned) return true;
        if (owned.status !== 'ready') return false;
        return kind === 'g:'
          ? !owned.subnets.some((s) => s.gateway === plain)
          : !owned.subnets.some((s) => Object.values(s.auxAddresses).includes(plain));
      }
      default:
        return false;
    }
  }
}
