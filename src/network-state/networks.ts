import { InvalidArgumentError, isKVError } from '../store/errors.js';
import { DELETE, UNCHANGED, updateRecord } from './cas.js';
import { parseAddress, Subnet } from './cidr.js';
import type { Context } from './context.js';
import { NetworkExistsError, NetworkInUseError, NetworkNotFoundError } from './errors.js';
import { newId } from './ids.js';
import type { AddressSpace } from './ipam.js';
import type { Offset } from './offset.js';
import { type NetworkRecord, publicNetwork } from './records.js';
import {
  type CreateNetworkOptions,
  NETWORK_DRIVERS,
  type Network,
  type NetworkDriver,
  type NetworkSubnet,
  VXLANID_LIST_OPTION,
} from './types.js';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Checks a name that becomes part of a key: docker's characters, no slash. */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidArgumentError(
      `invalid ${kind} name ${JSON.stringify(name)}: use letters, digits, '_', '.', '-' (starting with a letter or digit)`,
    );
  }
  return name;
}

interface ValidSubnet {
  subnet: Subnet;
  ipRange: Subnet | null;
  gateway: { text: string; offset: Offset } | null;
  aux: { name: string; text: string; offset: Offset }[];
}

/** Validates a create request before anything is written; every message names the bad value. */
function validate(opts: CreateNetworkOptions): { driver: NetworkDriver; subnets: ValidSubnet[] | null } {
  if (opts === null || typeof opts !== 'object')
    throw new InvalidArgumentError('createNetwork needs options');
  checkName('network', opts.name);
  const driver = opts.driver ?? 'overlay';
  if (!NETWORK_DRIVERS.includes(driver)) {
    throw new InvalidArgumentError(
      `unknown network driver ${JSON.stringify(driver)}: use ${NETWORK_DRIVERS.join(', ')}`,
    );
  }
  for (const [what, map] of [
    ['option', opts.options],
    ['label', opts.labels],
  ] as const) {
    if (map === undefined) continue;
    if (map === null || typeof map !== 'object')
      throw new InvalidArgumentError(`${what}s must be an object of strings`);
    for (const [k, v] of Object.entries(map)) {
      if (typeof v !== 'string')
        throw new InvalidArgumentError(`${what} ${k} must be a string, got ${typeof v}`);
    }
  }
  if (opts.subnets === undefined) return { driver, subnets: null };
  if (!Array.isArray(opts.subnets)) throw new InvalidArgumentError('subnets must be a list');
  if (driver === 'host' && opts.subnets.length > 0) {
    throw new InvalidArgumentError(
      `the host driver takes no subnets (got ${opts.subnets.map((s) => s?.subnet).join(', ')})`,
    );
  }
  const subnets = opts.subnets.map((request): ValidSubnet => {
    const subnet = Subnet.parse(request?.subnet, 'subnet');
    const ipRange = request.ipRange ? Subnet.parse(request.ipRange, 'ip-range') : null;
    if (ipRange && !subnet.contains(ipRange)) {
      throw new InvalidArgumentError(`ip-range ${ipRange.cidr} is not inside subnet ${subnet.cidr}`);
    }
    const usable = subnet.usableRange();
    const inSubnet = (text: string, what: string): Offset => {
      const address = parseAddress(text, what);
      if (address.family !== subnet.family || !subnet.containsAddress(address.value)) {
        throw new InvalidArgumentError(`${what} ${text} is not inside subnet ${subnet.cidr}`);
      }
      const offset = subnet.offsetOf(address.value);
      if (offset < usable.first || offset > usable.last) {
        throw new InvalidArgumentError(
          `${what} ${text} is the network or broadcast address of ${subnet.cidr}`,
        );
      }
      return offset;
    };
    const gateway = request.gateway
      ? { text: request.gateway, offset: inSubnet(request.gateway, 'gateway') }
      : null;
    const aux = Object.entries(request.auxAddresses ?? {}).map(([name, text]) => {
      if (name === '') throw new InvalidArgumentError(`auxiliary address ${text} needs a name`);
      const offset = inSubnet(text, `auxiliary address ${name}=`);
      return { name, text: subnet.addressAt(offset), offset };
    });
    return { subnet, ipRange, gateway, aux };
  });
  return { driver, subnets };
}

/** The VNIs asked for in `com.docker.network.driver.overlay.vxlanid_list`, if any. */
function requestedVnis(options: Record<string, string> | undefined): number[] | undefined {
  const list = options?.[VXLANID_LIST_OPTION];
  if (list === undefined || list.trim() === '') return undefined;
  return list.split(',').map((text) => {
    const id = Number(text.trim());
    if (!/^\d+$/.test(text.trim()))
      throw new InvalidArgumentError(`invalid VXLAN ID ${JSON.stringify(text)} in ${VXLANID_LIST_OPTION}`);
    return id;
  });
}

/**
 * Creates a network: the record first (status `allocating`, so every claim made for it has a
 * living owner), then its pools, gateways, auxiliary addresses and VNIs, then the record again
 * as `ready`. A failure undoes what was reserved and removes the record.
 */
