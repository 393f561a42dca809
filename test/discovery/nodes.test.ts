import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { delay, eventually, nextWithin, readUntil, text } from '../../src/conformance/helpers.js';
import {
  createStore,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_NODE_TTL_MS,
  type Discovery,
  isKVError,
  openDiscovery,
  type Store,
} from '../../src/index.js';
import type { OpenedStore } from '../network-state/stores.js';
import { FlakyWatchStore } from './flaky-watch.js';
import { discoveryStores } from './stores.js';

/** A deadline against hangs, never a verdict on speed. */
const WAIT_MS = 30_000;

describe.each(discoveryStores)('node discovery on $name', (factory) => {
  let opened: OpenedStore;
  let store: Store;
  let disco: Discovery;

  beforeAll(async () => {
    opened = await factory.open();
    store = opened.store;
  }, 60_000);
  afterAll(async () => {
    await opened.cleanup();
  }, 60_000);
  beforeEach(() => {
    disco = openDiscovery(store);
  });
  afterEach(async () => {
    await disco.close();
    await store.deleteTree('docker');
    await store.deleteTree('swarm');
  });

  it("keeps Docker's key docker/nodes/<addr> holding the address", async () => {
    await using _reg = await disco.register('10.0.0.1:2375');
    expect(text(await store.get('docker/nodes/10.0.0.1:2375'))).toBe('10.0.0.1:2375');
  });

  it('lists registered addresses sorted', async () => {
    await using _b = await disco.register('10.0.0.2:2375');
    await using _a = await disco.register('10.0.0.10:2375');
    await using _c = await disco.register('[fd00::1]:2375');
    expect(await disco.listNodes()).toEqual(['10.0.0.10:2375', '10.0.0.2:2375', '[fd00::1]:2375']);
  });

  it('deletes the key at once on close (a clean leave)', async () => {
    const reg = await disco.register('10.0.0.1:2375', { ttlMs: 60_000, heartbeatMs: 20_000 });
    await reg.close();
    expect(await store.exists('docker/nodes/10.0.0.1:2375')).toBe(false);
    expect(await disco.listNodes()).toEqual([]);
  });

  it('puts its key back within a heartbeat when someone deletes it', async () => {
    await using _reg = await disco.register('10.0.0.1:2375', { heartbeatMs: 100, ttlMs: 3000 });
    await store.delete('docker/nodes/10.0.0.1:2375');
    expect(await eventually(() => store.exists('docker/nodes/10.0.0.1:2375'), WAIT_MS)).toBe(true);
  });

  it('lives under the given prefix', async () => {
    await using other = openDiscovery(store, { prefix: 'swarm/discovery' });
    await using _reg = await other.register('10.0.0.1:2375');
    expect(await store.exists('swarm/discovery/nodes/10.0.0.1:2375')).toBe(true);
    expect(await disco.listNodes()).toEqual([]);
    expect(await other.listNodes()).toEqual(['10.0.0.1:2375']);
  });

  it('costs at most one write per heartbeat', async () => {
    const key = 'docker/nodes/10.0.0.1:2375';
    const heartbeatMs = 100;
    const writes = new Set<number>();
    const stop = new AbortController();
    const counting = (async () => {
      for await (const pair of store.watch(key, { signal: stop.signal }))
        if (pair) writes.add(pair.lastIndex);
    })();
    await using _reg = await disco.register('10.0.0.1:2375', { heartbeatMs, ttlMs: 900 });
    const started = Date.now();
    await delay(2000);
    const beats = Math.floor((Date.now() - started) / heartbeatMs);
    stop.abort();
    await counting;
    expect(writes.size).toBeGreaterThanOrEqual(1);
    expect(writes.size).toBeLessThanOrEqual(beats + 1);
  });

  it('refuses a TTL not greater than the heartbeat, naming both', async () => {
    const err = await disco.register('10.0.0.1:2375', { heartbeatMs: 5000, ttlMs: 5000 }).catch((e) => e);
    expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect(err.message).toMatch(/ttlMs \(5000\).*heartbeatMs \(5000\)/);
    expect(await disco.listNodes()).toEqual([]);
  });

  it('watchNodes yields the full sorted list at once, then after each change', async () => {
    await using _a = await disco.register('10.0.0.2:2375');
    const stop = new AbortController();
    const lists = disco.watchNodes({ signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(lists, WAIT_MS)).value).toEqual(['10.0.0.2:2375']);
    const b = await disco.register('10.0.0.1:2375');
    await readUntil(lists, (l) => l.length === 2, WAIT_MS);
    await b.close();
    const seen = await readUntil(lists, (l) => l.length === 1, WAIT_MS);
    expect(seen.at(-1)).toEqual(['10.0.0.2:2375']);
    stop.abort();
    expect((await nextWithin(lists, WAIT_MS)).done).toBe(true);
  });

  it('watchNodes never yields the same list twice in a row', async () => {
    // TTL 2.4 s: refreshed every 800 ms, so the wait below sees several refreshes, and a stall of
    // the busy machine shorter than the TTL cannot expire the key (which would change the list).
    await using _a = await disco.register('10.0.0.1:2375', { heartbeatMs: 100, ttlMs: 2400 });
    const stop = new AbortController();
    const seen: string[][] = [];
    const watching = (async () => {
      for await (const list of disco.watchNodes({ signal: stop.signal })) seen.push(list);
    })();
    await eventually(async () => seen.length === 1, WAIT_MS, 10);
    await store.put('docker/nodes/10.0.0.1:2375', '10.0.0.1:2375'); // same list, new index
    await delay(2500); // the lock refreshes its TTL several times meanwhile
    await store.put('docker/nodes/10.0.0.9:2375', '10.0.0.9:2375');
    await eventually(async () => seen.length === 2, WAIT_MS, 10);
    stop.abort();
    await watching;
    expect(seen).toEqual([['10.0.0.1:2375'], ['10.0.0.1:2375', '10.0.0.9:2375']]);
  });

  it('watchNodes survives store errors: reports them, retries and resumes', async () => {
    const flaky = new FlakyWatchStore(store);
    await using watcher = openDiscovery(flaky.store);
    const errors: unknown[] = [];
    const stop = new AbortController();
    const lists = watcher
      .watchNodes({ signal: stop.signal, onError: (e) => errors.push(e) })
      [Symbol.asyncIterator]();
    expect((await nextWithin(lists, WAIT_MS)).value).toEqual([]);
    flaky.failOpens = 2;
    flaky.breakWatches();
    await using _a = await disco.register('10.0.0.1:2375');
    await readUntil(lists, (l) => l.length === 1, WAIT_MS);
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors.every((e) => isKVError(e, 'NOT_REACHABLE'))).toBe(true);
    stop.abort();
  });

  it('watchNodes ends when the discovery closes', async () => {
    const own = openDiscovery(store);
    const lists = own.watchNodes()[Symbol.asyncIterator]();
    await nextWithin(lists, WAIT_MS);
    await own.close();
    expect((await nextWithin(lists, WAIT_MS)).done).toBe(true);
  });
});

