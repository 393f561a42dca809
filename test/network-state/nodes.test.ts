import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../src/index.js';
import { type NetworkState, openNetworkState } from '../../src/network-state/index.js';

const PREFIX = 'kvkit/network';
let seq = 0;

describe('node registration', () => {
  let store: Store;
  let net: NetworkState;

  beforeEach(async () => {
    store = await createStore(`memory://nodes-${process.pid}-${++seq}`);
    net = await openNetworkState(store);
  });
  afterEach(async () => {
    await net.close();
    await store.close();
  });

  const register = (hostname: string, labels: Record<string, string> = {}) =>
    net.registerNode({ hostname, addr: '127.0.0.1', labels, heartbeatPeriodMs: 5000 });
  const markDown = async (id: string) => {
    const pair = await store.get(`${PREFIX}/nodes/${id}`);
    const node = JSON.parse(new TextDecoder().decode(pair.value));
    await store.atomicPut(pair.key, JSON.stringify({ ...node, state: 'down' }), pair);
  };

  it('a new hostname gets a new ready node', async () => {
    const node = await register('w1');
    expect(node).toMatchObject({ hostname: 'w1', state: 'ready', availability: 'active' });
    expect((await net.listNodes()).map((n) => n.id)).toEqual([node.id]);
  });

  it('a down node of the same hostname is taken over: same id, the new labels', async () => {
    const first = await register('w1', { zone: 'a' });
    await markDown(first.id);
    const again = await register('w1', { zone: 'b' });
    expect(again.id).toBe(first.id);
    expect(again.labels).toEqual({ zone: 'b' });
    expect(await net.listNodes()).toHaveLength(1);
  });

  it('a ready node of the same hostname is not taken over: a second node is made', async () => {
    const first = await register('w1');
    const second = await register('w1');
    expect(second.id).not.toBe(first.id);
    expect(await net.listNodes()).toHaveLength(2);
  });

  it('a hostname that extends another does not take the other one over', async () => {
    const short = await register('w1');
    await markDown(short.id);
    const longer = await register('w1.example');
    expect(longer.id).not.toBe(short.id);
    expect((await net.inspectNode(short.id)).state).toBe('down');
  });

  it('a removed node is not taken over: the hostname registers as a new node', async () => {
    const first = await register('w1');
    await markDown(first.id);
    await net.removeNode('w1');
    const again = await register('w1');
    expect(again.id).not.toBe(first.id);
    expect((await store.list(`${PREFIX}/hostnames`)).map((p) => p.key)).toEqual([
      `${PREFIX}/hostnames/w1/${again.id}`,
    ]);
  });

  it('reconciliation indexes a node written without its hostname entry, so it can be taken over', async () => {
    const legacy = await register('w1');
    await store.delete(`${PREFIX}/hostnames/w1/${legacy.id}`);
    await markDown(legacy.id);
    const report = await net.reconcile();
    expect(report.hostnameEntries).toBe(1);
    expect((await register('w1')).id).toBe(legacy.id);
  });

  it('reconciliation deletes the old entry of a node that is gone, and keeps a fresh one', async () => {
    const old = new Date(Date.now() - 3_600_000).toISOString();
    await store.put(`${PREFIX}/hostnames/w1/gone`, old);
    await store.put(`${PREFIX}/hostnames/w2/registering`, new Date().toISOString());
    await net.reconcile();
    expect((await store.list(`${PREFIX}/hostnames`)).map((p) => p.key)).toEqual([
      `${PREFIX}/hostnames/w2/registering`,
    ]);
    // An entry whose node is gone is skipped by registration.
    expect((await register('w1')).id).not.toBe('gone');
  });
});
