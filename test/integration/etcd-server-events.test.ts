/**
 * etcd-specific behaviour on a real server that kvkit does not control: etcdctl sees what kvkit
 * writes and the reverse; locks go to waiters in queue order; watches survive a restart of the
 * server without losing or repeating a state, and get past compacted history; a stopped server
 * gives NOT_REACHABLE or TIMEOUT, never a hang, and a held lock's signal aborts.
 */
import { createServer } from 'node:net';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEtcdStore } from '../../src/backends/etcd/index.js';
import { lockQueueRange } from '../../src/backends/etcd/key-codec.js';
import { followRange } from '../../src/backends/etcd/range-follower.js';
import { delay, eventually, failure, within } from '../../src/conformance/helpers.js';
import {
  isKVError,
  type KVError,
  type KVPair,
  type Store,
  type StoreOptions,
  text,
} from '../../src/index.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1 is set on purpose.
const dockerAvailable = await requireDocker();

/** Everything an iterable yields, read in the background until it ends. */
function collect<T>(iterable: AsyncIterable<T>): { seen: T[]; ended: Promise<void> } {
  const seen: T[] = [];
  const ended = (async () => {
    for await (const item of iterable) seen.push(item);
  })();
  return { seen, ended };
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  if (!(await eventually(async () => check(), ms, 20))) throw new Error(`${what} within ${ms} ms`);
}

/** A loopback port that was free a moment ago: nothing listens there. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const unreachable = (err: unknown) => isKVError(err, 'NOT_REACHABLE') || isKVError(err, 'TIMEOUT');

/**
 * Retries a write through a server outage. A failed write may still have applied (the server
 * can stop between applying it and answering), so `landed` is asked before each retry: a write
 * applied twice would show up as a repeated watch state.
 */
async function through<T>(write: () => Promise<T>, landed: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  let uncertain = false;
  for (;;) {
    try {
      if (uncertain && (await landed())) return;
      await write();
      return;
    } catch (err) {
      if (!unreachable(err) || Date.now() > deadline) throw err;
      uncertain = true;
      await delay(50);
    }
  }
}

