import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, type Store } from '../../src/index.js';
import { Subnet } from '../../src/network-state/cidr.js';
import { ClaimSpace } from '../../src/network-state/claim-space.js';
import { type NetworkState, openNetworkState } from '../../src/network-state/index.js';
import { Layout } from '../../src/network-state/layout.js';
import { FaultyStore } from './faulty-store.js';
import { expectEmpty, expectNoDuplicates, storedClaims } from './invariants.js';
import { type OpenedStore, storeFactories } from './stores.js';

/** The claims of a network's first pool, written the way the allocator writes them. */
async function claimsOf(store: Store, net: NetworkState, networkName: string): Promise<ClaimSpace> {
  const network = await net.inspectNetwork(networkName);
  const subnet = Subnet.parse(network.subnets[0].subnet);
  const space = json<{ pools: Record<string, { instance: string }> }>(
    await store.get('kvkit/network/ipam/spaces/GlobalDefault'),
  );
  return new ClaimSpace(
    store,
    new Layout('kvkit/network').poolInstance(space.pools[subnet.cidr].instance),
    subnet.trackedSize,
  );
}

async function removeEverything(net: NetworkState): Promise<void> {
  for (const s of await net.listServices()) await net.removeService(s.id);
  await net.reconcile();
  for (const n of await net.listNetworks()) await net.removeNetwork(n.id);
  await net.reconcile();
}