export async function createNetwork(ctx: Context, opts: CreateNetworkOptions): Promise<Network> {
  const { driver, subnets } = validate(opts);
  const wantedVnis = requestedVnis(opts.options);
  const id = newId();
  const owner = `n:${id}`;
  const key = ctx.layout.network(opts.name);
  const record: NetworkRecord = {
    id,
    name: opts.name,
    driver,
    scope: driver === 'overlay' ? 'swarm' : 'local',
    subnets: [],
    vxlanIds: [],
    labels: { ...opts.labels },
    options: { ...opts.options },
    attachable: opts.attachable ?? false,
    internal: opts.internal ?? false,
    createdAt: new Date().toISOString(),
    status: 'allocating',
  };
  try {
    await ctx.store.atomicPut(key, JSON.stringify(record), null);
  } catch (err) {
    if (isKVError(err, 'KEY_EXISTS')) throw new NetworkExistsError(opts.name);
    throw err;
  }
  try {
    const addressSpace: AddressSpace = record.scope === 'swarm' ? 'global' : 'local';
    const requests: (ValidSubnet | null)[] = subnets ?? (driver === 'host' ? [] : [null]);
    for (const request of requests) record.subnets.push(await reserveSubnet(ctx, id, addressSpace, request));
    if (driver === 'overlay') {
      const v4 = record.subnets.filter((s) => Subnet.parse(s.subnet).family === 4).length;
      if (wantedVnis && wantedVnis.length < v4) {
        throw new InvalidArgumentError(
          `${VXLANID_LIST_OPTION}=${opts.options?.[VXLANID_LIST_OPTION]} names ${wantedVnis.length} VXLAN IDs for ${v4} IPv4 subnets`,
        );
      }
      record.vxlanIds = await ctx.vxlan.reserve(owner, v4, wantedVnis?.slice(0, v4));
      // Written back like docker does, so the IDs survive a restore as given.
      if (record.vxlanIds.length > 0) record.options[VXLANID_LIST_OPTION] = record.vxlanIds.join(',');
    }
    record.status = 'ready';
    await updateRecord<NetworkRecord>(ctx.store, key, (current) => {
      if (current?.id !== id) throw new NetworkNotFoundError(opts.name, 'was removed while being created');
      return record;
    });
  } catch (err) {
    await ctx.releaseNetworkResources(id);
    await updateRecord<NetworkRecord>(ctx.store, key, (current) =>
      current?.id === id ? DELETE : UNCHANGED,
    ).catch(() => undefined);
    throw err;
  }
  await ctx.bump();
  return publicNetwork(record);
}

/** One subnet: the pool (given or a default), the gateway (given or the first free), the aux addresses. */
async function reserveSubnet(
  ctx: Context,
  networkId: string,
  addressSpace: AddressSpace,
  request: ValidSubnet | null,
): Promise<NetworkSubnet> {
  const { poolId, pool } = await ctx.ipam.requestPool(
    { addressSpace, pool: request?.subnet.cidr, subPool: request?.ipRange?.cidr },
    `n:${networkId}`,
  );
  const ref = await ctx.ipam.pool(poolId);
  const subnet = ref.subnet;
  let gateway: Offset;
  if (request?.gateway) {
    gateway = request.gateway.offset;
    await ctx.ipam.claimExact(ref, gateway, `g:${networkId}`, request.gateway.text);
  } else {
    gateway = await ctx.ipam.claimNext(ref, `g:${networkId}`, true);
  }
  const auxAddresses: Record<string, string> = {};
  for (const aux of request?.aux ?? []) {
    await ctx.ipam.claimExact(ref, aux.offset, `a:${networkId}`, aux.text);
    auxAddresses[aux.name] = aux.text;
  }
  return {
    subnet: pool,
    gateway: subnet.addressAt(gateway),
    ...(request?.ipRange ? { ipRange: request.ipRange.cidr } : {}),
    auxAddresses,
    poolId,
  };
}

/**
 * Removes a network no service uses (NETWORK_IN_USE names the services that do). The record is
 * marked `removing` first, so a service created at the same moment sees it going; then every
 * release step runs even if one fails, and the record goes last.
 */
export async function removeNetwork(ctx: Context, nameOrId: string): Promise<void> {
  const found = await ctx.findNetwork(nameOrId);
  const { id, name } = found.value;
  await updateRecord<NetworkRecord>(ctx.store, found.pair.key, (current) => {
    if (current?.id !== id) throw new NetworkNotFoundError(nameOrId);
    return current.status === 'removing' ? UNCHANGED : { ...current, status: 'removing' };
  });
  const users = (await ctx.services()).filter((s) => s.value.networks.includes(id)).map((s) => s.value.name);
  if (users.length > 0) {
    await updateRecord<NetworkRecord>(ctx.store, found.pair.key, (current) =>
      current?.id === id && current.status === 'removing' ? { ...current, status: 'ready' } : UNCHANGED,
    );
    throw new NetworkInUseError(name, users);
  }
  await finishNetworkRemoval(ctx, found.pair.key, id);
}

/** Releases a network marked `removing` and deletes its record (also how reconciliation finishes one). */
export async function finishNetworkRemoval(ctx: Context, key: string, id: string): Promise<void> {
  await ctx.releaseNetworkResources(id);
  await updateRecord<NetworkRecord>(ctx.store, key, (current) => (current?.id === id ? DELETE : UNCHANGED));
  await ctx.bump();
}
