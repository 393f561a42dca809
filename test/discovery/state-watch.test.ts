import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nextWithin, readUntil } from '../../src/conformance/helpers.js';
import { createStore, type NetworkState, openNetworkState, type Store } from '../../src/index.js';

/** A deadline against hangs, never a verdict on speed. */
const WAIT_MS = 30_000;

describe('NetworkState.watch (what the DNS server follows)', () => {
  let store: Store;
  let net: NetworkState;

  beforeEach(async () => {
    store = await createStore('memory:');
    net = await openNetworkState(store);
    await net.createNetwork({ name: 'mh_net', subnets: [{ subnet: '10.9.0.0/24' }] });
  });
  afterEach(async () => {
    await net.close();
    await store.close();
  });

  it('yields networks, services and tasks at once, then after each change', async () => {
    await net.createService({ name: 'web', networks: ['mh_net'], replicas: 2 });
    await net.allocate();
    const stop = new AbortController();
    const snapshots = net.watch({ signal: stop.signal })[Symbol.asyncIterator]();
    const first = (await nextWithin(snapshots, WAIT_MS)).value;
    expect(first.networks.map((n: { name: string }) => n.name)).toEqual(['mh_net']);
    expect(first.services.map((s: { name: string }) => s.name)).toEqual(['web']);
    expect(first.tasks.map((t: { state: string }) => t.state)).toEqual(['pending', 'pending']);
    await net.updateTaskState(first.tasks[0].id, 'running');
    const seen = await readUntil(snapshots, (s) => s.tasks.some((t) => t.state === 'running'), WAIT_MS);
    expect(seen.at(-1)?.tasks.map((t) => t.state)).toEqual(['running', 'pending']);
    stop.abort();
    expect((await nextWithin(snapshots, WAIT_MS)).done).toBe(true);
  });

  it('leaves out services being removed and records that do not parse', async () => {
    await net.createService({ name: 'web', networks: ['mh_net'], replicas: 0 });
    await store.put('kvkit/network/services/zzz', '{not json');
    const snapshots = net.watch()[Symbol.asyncIterator]();
    expect(
      (await nextWithin(snapshots, WAIT_MS)).value.services.map((s: { name: string }) => s.name),
    ).toEqual(['web']);
    await net.removeService('web');
    await readUntil(snapshots, (s) => s.services.length === 0, WAIT_MS);
    await snapshots.return?.();
  });

  it('ends when the network state closes', async () => {
    const snapshots = net.watch()[Symbol.asyncIterator]();
    await nextWithin(snapshots, WAIT_MS);
    await net.close();
    expect((await nextWithin(snapshots, WAIT_MS)).done).toBe(true);
  });
});
