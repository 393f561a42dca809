import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openZookeeperStore } from '../../src/backends/zookeeper/index.js';
import { delay, eventually } from '../../src/conformance/helpers.js';
import { runConformance } from '../../src/conformance/index.js';
import { createStore, type Store, text } from '../../src/index.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const docker = await requireDocker();

let server: RunningServer;
const stores: Store[] = [];
const open = async (extra: { username?: string; password?: string; prefix?: string } = {}) => {
  const store = await createStore({ backend: 'zk', endpoints: [server.endpoint], ...extra });
  stores.push(store);
  return store;
};

/** Runs zkCli.sh in the container against its own server; returns its output. */
async function zkCli(...args: string[]): Promise<string> {
  const { exitCode, output } = await server.exec(['zkCli.sh', '-server', '127.0.0.1:2181', ...args]);
  expect(exitCode, output).toBe(0);
  return output;
}

describe.skipIf(!docker)('zookeeper backend on a real server', () => {
  beforeAll(async () => {
    server = await startServer('zookeeper');
  }, 300_000);

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server?.close();
  }, 60_000);

  runConformance({ name: 'zookeeper', open: () => open() });

  describe('interoperability with zkCli.sh', () => {
    it('reads with zkCli.sh get what kvkit wrote, at the znode of the same path', async () => {
      const store = await open();
      await store.put('interop/from-kvkit/config', 'written by kvkit');
      const output = await zkCli('get', '/interop/from-kvkit/config');
      expect(output).toContain('written by kvkit');
    });

    it('reads with kvkit what zkCli.sh created and set, and lists only znodes with data', async () => {
      const store = await open();
      await zkCli('create', '/interop-cli');
      await zkCli('create', '/interop-cli/key', 'first');
      await zkCli('set', '/interop-cli/key', 'second');
      const pair = await store.get('interop-cli/key');
      expect(text(pair)).toBe('second');
      // The znode /interop-cli was created without data: a directory, not a key.
      expect(await store.exists('interop-cli')).toBe(false);
      expect((await store.list('interop-cli')).map((p) => p.key)).toEqual(['interop-cli/key']);
    });

    it('sees a zkCli.sh change through a watch', async () => {
      const store = await open();
      await store.put('interop-watch/k', 'before');
      const stop = new AbortController();
      const iter = store.watch('interop-watch/k', { signal: stop.signal })[Symbol.asyncIterator]();
      expect(text((await iter.next()).value)).toBe('before');
      await zkCli('set', '/interop-watch/k', 'after');
      let state = (await iter.next()).value;
      while (state && text(state) !== 'after') state = (await iter.next()).value;
      stop.abort();
      expect(text(state)).toBe('after');
    });
  });

  describe('znode mapping', () => {
    it('keeps a deleted key with keys beneath it as a data-less znode, and prunes it once empty', async () => {
      const store = await open();
      await store.put('mapping/keep', 'k');
      await store.put('mapping/parent', 'p');
      await store.put('mapping/parent/child', 'c');
      await store.delete('mapping/parent');
      expect(await store.exists('mapping/parent')).toBe(false);
      expect(text(await store.get('mapping/parent/child'))).toBe('c');
      expect(await zkCli('ls', '/mapping')).toContain('[keep, parent]');
      await store.delete('mapping/parent/child');
      expect(await zkCli('ls', '/mapping')).toContain('[keep]');
    });

    it('rejects a TTL on a key that has keys beneath it with INVALID_ARGUMENT', async () => {
      const store = await open();
      await store.put('mapping/ttl-parent/child', 'c');
      await expect(store.put('mapping/ttl-parent', 'p', { ttl: 5000 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('gives lastIndex as the znode mzxid', async () => {
      const store = await open();
      await store.put('mapping/mzxid', 'v');
      const output = await zkCli('stat', '/mapping/mzxid');
      const mzxid = Number(/mZxid = (0x[0-9a-f]+)/.exec(output)?.[1]);
      expect((await store.get('mapping/mzxid')).lastIndex).toBe(mzxid);
    });
  });

  describe('locks (ephemeral-sequential recipe)', () => {
    it('hands the lock on in queue order, one waiter at a time', async () => {
      const [a, b, c] = await Promise.all([open(), open(), open()]);
      const key = 'locks/order';
      const holder = a.newLock(key, { value: 'a' });
      await holder.lock();
      const order: string[] = [];
      const second = b.newLock(key, { value: 'b' });
      const gotSecond = second.lock().then(() => order.push('b'));
      await delay(300); // b queues before c
      const third = c.newLock(key, { value: 'c' });
      const gotThird = third.lock().then(() => order.push('c'));
      await delay(300);
      expect(await zkCli('ls', '/locks/order%lock')).toMatch(/\[c-\d{10}, c-\d{10}, c-\d{10}\]/);
      await holder.unlock();
      await gotSecond;
      expect(text(await a.get(key))).toBe('b');
      expect(order).toEqual(['b']); // only the next in line woke up
      await second.unlock();
      await gotThird;
      await third.unlock();
      expect(order).toEqual(['b', 'c']);
      expect(await a.exists(key)).toBe(false);
    });

    it('removes its queue node when lock() gives up on abort', async () => {
      const [a, b] = await Promise.all([open(), open()]);
      const key = 'locks/abort';
      const holder = a.newLock(key);
      await holder.lock();
      const stop = new AbortController();
      const waiting = b.newLock(key).lock({ signal: stop.signal });
      await delay(300);
      expect(await zkCli('ls', '/locks/abort%lock')).toMatch(/\[c-\d{10}, c-\d{10}\]/);
      stop.abort();
      await expect(waiting).rejects.toMatchObject({ code: 'CANNOT_LOCK' });
      expect(await zkCli('ls', '/locks/abort%lock')).toMatch(/\[c-\d{10}\]/);
      await holder.unlock();
    });

    it('aborts the lost signal when the lock znode is deleted behind the holder', async () => {
      const store = await open();
      const lock = store.newLock('locks/deleted', { value: 'mine' });
      const lost = await lock.lock();
      await zkCli('delete', '/locks/deleted');
      await eventually(async () => lost.aborted, 10_000);
      expect(lost.aborted).toBe(true);
      await expect(lock.unlock()).rejects.toMatchObject({ code: 'CANNOT_LOCK' });
    });
  });

  describe('digest authentication', () => {
    it('reads a znode protected by a digest ACL only with the right username and password', async () => {
      const digest = createHash('sha1').update('alice:secret').digest('base64');
      await zkCli('create', '/protected', 'for alice only', `digest:alice:${digest}:cdrwa`);
      const alice = await open({ username: 'alice', password: 'secret' });
      expect(text(await alice.get('protected'))).toBe('for alice only');
      const anonymous = await open();
      await expect(anonymous.get('protected')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    });
  });

  describe('options', () => {
    it('rejects TLS options with CALL_NOT_SUPPORTED: node-zookeeper-client has no TLS', async () => {
      await expect(
        openZookeeperStore({ backend: 'zk', endpoints: [server.endpoint], tls: { ca: 'x' } }),
      ).rejects.toMatchObject({ code: 'CALL_NOT_SUPPORTED' });
    });

    it('connects through a list of endpoints when the first is down', async () => {
      const store = await open({ prefix: 'multi' });
      const both = await createStore({ backend: 'zk', endpoints: ['127.0.0.1:1', server.endpoint] });
      stores.push(both);
      await store.put('k', 'v');
      expect(text(await both.get('multi/k'))).toBe('v');
    });
  });
});
