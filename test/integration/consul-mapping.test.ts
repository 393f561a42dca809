/**
 * How kvkit maps onto Consul, checked on a real agent: data kvkit writes is where `consul kv`
 * looks (and the reverse), keys Consul's HTTP router would rewrite still round-trip, TTLs and
 * locks ride on sessions that are cleaned up, and several endpoints fail over.
 * Independent tests run concurrently, since the TTL ones mostly wait.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadlineFlags, deadlineOf } from '../../src/backends/consul/long-ttl.js';
import { delay, eventually, failure, nextWithin, readUntil, text } from '../../src/conformance/helpers.js';
import { createStore, type KVPair, type Store } from '../../src/index.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const dockerAvailable = await requireDocker();

let server: RunningServer;
const stores: Store[] = [];
const open = async (extra: { prefix?: string; endpoints?: string[] } = {}) => {
  const store = await createStore({ backend: 'consul', endpoints: [server.endpoint], ...extra });
  stores.push(store);
  return store;
};

/** The agent's HTTP API, for what kvkit does not expose (sessions). */
async function consulApi<T>(method: string, path: string): Promise<T> {
  const res = await fetch(`http://${server.endpoint}/v1/${path}`, {
    method,
    signal: AbortSignal.timeout(5000),
  });
  expect(res.ok).toBe(true);
  return (await res.json()) as T;
}
const sessionIds = async () => (await consulApi<{ ID: string }[]>('GET', 'session/list')).map((s) => s.ID);

interface RawEntry {
  Key: string;
  Flags: number;
  Session?: string;
  ModifyIndex: number;
}

/** A write straight through the agent's KV endpoint, with the Flags given. */
async function rawPut(key: string, value: string, flags: number): Promise<void> {
  const res = await fetch(`http://${server.endpoint}/v1/kv/${key}?flags=${flags}`, {
    method: 'PUT',
    body: value,
    signal: AbortSignal.timeout(5000),
  });
  expect((await res.text()).trim()).toBe('true');
}

/** The entry as the agent holds it, or null. */
async function rawGet(key: string): Promise<RawEntry | null> {
  const res = await fetch(`http://${server.endpoint}/v1/kv/${key}`, { signal: AbortSignal.timeout(5000) });
  if (res.status === 404) return null;
  expect(res.ok).toBe(true);
  return ((await res.json()) as RawEntry[])[0];
}

