/**
 * kvkitDriver through unstorage's own driver cases (test/unstorage/driver-cases.ts) on the
 * memory, local, raft and redis backends, plus the driver's own cases: where keys land, meta,
 * TTL, watch (also of another process's writes) and the base directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorage } from 'unstorage';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../../src/conformance/helpers.js';
import { type LocalCluster, startLocalCluster } from '../../src/raft-node/local-cluster.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/types.js';
import { text } from '../../src/store/values.js';
import kvkitDriver from '../../src/unstorage/index.js';
import { type RedisServer, startRedisServer } from '../backends/redis-server.js';
import { unstorageDriverCases } from './driver-cases.js';

/** A second Store on the same data (another client), and the one the driver uses. */
function kvkitCases(name: string, open: () => Promise<{ driverStore: Store; other: Store }>, base = 'nitro') {
  describe(`unstorage driver cases on ${name}`, () => {
    let other: Store;
    let driverStore: Store;
    unstorageDriverCases({
      driver: async () => {
        ({ driverStore, other } = await open());
        return kvkitDriver({ store: driverStore, base });
      },
      additionalTests(ctx) {
        it('keeps a:b:c as the Store key base/a/b/c', async () => {
          await ctx.storage.setItem('s1:a', 'test_data');
          expect(text(await other.get(`${base}/s1/a`))).toBe('test_data');
        });

        it("gives the item's lastIndex as meta", async () => {
          await ctx.storage.setItem('s1:a', 'test_data');
          const meta = await ctx.storage.getMeta('s1:a');
          expect(meta.lastIndex).toBe((await other.get(`${base}/s1/a`)).lastIndex);
        });

        it('expires an item written with a ttl (seconds)', async () => {
          await ctx.storage.setItem('s1:ttl', 'short', { ttl: 1 });
          expect(await ctx.storage.hasItem('s1:ttl')).toBe(true);
          expect(await eventually(async () => !(await ctx.storage.hasItem('s1:ttl')), 60_000)).toBe(true);
        });

        it("watches the base: another client's write is an update, its delete a remove", async () => {
          const events: string[] = [];
          const unwatch = await ctx.storage.watch((event, key) => events.push(`${event} ${key}`));
          await other.put(`${base}/s1/watched`, 'x');
          expect(await eventually(async () => events.includes('update s1:watched'), 60_000)).toBe(true);
          await other.delete(`${base}/s1/watched`);
          expect(await eventually(async () => events.includes('remove s1:watched'), 60_000)).toBe(true);
          await unwatch();
        });

        it('lists and clears only its base', async () => {
          await other.put('elsewhere/k', 'stays');
          await ctx.storage.setItem('k', 'v');
          expect(await ctx.storage.getKeys()).toEqual(['k']);
          await ctx.storage.clear();
          expect(await other.exists('elsewhere/k')).toBe(true);
          await other.delete('elsewhere/k');
        });
      },
    });
  });
}

kvkitCases('memory:', async () => ({
  driverStore: await createStore('memory://unstorage-cases'),
  other: await createStore('memory://unstorage-cases'),
}));

describe('on local://', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvkit-unstorage-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  kvkitCases('local://', async () => ({
    driverStore: await createStore(`local://${dir}`),
    other: await createStore(`local://${dir}`),
  }));
});

describe('on a 3-node raft cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvkit-unstorage-raft-'));
  let cluster: LocalCluster | undefined;
  afterAll(async () => {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  kvkitCases('raft', async () => {
    cluster = await startLocalCluster({ size: 3, dataDir: dir });
    const leader = await cluster.leader();
    return { driverStore: leader.openStore(), other: cluster.nodes.find((n) => n !== leader)!.openStore() };
  });
});

describe('on redis://', () => {
  let server: RedisServer | undefined;
  afterAll(() => server?.close());
  kvkitCases('redis', async () => {
    server = await startRedisServer();
    return {
      driverStore: await createStore(`redis://${server.endpoint}`),
      other: await createStore(`redis://${server.endpoint}`),
    };
  });
});

describe('kvkitDriver options', () => {
  it('opens a URL on first use and closes it on dispose', async () => {
    const driver = kvkitDriver({ url: 'memory://unstorage-owned', base: 'app:cache' });
    const storage = createStorage({ driver });
    await storage.setItem('a:b', 'v');
    const store = driver.getInstance?.() as Store;
    expect(text(await store.get('app/cache/a/b'))).toBe('v');
    await storage.dispose();
    expect((await store.exists('x').catch((err) => err.code)) as unknown).toBe('CLOSED');
  });

  it('refuses both or neither of url and store', async () => {
    const store = await createStore('memory:');
    expect(() => kvkitDriver({})).toThrow(/exactly one/);
    expect(() => kvkitDriver({ url: 'memory:', store })).toThrow(/exactly one/);
    await store.close();
  });
});
