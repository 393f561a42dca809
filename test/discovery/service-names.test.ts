import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore, isKVError, type NetworkState, openNetworkState, type Store } from '../../src/index.js';

describe('service names are DNS labels (moby#46928)', () => {
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

  it.each([
    ['over 63 characters', 'a'.repeat(64)],
    ['an underscore', 'my_service'],
    ['a dot', 'web.v2'],
    ['a leading hyphen', '-web'],
    ['a space', 'web app'],
    ['nothing', ''],
  ])('createService refuses a name with %s, naming it, and writes nothing', async (_what, name) => {
    const err = await net.createService({ name, networks: ['mh_net'], replicas: 1 }).catch((e) => e);
    expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect(err.message).toContain(JSON.stringify(name));
    expect(await net.listServices()).toEqual([]);
  });

  it.each(['a', 'web', 'Web-2', 'a'.repeat(63), '9lives'])('createService accepts %s', async (name) => {
    const service = await net.createService({ name, networks: ['mh_net'], replicas: 0 });
    expect(service.name).toBe(name);
  });
});