describe.each(discoveryStores.filter((f) => f.name !== 'raft'))('node expiry on $name', (factory) => {
  let opened: OpenedStore;

  beforeEach(async () => {
    opened = await factory.open();
  });
  afterEach(async () => {
    await opened.cleanup();
  });

  it('a registration whose store stops refreshing disappears once its TTL passes', async () => {
    const dying = await opened.reopen();
    const reg = await openDiscovery(dying).register('10.0.0.7:2375', { heartbeatMs: 200, ttlMs: 2000 });
    const observer = openDiscovery(opened.store);
    expect(await observer.listNodes()).toEqual(['10.0.0.7:2375']);
    await dying.close(); // no clean leave: the key must go by its TTL
    expect(await eventually(async () => (await observer.listNodes()).length === 0, WAIT_MS)).toBe(true);
    await reg.close();
  });

  it('registering an address an earlier registration still holds resolves at once and takes over', async () => {
    const key = 'docker/nodes/10.0.0.7:2375';
    const earlier = await opened.reopen();
    await openDiscovery(earlier).register('10.0.0.7:2375', { heartbeatMs: 200, ttlMs: 3000 });
    await earlier.close(); // died; its key lives until the TTL
    const earlierIndex = (await opened.store.get(key)).lastIndex;
    const disco = openDiscovery(opened.store);
    const reg = await disco.register('10.0.0.7:2375', { heartbeatMs: 200, ttlMs: 3000 });
    expect(await disco.listNodes()).toEqual(['10.0.0.7:2375']);
    // Once the earlier TTL passes ours writes the key: a new index, the same address.
    const rewritten = async () => {
      const pair = await opened.store.get(key).catch(() => null);
      return pair !== null && pair.lastIndex !== earlierIndex;
    };
    expect(await eventually(rewritten, WAIT_MS)).toBe(true);
    expect(await disco.listNodes()).toEqual(['10.0.0.7:2375']);
    await reg.close();
    expect(await disco.listNodes()).toEqual([]);
  });
});

describe('node addresses', () => {
  let store: Store;
  beforeAll(async () => {
    store = await createStore('memory:');
  });
  afterAll(async () => {
    await store.close();
  });

  it.each(['', 'no-port', '10.0.0.1:', '10.0.0.1:99999', 'a/b:80', '-x:80'])(
    'refuses the address %j',
    async (addr) => {
      const err = await openDiscovery(store)
        .register(addr)
        .catch((e) => e);
      expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect(err.message).toContain(JSON.stringify(addr));
    },
  );
});

describe('registration defaults', () => {
  let store: Store;
  beforeAll(async () => {
    store = await createStore('memory:');
  });
  afterAll(async () => {
    await store.close();
  });
  const refusal = (opts: { heartbeatMs?: number; ttlMs?: number }) =>
    openDiscovery(store)
      .register('10.0.0.1:2375', opts)
      .catch((e) => e);

  it("the TTL is 60 s by default (dockerd's): a 60 s heartbeat alone is refused", async () => {
    const err = await refusal({ heartbeatMs: 60_000 });
    expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect(err.message).toMatch(/ttlMs \(60000\).*heartbeatMs \(60000\)/);
    expect(DEFAULT_NODE_TTL_MS).toBe(60_000);
  });

  it("the heartbeat is 20 s by default (dockerd's): a 20 s TTL alone is refused", async () => {
    const err = await refusal({ ttlMs: 20_000 });
    expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect(err.message).toMatch(/ttlMs \(20000\).*heartbeatMs \(20000\)/);
    expect(DEFAULT_HEARTBEAT_MS).toBe(20_000);
  });
});