describe.skipIf(!dockerAvailable)('etcd backend with a real server', () => {
  let server: RunningServer;
  const stores: Store[] = [];
  const open = async (extra: Partial<StoreOptions> = {}) => {
    const store = await openEtcdStore({ backend: 'etcd', endpoints: [server.endpoint], ...extra });
    stores.push(store);
    return store;
  };
  const etcdctl = async (...args: string[]) => {
    const result = await server.exec(['etcdctl', ...args]);
    expect({ args, exitCode: result.exitCode }).toEqual({ args, exitCode: 0 });
    return result.output.trim();
  };

  beforeAll(async () => {
    server = await startServer('etcd');
  }, 300_000);

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server?.close();
  });

  it('writes keys etcdctl reads as they are, and reads what etcdctl writes, with its mod revision', async () => {
    const store = await open();
    await store.put('/interop/from-kvkit', 'hello etcdctl');
    expect(await etcdctl('get', '--print-value-only', 'interop/from-kvkit')).toBe('hello etcdctl');

    await etcdctl('put', 'interop/from-cli', 'hello kvkit');
    const pair = await store.get('interop/from-cli');
    expect(text(pair)).toBe('hello kvkit');
    const cli = JSON.parse(await etcdctl('get', 'interop/from-cli', '-w', 'json'));
    expect(pair.lastIndex).toBe(cli.kvs[0].mod_revision);
  });

  it("shows a held lock's value to etcdctl and keeps its queue out of list and of etcdctl's prefix", async () => {
    const store = await open();
    const lock = store.newLock('interop/locks/job', { value: 'worker-1', ttl: 2000 });
    await lock.lock();
    expect(await etcdctl('get', '--print-value-only', 'interop/locks/job')).toBe('worker-1');
    expect((await store.list('interop/locks')).map((p) => p.key)).toEqual(['interop/locks/job']);
    expect(await etcdctl('get', '--prefix', '--keys-only', 'interop/locks/')).toBe('interop/locks/job');
    await lock.unlock();
    expect(await store.list('interop/locks')).toEqual([]);
    expect(await etcdctl('get', '--prefix', '--keys-only', 'interop/locks/')).toBe('');
  });

  it('grants a lock to its waiters in queue order, skipping one that gave up', async () => {
    const key = 'fair/lock';
    const raw = new Etcd3({ hosts: `http://${server.endpoint}` });
    const queued = async () =>
      Number((await raw.kv.range({ ...lockQueueRange('', key), count_only: true })).count);
    try {
      const [holderStore, ...waiterStores] = await Promise.all([open(), open(), open(), open()]);
      const holder = holderStore.newLock(key, { ttl: 2000 });
      await holder.lock();
      const order: string[] = [];
      const stops = waiterStores.map(() => new AbortController());
      const waiting: Promise<void>[] = [];
      for (const [i, store] of waiterStores.entries()) {
        const lock = store.newLock(key, { ttl: 2000 });
        waiting.push(
          lock.lock({ signal: stops[i].signal }).then(
            async () => {
              order.push(`took ${i}`);
              await lock.unlock();
            },
            (err) => {
              order.push(`${(err as KVError).code} ${i}`);
            },
          ),
        );
        // Queue the next waiter only once this one has its place.
        expect(await eventually(async () => (await queued()) === i + 2, 10_000)).toBe(true);
      }
      // The middle waiter gives up: its queue entry goes, and the last one, which was watching
      // it, must go on waiting for the first rather than take the lock.
      stops[1].abort();
      expect(await eventually(async () => (await queued()) === 3, 10_000)).toBe(true);
      await delay(200);
      expect(order).toEqual(['CANNOT_LOCK 1']);
      await holder.unlock();
      await Promise.all(waiting);
      expect(order).toEqual(['CANNOT_LOCK 1', 'took 0', 'took 2']);
      expect(await queued()).toBe(0);
    } finally {
      raw.close();
    }
  });

  it('works through the live endpoint when another endpoint is down', async () => {
    const store = await open({ endpoints: [`127.0.0.1:${await closedPort()}`, server.endpoint] });
    for (let i = 0; i < 20; i++) {
      await store.put('endpoints/k', String(i));
      expect(text(await store.get('endpoints/k'))).toBe(String(i));
    }
  });

  it('gets past compacted history by reading the state again', async () => {
    const raw = new Etcd3({ hosts: `http://${server.endpoint}` });
    const stop = new AbortController();
    try {
      const key = Buffer.from('compact/k');
      const first = await raw.kv.put({ key, value: Buffer.from('1') });
      await raw.kv.put({ key, value: Buffer.from('2') });
      const last = await raw.kv.put({ key, value: Buffer.from('3') });
      await raw.kv.compact({ revision: last.header.revision, physical: true });
      const seen: string[] = [];
      let resynced = 0;
      followRange(
        raw,
        { key },
        Number(first.header.revision),
        {
          onRevision: (events) => seen.push(events.map((e) => e.kv.value.toString()).join()),
          onCompacted: async () => {
            const revision = Number((await raw.kv.range({ key })).header.revision);
            resynced++; // only now: a write before the re-read is part of the state read
            return revision;
          },
          onFatal: (err) => seen.push(`fatal: ${err.message}`),
        },
        stop.signal,
      );
      await until(() => resynced === 1, 10_000, 'the follower did not notice the compaction');
      await raw.kv.put({ key, value: Buffer.from('4') });
      await until(() => seen.length > 0, 10_000, 'the follower did not go on after the compaction');
      expect(seen).toEqual(['4']);
    } finally {
      stop.abort();
      raw.close();
    }
  });

  it('resumes watch and watchTree after a server restart without losing or repeating a state', async () => {
    const writer = await open();
    const watcher = await open();
    const key = 'restart/key';
    const dir = 'restart/dir';
    const stop = new AbortController();
    const states = collect(watcher.watch(key, { signal: stop.signal }));
    const lists = collect(watcher.watchTree(dir, { signal: stop.signal }));
    const stateValue = (s: KVPair | null) => (s === null ? null : text(s));
    const listOf = (l: KVPair[]) => l.map((p) => `${p.key.slice(dir.length + 1)}=${text(p)}`).join(',');
    await until(() => states.seen.length === 1 && lists.seen.length === 1, 10_000, 'no first state');

    for (const v of ['1', '2', '3']) await writer.put(key, v);
    await writer.put(`${dir}/a`, 'a1');
    await until(() => stateValue(states.seen.at(-1) ?? null) === '3', 10_000, 'watch did not reach 3');
    await until(() => lists.seen.length === 2, 10_000, 'watchTree did not see a');

    // Writes retry through the outage, so some land before the watches are back.
    const restarting = server.restart();
    const writing = (async () => {
      for (const v of ['4', '5', '6']) {
        await through(
          () => writer.put(key, v),
          async () => text(await writer.get(key)) === v,
        );
      }
      await through(
        () => writer.put(`${dir}/b`, 'b1'),
        () => writer.exists(`${dir}/b`),
      );
      await through(
        () => writer.delete(`${dir}/a`),
        async () => !(await writer.exists(`${dir}/a`)),
      );
    })();
    await Promise.all([restarting, writing]);

    await until(() => stateValue(states.seen.at(-1) ?? null) === '6', 30_000, 'watch did not reach 6');
    await until(() => listOf(lists.seen.at(-1) ?? []) === 'b=b1', 30_000, 'watchTree did not reach [b]');
    stop.abort();
    await Promise.all([states.ended, lists.ended]);

    expect(states.seen.map(stateValue)).toEqual([null, '1', '2', '3', '4', '5', '6']);
    const indexes = states.seen.filter((s) => s !== null).map((s) => s.lastIndex);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    expect(new Set(indexes).size).toBe(indexes.length);
    expect(lists.seen.map(listOf)).toEqual(['', 'a=a1', 'a=a1,b=b1', 'b=b1']);
  }, 120_000);

  it('fails calls with NOT_REACHABLE or TIMEOUT while the server is stopped, aborts a held lock, and recovers', async () => {
    const timeoutMs = 1000;
    const store = await open({ connectTimeoutMs: timeoutMs });
    const held = store.newLock('down/lock', { ttl: 2000 });
    const lost = await held.lock();
    await store.put('down/k', 'before');
    await server.stop();
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get('down/k')],
        ['put', () => store.put('down/k', 'during')],
        ['list', () => store.list('down')],
        ['atomicPut', () => store.atomicPut('down/new', 'v', null)],
        ['watch', () => store.watch('down/k')[Symbol.asyncIterator]().next()],
        ['open', () => open({ connectTimeoutMs: timeoutMs })],
      ];
      for (const [name, call] of calls) {
        // A deadline against a hang (15x the connect timeout), not a measure of speed.
        const err = await within(failure(call), 15 * timeoutMs, `${name} failed while the server was down`);
        expect({ name, unreachable: unreachable(err) }).toEqual({ name, unreachable: true });
      }
      // The lease cannot be renewed: the holder hears of it (its TTL is 2 s; the deadline is generous).
      await until(() => lost.aborted, 30_000, 'the held lock was not reported lost');
      expect((await failure(() => held.unlock())).code).toBe('CANNOT_LOCK');
    } finally {
      await server.start();
    }
    expect(text(await store.get('down/k'))).toBe('before');
    // A new lock: the old one's lease is alive again for a TTL (etcd renews leases on restart).
    const again = store.newLock('down/lock-after', { ttl: 2000 });
    await again.lock();
    await again.unlock();
  }, 120_000);
  it('authenticates with username and password, and maps refusals to PERMISSION_DENIED', async () => {
    await etcdctl('user', 'add', 'root', '--new-user-password=rootpw');
    await etcdctl('role', 'add', 'root');
    await etcdctl('user', 'grant-role', 'root', 'root');
    await etcdctl('user', 'add', 'app', '--new-user-password=apppw');
    await etcdctl('role', 'add', 'app');
    await etcdctl('role', 'grant-permission', 'app', '--prefix=true', 'readwrite', 'app/');
    await etcdctl('user', 'grant-role', 'app', 'app');
    await etcdctl('auth', 'enable');
    try {
      // A role on the prefix covers the lock queue too, which lives under app/\xFF.
      const app = await open({ username: 'app', password: 'apppw', prefix: 'app' });
      await app.put('k', 'v');
      expect(text(await app.get('k'))).toBe('v');
      const lock = app.newLock('locks/job', { value: 'me', ttl: 2000 });
      await lock.lock();
      expect(text(await app.get('locks/job'))).toBe('me');
      await lock.unlock();

      const outside = await open({ username: 'app', password: 'apppw' });
      expect((await failure(() => outside.put('elsewhere', 'v'))).code).toBe('PERMISSION_DENIED');
      expect((await failure(() => open({ username: 'app', password: 'wrong' }))).code).toBe(
        'PERMISSION_DENIED',
      );
      const anonymous = await open();
      expect((await failure(() => anonymous.get('app/k'))).code).toBe('PERMISSION_DENIED');
    } finally {
      await etcdctl('--user', 'root:rootpw', 'auth', 'disable');
    }
  });
});
