import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json } from '../../src/index.js';
import { Subnet } from '../../src/network-state/cidr.js';
import { ClaimSpace } from '../../src/network-state/claim-space.js';
import { type NetworkState, openNetworkState } from '../../src/network-state/index.js';
import { Layout } from '../../src/network-state/layout.js';
import { eventually } from './invariants.js';
import { type OpenedStore, storeFactories } from './stores.js';

const allPending = async (net: NetworkState, service: string, count: number) => {
  const tasks = await net.listTasks({ service });
  return tasks.length === count && tasks.every((t) => t.state === 'pending');
};

describe.each(storeFactories)('runAllocator on $name', (factory) => {
  let opened: OpenedStore;
  let net: NetworkState;
  const stops: AbortController[] = [];
  const runs: Promise<void>[] = [];

  const start = (instance: NetworkState) => {
    const stop = new AbortController();
    stops.push(stop);
    const run = instance.runAllocator({ signal: stop.signal });
    runs.push(run);
    return { stop, run };
  };

  beforeEach(async () => {
    opened = await factory.open();
    net = await openNetworkState(opened.store, { leaderTtlMs: 300 });
    await net.createNetwork({ name: 'mh_net', subnets: [{ subnet: '10.9.0.0/24' }] });
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) stop.abort();
    await Promise.all(runs.splice(0));
    await net.close();
    await opened.cleanup();
  });

  it('allocates a service created after it started, without an allocate() call', async () => {
    start(net);
    await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 3 });
    await eventually(() => allPending(net, 'nginx', 3));
  });

  it('ends cleanly when its signal aborts', async () => {
    const { stop, run } = start(net);
    await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 1 });
    await eventually(() => allPending(net, 'nginx', 1));
    stop.abort();
    await expect(run).resolves.toBeUndefined();
  });

  it('ends cleanly when the network state is closed', async () => {
    const other = await openNetworkState(await opened.reopen());
    const run = other.runAllocator({});
    await other.close();
    await expect(run).resolves.toBeUndefined();
    await expect(other.allocate()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('retries a stuck task as soon as an address is released', async () => {
    await net.createNetwork({ name: 'tiny', subnets: [{ subnet: '10.9.1.0/29' }] });
    start(net);
    await net.createService({ name: 'a', networks: ['tiny'], replicas: 5, endpointMode: 'dnsrr' });
    await eventually(() => allPending(net, 'a', 5));
    await net.createService({ name: 'b', networks: ['tiny'], replicas: 1, endpointMode: 'dnsrr' });
    await eventually(
      async () =>
        (await net.listTasks({ service: 'b' }))[0]?.message === 'no available addresses on network tiny',
    );
    await net.scaleService('a', 3);
    await eventually(() => allPending(net, 'b', 1));
  });

  it('reconciles when it starts leading: a claim whose owner is gone is freed', async () => {
    const network = await net.inspectNetwork('mh_net');
    const space = json<{ pools: Record<string, { instance: string }> }>(
      await opened.store.get('kvkit/network/ipam/spaces/GlobalDefault'),
    );
    const claims = new ClaimSpace(
      opened.store,
      new Layout('kvkit/network').poolInstance(space.pools['10.9.0.0/24'].instance),
      Subnet.parse('10.9.0.0/24').trackedSize,
    );
    await claims.commit(await claims.load(), [{ offset: 200, owner: 't:crashed' }]);
    start(net);
    await eventually(async () => (await net.ipam.usage(network.subnets[0].poolId)).used === 1);
  });

  it('of two racing allocators one leads, and the other takes over when it stops', async () => {
    const second = await openNetworkState(await opened.reopen(), { leaderTtlMs: 300 });
    const first = start(net);
    await net.createService({ name: 'one', networks: ['mh_net'], replicas: 2 });
    await eventually(() => allPending(net, 'one', 2));
    const other = start(second);
    const leader = await opened.store.get('kvkit/network/allocator/leader');
    first.stop.abort();
    await first.run;
    await second.createService({ name: 'two', networks: ['mh_net'], replicas: 2 });
    await eventually(() => allPending(second, 'two', 2));
    const now = await opened.store.get('kvkit/network/allocator/leader');
    expect(now.value).not.toEqual(leader.value);
    other.stop.abort();
    await other.run;
    await second.close();
  });
});