const DAY_MS = 86_400_000;

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe.skipIf(!dockerAvailable)('consul backend mapping', () => {
  let store: Store;

  beforeAll(async () => {
    server = await startServer('consul');
    store = await open();
  }, 300_000);

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server?.close();
  }, 60_000);

  describe('interoperability with the consul CLI', () => {
    it('shows what kvkit writes to `consul kv get`', async () => {
      await store.put('interop/from-kvkit', 'héllo from kvkit');
      const got = await server.exec(['consul', 'kv', 'get', 'interop/from-kvkit']);
      expect(got).toEqual({ exitCode: 0, output: 'héllo from kvkit\n' });
    });

    it('reads what `consul kv put` writes', async () => {
      const put = await server.exec(['consul', 'kv', 'put', 'interop/from-cli', 'written by the CLI']);
      expect(put.exitCode).toBe(0);
      expect(text(await store.get('interop/from-cli'))).toBe('written by the CLI');
      const deleted = await server.exec(['consul', 'kv', 'delete', 'interop/from-cli']);
      expect(deleted.exitCode).toBe(0);
      expect(await store.exists('interop/from-cli')).toBe(false);
    });

    it('keeps a store prefix visible as a plain key path', async () => {
      const prefixed = await open({ prefix: 'tenant-a' });
      await prefixed.put('config/x', '1');
      const got = await server.exec(['consul', 'kv', 'get', 'tenant-a/config/x']);
      expect(got).toEqual({ exitCode: 0, output: '1\n' });
      expect((await prefixed.list('config')).map((p) => p.key)).toEqual(['config/x']);
    });
  });

  describe.concurrent('keys Consul would rewrite in a URL', () => {
    it.each(['a//b', 'a/./b', 'a/../b', './x', 'x/..', 'x/.', '/rooted'])(
      'round-trips the key %s',
      async (odd) => {
        const d = `odd/${Math.random().toString(36).slice(2, 8)}`;
        const key = `${d}/${odd}`;
        await store.put(key, `value of ${odd}`);
        expect(text(await store.get(key))).toBe(`value of ${odd}`);
        expect((await store.get(key)).key).toBe(key);
        expect(await store.exists(`${d}/b`)).toBe(false);
        expect((await store.list(d)).map((p) => p.key)).toEqual([key]);

        const stop = new AbortController();
        const watch = store.watch(key, { signal: stop.signal })[Symbol.asyncIterator]();
        expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe(`value of ${odd}`);
        await store.atomicPut(key, 'next', await store.get(key));
        expect(text((await readUntil(watch, (s) => text(s) === 'next', 30_000)).at(-1) ?? null)).toBe('next');
        await store.deleteTree(d);
        expect((await readUntil(watch, (s) => s === null, 30_000)).at(-1)).toBeNull();
        stop.abort();
      },
    );

    it('rejects a key with a lone surrogate with INVALID_KEY instead of storing another key', async () => {
      expect((await failure(() => store.put('bad/\uD800x', 'v'))).code).toBe('INVALID_KEY');
      expect(await store.list('bad')).toEqual([]);
    });
  });

  describe.concurrent('TTLs and locks on sessions', () => {
    it('keeps a key with a ttl until the ttl has passed (Consul doubles session TTLs)', async () => {
      const ttl = store.capabilities.ttl?.minMs ?? 0;
      expect(ttl).toBe(20_000);
      await store.put('ttl/early', 'v', { ttl });
      await delay(ttl - 2000);
      expect(await store.exists('ttl/early')).toBe(true);
      const granularity = store.capabilities.ttl?.granularityMs ?? 0;
      expect(await eventually(async () => !(await store.exists('ttl/early')), granularity + 5000)).toBe(true);
    }, 60_000);

    it('bumps lastIndex when the same value is written again', async () => {
      await store.put('same/k', 'same');
      const first = await store.get('same/k');
      const second = await store.atomicPut('same/k', 'same', first);
      expect(second.lastIndex).toBeGreaterThan(first.lastIndex);
      await store.put('same/k', 'same');
      expect((await store.get('same/k')).lastIndex).toBeGreaterThan(second.lastIndex);
    });

    it('aborts the holder signal when the lock key is deleted behind its back', async () => {
      const lost = await store.newLock('locks/deleted', { value: 'holder' }).lock();
      const removed = await server.exec(['consul', 'kv', 'delete', 'locks/deleted']);
      expect(removed.exitCode).toBe(0);
      expect(await eventually(async () => lost.aborted, 30_000)).toBe(true);
      expect((lost.reason as { code?: string }).code).toBe('CANNOT_LOCK');
    }, 60_000);

    it('aborts the holder signal when its session is destroyed, and unlock then rejects', async () => {
      const lock = store.newLock('locks/session', { value: 'holder' });
      const lost = await lock.lock();
      const sessions = await consulApi<{ ID: string; Name: string }[]>('GET', 'session/list');
      const held = (await consulApi<{ Session?: string }[]>('GET', 'kv/locks/session'))[0]?.Session;
      expect(sessions.some((s) => s.ID === held && s.Name === 'kvkit-lock')).toBe(true);
      await consulApi('PUT', `session/destroy/${held}`);
      expect(await eventually(async () => lost.aborted, 30_000)).toBe(true);
      expect((await failure(() => lock.unlock())).code).toBe('CANNOT_LOCK');
      expect(await store.exists('locks/session')).toBe(false);
    }, 60_000);

    it('takes a put over a held lock key as a loss for the holder, and keeps the put once the session ends', async () => {
      const other = await open();
      const lost = await store.newLock('locks/overwritten', { value: 'holder' }).lock();
      await other.put('locks/overwritten', 'plain');
      expect(await eventually(async () => lost.aborted, 30_000)).toBe(true);
      expect((lost.reason as { code?: string }).code).toBe('CANNOT_LOCK');
      // The holder ended its session, which released the key with the put's value.
      expect(
        await eventually(async () => (await rawGet('locks/overwritten'))?.Session === undefined, 30_000),
      ).toBe(true);
      expect(text(await store.get('locks/overwritten'))).toBe('plain');
    }, 60_000);

    it('sends a put through the plain KV endpoint even over a ttl key, which then outlives its session', async () => {
      await store.put('ttl/plain-over', 'temporary', { ttl: 20_000 });
      const session = (await rawGet('ttl/plain-over'))?.Session;
      expect(session).toBeTruthy();
      await store.put('ttl/plain-over', 'permanent');
      // Consul keeps the session on the key; ending it releases the key with the plain value.
      expect((await rawGet('ttl/plain-over'))?.Session).toBe(session);
      await consulApi('PUT', `session/destroy/${session}`);
      expect(
        await eventually(async () => (await rawGet('ttl/plain-over'))?.Session === undefined, 10_000),
      ).toBe(true);
      expect(text(await store.get('ttl/plain-over'))).toBe('permanent');
    });

    it('reads a ttl key its session released as absent, and deletes it from Consul', async () => {
      await store.put('ttl/released', 'v', { ttl: 20_000 });
      const session = (await rawGet('ttl/released'))?.Session;
      await consulApi('PUT', `session/destroy/${session}`);
      expect(await store.exists('ttl/released')).toBe(false);
      expect(await eventually(async () => (await rawGet('ttl/released')) === null, 10_000)).toBe(true);
    });

    it('destroys the lock session on unlock, which deletes the key for waiters at once', async () => {
      const lock = store.newLock('locks/unlock', { value: 'holder' });
      await lock.lock();
      const held = (await consulApi<{ Session?: string }[]>('GET', 'kv/locks/unlock'))[0]?.Session;
      await lock.unlock();
      expect(await store.exists('locks/unlock')).toBe(false);
      expect(await sessionIds()).not.toContain(held);
    });
  });

  describe.concurrent('TTLs longer than a session carries (deadline in Flags)', () => {
    it('writes a key with a ttl past 48 h without a session, its deadline in Flags, so it outlives its writer', async () => {
      const writer = await createStore({ backend: 'consul', endpoints: [server.endpoint] });
      const before = Date.now();
      try {
        await writer.put('long/month', 'stays', { ttl: 30 * DAY_MS });
      } finally {
        await writer.close();
      }
      const after = Date.now();
      const entry = await rawGet('long/month');
      expect(entry?.Session).toBeUndefined();
      const deadline = deadlineOf(entry?.Flags ?? 0) ?? 0;
      expect(deadline).toBeGreaterThanOrEqual(before + 30 * DAY_MS);
      expect(deadline).toBeLessThanOrEqual(after + 30 * DAY_MS);
      expect(text(await store.get('long/month'))).toBe('stays');
    });

    it('treats a key whose deadline passes as gone in get, list and watch, and deletes it from Consul', async () => {
      // As a long-TTL key written long ago looks now: its deadline a few seconds ahead.
      const deadline = Date.now() + 15_000;
      await rawPut('long/due/k', 'soon', deadlineFlags(deadline, 1));
      expect(text(await store.get('long/due/k'))).toBe('soon');
      expect((await store.list('long/due')).map((p) => p.key)).toEqual(['long/due/k']);
      const stop = new AbortController();
      const watch = store.watch('long/due/k', { signal: stop.signal })[Symbol.asyncIterator]();
      try {
        expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe('soon');
        expect((await readUntil(watch, (s) => s === null, 60_000)).at(-1)).toBeNull();
        // Not before its deadline (one machine, one clock).
        expect(Date.now()).toBeGreaterThanOrEqual(deadline);
      } finally {
        stop.abort();
      }
      expect((await failure(() => store.get('long/due/k'))).code).toBe('KEY_NOT_FOUND');
      expect(await store.list('long/due')).toEqual([]);
      expect(await rawGet('long/due/k')).toBeNull();
    }, 90_000);

    it('reads a key past its deadline as absent before any sweep, and lets a create take its place', async () => {
      const past = Date.now() - 1000;
      await rawPut('long/past/plain', 'old', deadlineFlags(past, 2));
      await rawPut('long/past/ttl', 'old', deadlineFlags(past, 3));
      const fresh = await open();
      expect(await fresh.exists('long/past/plain')).toBe(false);
      const created = await fresh.atomicPut('long/past/plain', 'new', null);
      expect((await fresh.get('long/past/plain')).lastIndex).toBe(created.lastIndex);
      const again = await open();
      const withTtl = await again.atomicPut('long/past/ttl', 'new', null, { ttl: 20_000 });
      const read = await again.get('long/past/ttl');
      expect(text(read)).toBe('new');
      expect(read.lastIndex).toBe(withTtl.lastIndex);
    });

    it('returns the new lastIndex from atomicPut with a ttl over an existing key, good for the next compare-and-swap', async () => {
      for (const ttl of [20_000, 30 * DAY_MS]) {
        const k = `long/cas-${ttl}`;
        await store.put(k, 'a');
        const b = await store.atomicPut(k, 'b', await store.get(k), { ttl });
        expect(b.lastIndex).toBe((await store.get(k)).lastIndex);
        await store.atomicPut(k, 'c', b);
        expect(text(await store.get(k))).toBe('c');
      }
    });

    it('returns the new lastIndex from a plain atomicPut that frees a key from its ttl session', async () => {
      await store.put('long/detach', 'a', { ttl: 20_000 });
      const b = await store.atomicPut('long/detach', 'b', await store.get('long/detach'));
      const read = await store.get('long/detach');
      expect(read.lastIndex).toBe(b.lastIndex);
      expect((await rawGet('long/detach'))?.Session).toBeUndefined();
    });
  });

  // Alone, so that no other test creates sessions while this one counts them.
  describe('session hygiene', () => {
    it('leaves no session behind when a ttl write loses its compare-and-swap', async () => {
      await store.put('ttl/cas', 'taken');
      const before = await sessionIds();
      expect((await failure(() => store.atomicPut('ttl/cas', 'v', null, { ttl: 20_000 }))).code).toBe(
        'KEY_EXISTS',
      );
      const after = await sessionIds();
      expect(after.filter((id) => !before.includes(id))).toEqual([]);
    });
  });

  describe('several endpoints', () => {
    it('fails over past an endpoint that refuses connections', async () => {
      const dead = `127.0.0.1:${await closedPort()}`;
      for (const endpoints of [
        [dead, server.endpoint],
        [server.endpoint, dead],
      ]) {
        const s = await open({ endpoints });
        await s.put('failover/k', endpoints.join());
        expect(text(await s.get('failover/k'))).toBe(endpoints.join());
      }
    });

    it('answers NOT_REACHABLE when no endpoint is up', async () => {
      const dead = [`127.0.0.1:${await closedPort()}`, `127.0.0.1:${await closedPort()}`];
      const err = await failure(() =>
        createStore({ backend: 'consul', endpoints: dead, connectTimeoutMs: 500 }),
      );
      expect(err.code).toBe('NOT_REACHABLE');
    });
  });
});