describe.each(storeFactories)('concurrent allocators and crashes on $name', (factory) => {
  let opened: OpenedStore;
  let a: NetworkState;
  let b: NetworkState;

  beforeEach(async () => {
    opened = await factory.open();
    a = await openNetworkState(opened.store);
    b = await openNetworkState(await opened.reopen());
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await opened.cleanup();
  });

  it('two allocators passing at once never hand out one address twice', async () => {
    const network = await a.createNetwork({ name: 'shared', subnets: [{ subnet: '10.9.0.0/22' }] });
    await Promise.all([
      a.createService({ name: 's1', networks: ['shared'], replicas: 150 }),
      b.createService({ name: 's2', networks: ['shared'], replicas: 150 }),
      a.createService({ name: 's3', networks: ['shared'], replicas: 150, endpointMode: 'dnsrr' }),
    ]);
    await Promise.all([a.allocate(), b.allocate(), a.allocate(), b.allocate()]);
    await Promise.all([a.allocate(), b.allocate()]);
    expect((await a.listTasks()).filter((t) => t.state !== 'pending')).toEqual([]);
    const held = await expectNoDuplicates(a);
    expect(held).toBe(452);
    expect(await a.ipam.usage(network.subnets[0].poolId)).toMatchObject({ used: 453 });
  });

  it('two processes requesting addresses at once get distinct ones', async () => {
    const { poolId } = await a.ipam.requestPool({ pool: '10.9.0.0/24' });
    const got = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        (i % 2 ? a : b).ipam.requestAddress(poolId, { serial: i % 3 === 0 }),
      ),
    );
    expect(new Set(got).size).toBe(120);
  });

  it('two processes creating networks at once get distinct subnets and VNIs', async () => {
    const made = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).createNetwork({ name: `n${i}` })),
    );
    expect(new Set(made.map((n) => n.subnets[0].subnet)).size).toBe(12);
    expect(new Set(made.flatMap((n) => n.vxlanIds)).size).toBe(12);
  });

  it('reconciliation frees a claim whose owner is gone', async () => {
    await a.createNetwork({ name: 'n', subnets: [{ subnet: '10.9.0.0/24' }] });
    const claims = await claimsOf(opened.store, a, 'n');
    // What a crash between claiming an address and recording its owner leaves behind.
    await claims.commit(await claims.load(), [{ offset: 9, owner: 't:gone' }]);
    const report = await b.reconcile();
    expect(report.freedAddresses).toBe(1);
    expect((await storedClaims(opened.store)).map((c) => c.owner).sort()).toEqual([
      `g:${(await a.inspectNetwork('n')).id}`,
      `n:${(await a.inspectNetwork('n')).id}`,
    ]);
  });

  it('a claim of a task still new is kept by reconciliation and restored by the next pass', async () => {
    await a.createNetwork({ name: 'n', subnets: [{ subnet: '10.9.0.0/24' }] });
    await a.createService({ name: 's', networks: ['n'], replicas: 1, endpointMode: 'dnsrr' });
    const [task] = await a.listTasks();
    const claims = await claimsOf(opened.store, a, 'n');
    await claims.commit(await claims.load(), [{ offset: 42, owner: `t:${task.id}` }]);
    expect((await b.reconcile()).freedAddresses).toBe(0);
    await b.allocate();
    expect((await a.listTasks())[0].attachments[0].addresses).toEqual(['10.9.0.42/24']);
  });

  it('a claim left by a task that was allocated another address is freed by reconciliation', async () => {
    await a.createNetwork({ name: 'n', subnets: [{ subnet: '10.9.0.0/24' }] });
    await a.createService({ name: 's', networks: ['n'], replicas: 1, endpointMode: 'dnsrr' });
    await a.allocate();
    const [task] = await a.listTasks();
    const claims = await claimsOf(opened.store, a, 'n');
    await claims.commit(await claims.load(), [{ offset: 77, owner: `t:${task.id}` }]);
    expect((await b.reconcile()).freedAddresses).toBe(1);
    expect((await a.listTasks())[0].attachments[0].addresses).toEqual(['10.9.0.2/24']);
  });

  it('a release by an owner that no longer holds the address frees nothing', async () => {
    await a.createNetwork({ name: 'n', subnets: [{ subnet: '10.9.0.0/24' }] });
    const claims = await claimsOf(opened.store, a, 'n');
    await claims.commit(await claims.load(), [{ offset: 5, owner: 't:new-owner' }]);
    expect(await claims.release([{ offset: 5, owner: 't:old-owner' }])).toBe(0);
    expect((await claims.load()).ownerAt(5)).toBe('t:new-owner');
  });

  it('after a crash at any point, reconciliation leaves no duplicate and removal leaves every pool free', async () => {
    // Count the writes of an uninterrupted run, then crash at sampled points within it.
    const scenario = async (net: NetworkState) => {
      await net.createNetwork({ name: 'n1', subnets: [{ subnet: '10.9.1.0/28' }] });
      await net.createNetwork({ name: 'n2', subnets: [{ subnet: '10.9.2.0/28' }] });
      await net.createService({ name: 's1', networks: ['n1', 'n2'], replicas: 4 });
      await net.allocate();
      await net.scaleService('s1', 2);
      await net.createService({ name: 's2', networks: ['n1'], replicas: 20, endpointMode: 'dnsrr' });
      await net.allocate();
      await net.removeService('s1');
      await net.allocate();
      await net.removeNetwork('n2');
    };
    const probe = new FaultyStore(await opened.reopen());
    const counting = await openNetworkState(probe.store, { prefix: 'probe' });
    await scenario(counting);
    await counting.close();
    const total = probe.writes;
    expect(total).toBeGreaterThan(20);

    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: total }), async (crashAt) => {
        const prefix = `crash${++run}`;
        const faulty = new FaultyStore(await opened.reopen());
        const doomed = await openNetworkState(faulty.store, { prefix });
        faulty.crashAfter(crashAt);
        await scenario(doomed).catch(() => undefined);
        await doomed.close();
        const survivor = await openNetworkState(await opened.reopen(), { prefix, abandonAfterMs: 1 });
        await new Promise((resolve) => setTimeout(resolve, 2));
        await survivor.reconcile();
        await survivor.allocate();
        await expectNoDuplicates(survivor);
        // Every claim left belongs to a live object.
        const owners = new Set((await storedClaims(opened.store, `${prefix}`)).map((c) => c.owner.slice(2)));
        const live = new Set([
          ...(await survivor.listNetworks()).map((n) => n.id),
          ...(await survivor.listServices()).map((s) => s.id),
          ...(await survivor.listTasks()).map((t) => t.id),
        ]);
        for (const owner of owners) expect(live.has(owner)).toBe(true);
        await removeEverything(survivor);
        await expectEmpty(opened.store, prefix);
        await survivor.close();
      }),
      { numRuns: factory.name === 'memory' ? 40 : 8 },
    );
  });
});
