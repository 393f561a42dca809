import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failure } from '../../src/conformance/helpers.js';
import { type NetworkState, openNetworkState } from '../../src/network-state/index.js';
import { type OpenedStore, storeFactories } from './stores.js';

describe.each(storeFactories)('IPAM on $name', (factory) => {
  let opened: OpenedStore;
  let net: NetworkState;

  beforeEach(async () => {
    opened = await factory.open();
    net = await openNetworkState(opened.store);
  });
  afterEach(async () => {
    await net.close();
    await opened.cleanup();
  });

  it('requestPool with a pool returns an address-space/subnet pool id', async () => {
    expect(await net.ipam.requestPool({ pool: '10.9.0.0/24' })).toEqual({
      poolId: 'GlobalDefault/10.9.0.0/24',
      pool: '10.9.0.0/24',
    });
  });

  it('requestPool without a pool carves the global default 10.0.0.0/8 into /24s in order', async () => {
    expect((await net.ipam.requestPool()).pool).toBe('10.0.0.0/24');
    expect((await net.ipam.requestPool()).pool).toBe('10.0.1.0/24');
  });

  it('a default pool that would overlap an existing pool is skipped', async () => {
    await net.ipam.requestPool({ pool: '10.0.0.0/23' });
    expect((await net.ipam.requestPool()).pool).toBe('10.0.2.0/24');
  });

  it('the local address space starts at 172.17.0.0/16 with LocalDefault pool ids', async () => {
    expect(await net.ipam.requestPool({ addressSpace: 'local' })).toEqual({
      poolId: 'LocalDefault/172.17.0.0/16',
      pool: '172.17.0.0/16',
    });
  });

  it('the same subnet may exist once in each address space', async () => {
    await net.ipam.requestPool({ pool: '10.9.0.0/24', addressSpace: 'global' });
    await expect(net.ipam.requestPool({ pool: '10.9.0.0/24', addressSpace: 'local' })).resolves.toBeDefined();
  });

  it('configured default pools replace the global default, like --default-addr-pool', async () => {
    const custom = await openNetworkState(opened.store, {
      prefix: 'custom',
      defaultAddrPools: [{ base: '10.20.0.0/16', size: 26 }],
    });
    expect((await custom.ipam.requestPool()).pool).toBe('10.20.0.0/26');
    expect((await custom.ipam.requestPool()).pool).toBe('10.20.0.64/26');
    await custom.close();
  });

  it('NO_AVAILABLE_POOL once every default pool is taken', async () => {
    const small = await openNetworkState(opened.store, {
      prefix: 'small',
      defaultAddrPools: [{ base: '10.30.0.0/24', size: 25 }],
    });
    await small.ipam.requestPool();
    await small.ipam.requestPool();
    const err = await failure(() => small.ipam.requestPool());
    expect(err.code).toBe('NO_AVAILABLE_POOL');
    expect(err.message).toMatch(/IPv4 address pool among the defaults/);
    await small.close();
  });

  it('a default pool size outside docker limits is INVALID_ARGUMENT naming it', async () => {
    await expect(
      openNetworkState(opened.store, { defaultAddrPools: [{ base: '10.0.0.0/8', size: 30 }] }),
    ).rejects.toThrow(/size 30 for 10.0.0.0\/8/);
  });

  it('POOL_OVERLAP for a pool inside, containing, or equal to an existing one, naming both', async () => {
    await net.ipam.requestPool({ pool: '10.9.0.0/16' });
    for (const pool of ['10.9.1.0/24', '10.0.0.0/8', '10.9.0.0/16']) {
      const err = await failure(() => net.ipam.requestPool({ pool }));
      expect(err.code).toBe('POOL_OVERLAP');
      expect(err.message).toContain(pool);
      expect(err.message).toContain('10.9.0.0/16');
    }
  });

  it('a malformed or non-canonical CIDR is INVALID_ARGUMENT naming it', async () => {
    for (const [pool, text] of [
      ['10.9.0.0', /10\.9\.0\.0/],
      ['10.9.0.0/33', /10\.9\.0\.0\/33/],
      ['10.1/16', /10\.1/],
      ['10.9.0.5/24', /did you mean 10\.9\.0\.0\/24/],
      ['fe80::1%eth0/64', /fe80/],
    ] as const) {
      const err = await failure(() => net.ipam.requestPool({ pool }));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toMatch(text);
    }
  });

  it('an ip-range outside its pool is INVALID_ARGUMENT', async () => {
    const err = await failure(() => net.ipam.requestPool({ pool: '10.9.0.0/24', subPool: '10.9.1.0/25' }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('10.9.1.0/25');
  });

  it('the network address is never handed out: the first address is .1', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/24' });
    expect(await net.ipam.requestAddress(poolId)).toBe('10.9.0.1/24');
  });

  it('a /24 hands out 254 addresses, never the broadcast, then NO_AVAILABLE_IPS', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/24' });
    const seen = new Set<string>();
    for (let i = 0; i < 254; i++) seen.add(await net.ipam.requestAddress(poolId));
    expect(seen.size).toBe(254);
    expect(seen.has('10.9.0.255/24')).toBe(false);
    const err = await failure(() => net.ipam.requestAddress(poolId));
    expect(err.code).toBe('NO_AVAILABLE_IPS');
    expect(err.message).toContain(poolId);
  });

  it('a /31 hands out both addresses and a /32 its one', async () => {
    const p31 = (await net.ipam.requestPool({ pool: '10.9.0.0/31' })).poolId;
    expect([await net.ipam.requestAddress(p31), await net.ipam.requestAddress(p31)]).toEqual([
      '10.9.0.0/31',
      '10.9.0.1/31',
    ]);
    const p32 = (await net.ipam.requestPool({ pool: '10.9.1.7/32' })).poolId;
    expect(await net.ipam.requestAddress(p32)).toBe('10.9.1.7/32');
  });

  it('IPv6 pools hand out ::1 first and any address of a /64, compactly written', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: 'fd00:1:2:3::/64', v6: true });
    expect(await net.ipam.requestAddress(poolId)).toBe('fd00:1:2:3::1/64');
    expect(await net.ipam.requestAddress(poolId, { address: 'fd00:1:2:3:ffff:ffff:ffff:ffff' })).toBe(
      'fd00:1:2:3:ffff:ffff:ffff:ffff/64',
    );
    expect(await net.ipam.usage(poolId)).toMatchObject({ used: 2 });
  });

  it('an IPv6 request without configured IPv6 defaults is NO_AVAILABLE_POOL', async () => {
    expect((await failure(() => net.ipam.requestPool({ v6: true }))).code).toBe('NO_AVAILABLE_POOL');
  });

  it('a v6 flag that contradicts the pool is INVALID_ARGUMENT', async () => {
    expect((await failure(() => net.ipam.requestPool({ pool: '10.9.0.0/24', v6: true }))).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('a preferred address is handed out as asked, and IP_ALREADY_ALLOCATED the second time', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/24' });
    expect(await net.ipam.requestAddress(poolId, { address: '10.9.0.77' })).toBe('10.9.0.77/24');
    const err = await failure(() => net.ipam.requestAddress(poolId, { address: '10.9.0.77/24' }));
    expect(err.code).toBe('IP_ALREADY_ALLOCATED');
    expect(err.message).toContain('10.9.0.77');
  });

  it('a preferred address outside the subnet, or its network/broadcast address, is IP_OUT_OF_RANGE', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/24' });
    for (const address of ['10.9.1.1', '10.9.0.0', '10.9.0.255', 'fd00::1']) {
      const err = await failure(() => net.ipam.requestAddress(poolId, { address }));
      expect(err.code).toBe('IP_OUT_OF_RANGE');
      expect(err.message).toContain(address);
    }
  });

  it('a sub-pool hands out addresses inside its ip-range and refuses preferred ones outside it', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/24', subPool: '10.9.0.128/25' });
    expect(poolId).toBe('GlobalDefault/10.9.0.0/24/10.9.0.128/25');
    expect(await net.ipam.requestAddress(poolId)).toBe('10.9.0.128/24');
    const err = await failure(() => net.ipam.requestAddress(poolId, { address: '10.9.0.5' }));
    expect(err.code).toBe('IP_OUT_OF_RANGE');
    expect(err.message).toContain('ip-range 10.9.0.128/25');
  });

  it('sub-pools share the parent, which is released with its last reference', async () => {
    const a = await net.ipam.requestPool({ pool: '10.9.0.0/24', subPool: '10.9.0.0/25' });
    const b = await net.ipam.requestPool({ pool: '10.9.0.0/24', subPool: '10.9.0.128/25' });
    await net.ipam.requestAddress(a.poolId);
    await net.ipam.releasePool(a.poolId);
    expect((await failure(() => net.ipam.requestAddress(a.poolId))).code).toBe('POOL_NOT_FOUND');
    expect(await net.ipam.requestAddress(b.poolId)).toBe('10.9.0.128/24');
    await net.ipam.releasePool(b.poolId);
    const again = await net.ipam.requestPool({ pool: '10.9.0.0/24' });
    expect(await net.ipam.usage(again.poolId)).toMatchObject({ used: 0 });
  });

  it('POOL_NOT_FOUND for an unknown or malformed pool id, naming it', async () => {
    for (const call of [
      net.ipam.requestAddress('GlobalDefault/10.1.0.0/24'),
      net.ipam.releasePool('GlobalDefault/10.1.0.0/24'),
      net.ipam.releaseAddress('GlobalDefault/10.1.0.0/24', '10.1.0.1'),
      net.ipam.requestAddress('nonsense'),
    ]) {
      const err = await failure(() => call);
      expect(err.code).toBe('POOL_NOT_FOUND');
      expect(err.message).toMatch(/10\.1\.0\.0\/24|nonsense/);
    }
  });

  it('releaseAddress frees the address, and releasing a free address does nothing', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/30' });
    const a = await net.ipam.requestAddress(poolId);
    const b = await net.ipam.requestAddress(poolId);
    expect((await failure(() => net.ipam.requestAddress(poolId))).code).toBe('NO_AVAILABLE_IPS');
    await net.ipam.releaseAddress(poolId, a);
    await net.ipam.releaseAddress(poolId, a);
    expect(await net.ipam.requestAddress(poolId)).toBe(a);
    expect(b).toBe('10.9.0.2/30');
  });

  it('first-fit allocation reuses the lowest free address', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/24' });
    const first = await net.ipam.requestAddress(poolId);
    await net.ipam.requestAddress(poolId);
    await net.ipam.releaseAddress(poolId, first);
    expect(await net.ipam.requestAddress(poolId)).toBe(first);
  });

  it('serial allocation does not hand a just-freed address back, even after a restart', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/24' });
    const first = await net.ipam.requestAddress(poolId, { serial: true });
    await net.ipam.releaseAddress(poolId, first);
    const restarted = await openNetworkState(await opened.reopen());
    expect(await restarted.ipam.requestAddress(poolId, { serial: true })).toBe('10.9.0.2/24');
    await restarted.close();
  });

  it('serial allocation wraps to the start once it reaches the end of the pool', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/29' });
    const all: string[] = [];
    for (let i = 0; i < 6; i++) all.push(await net.ipam.requestAddress(poolId, { serial: true }));
    await net.ipam.releaseAddress(poolId, all[1]);
    expect(await net.ipam.requestAddress(poolId, { serial: true })).toBe(all[1]);
  });

  it('usage counts what a pool can hand out, holds and has left', async () => {
    const { poolId } = await net.ipam.requestPool({ pool: '10.9.0.0/24', subPool: '10.9.0.0/28' });
    await net.ipam.requestAddress(poolId);
    expect(await net.ipam.usage(poolId)).toEqual({ capacity: 15, used: 1, free: 14 });
  });
});
