/**
 * The Redis backend beyond the contract, against real redis-server processes: option checks,
 * servers that are down, silent or refuse the credentials, ACL users, TLS, the key layout
 * redis-cli sees (both ways), revisions across a restart that lost the data, and locks'
 * fencing values and loss signals.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openRedisStore, type RedisLock, type RedisStoreOptions } from '../../src/backends/redis/index.js';
import { escapeGlob, keyspacePattern, scanPattern } from '../../src/backends/redis/key-space.js';
import { missingKeyspaceEvents } from '../../src/backends/redis/notifications.js';
import { redisSettings } from '../../src/backends/redis/options.js';
import { delay, failure, nextWithin, readUntil, text, within } from '../../src/conformance/helpers.js';
import { expectNoSecrets } from '../../src/conformance/secrets.js';
import { createStore, type KVPair, type Store } from '../../src/index.js';
import { generateClusterCertificates } from '../../src/raft/runtime/certs.js';
import { redisOutageCases } from './redis-outages.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const stores: Store[] = [];
const servers: RedisServer[] = [];
/** A deadline against a hang, not against a busy machine: calls must end, not end fast. */
const HANG_MS = 30_000;

async function open(endpoint: string, extra: Partial<RedisStoreOptions> = {}): Promise<Store> {
  const store = await openRedisStore({ backend: 'redis', endpoints: [endpoint], ...extra });
  stores.push(store);
  return store;
}

async function server(opts: Parameters<typeof startRedisServer>[0] = {}): Promise<RedisServer> {
  const s = await startRedisServer(opts);
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('redis options', () => {
  it('rejects options it cannot honour with INVALID_ARGUMENT, before any I/O', () => {
    const bad: Partial<RedisStoreOptions>[] = [
      { token: 't' },
      { username: 'alice' },
      { connectTimeoutMs: 0 },
      { maxValueBytes: 0 },
      { maxValueBytes: 1.5 },
      { maxValueBytes: 64 * 1024 * 1024 + 1 },
      { tls: { cert: 'CERT' } },
      { endpoints: ['host:99999'] },
    ];
    for (const extra of bad) {
      let code: string | undefined;
      try {
        redisSettings({ backend: 'redis', ...extra });
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect({ extra, code }).toEqual({ extra, code: 'INVALID_ARGUMENT' });
    }
  });

  it('defaults to 127.0.0.1:6379, a 5 s timeout and 16 MiB values', () => {
    const s = redisSettings({ backend: 'redis' });
    expect(s.endpoints).toEqual([{ host: '127.0.0.1', port: 6379 }]);
    expect(s.connectTimeoutMs).toBe(5000);
    expect(s.maxValueBytes).toBe(16 * 1024 * 1024);
  });
});

describe('redis URLs', () => {
  it('opens redis://user:pass@host:port with the ACL user, and rediss:// with TLS', async () => {
    const s = await server({
      args: ['--user', 'default', 'off', '--user', 'app', 'on', '>p%ss', '~*', '&*', '+@all'],
    });
    const store = await createStore(`redis://app:p%25ss@${s.endpoint}?prefix=tenant&maxValueBytes=1024`);
    stores.push(store);
    expect(store.capabilities.maxValueBytes).toBe(1024);
    await store.put('k', 'v');
    expect(
      (
        await s.cli(['--user', 'app', '--pass', 'p%ss', '--no-auth-warning', 'HGET', 'tenant/k', 'value'])
      ).trim(),
    ).toBe('v');
    expect((await failure(() => store.put('big', new Uint8Array(1025)))).code).toBe('VALUE_TOO_LARGE');
    // rediss:// asks for TLS: this plain-TCP server cannot complete the handshake.
    const err = await failure(() => createStore(`rediss://app:p%25ss@${s.endpoint}?connectTimeoutMs=1000`));
    expect(err.code).toBe('NOT_REACHABLE');
    expectNoSecrets(err, ['p%ss', 'p%25ss']);
  });

  it('keeps the password out of every connect error', async () => {
    const err = await failure(() => createStore('redis://app:hunter2-pw@127.0.0.1:1?connectTimeoutMs=500'));
    expect(err.code).toBe('NOT_REACHABLE');
    expectNoSecrets(err, ['hunter2-pw']);
  });
});

describe('redis key layout', () => {
  it('escapes glob characters so a directory pattern matches only that directory', () => {
    expect(escapeGlob('a*b?[c]\\d')).toBe('a\\*b\\?\\[c\\]\\\\d');
    expect(scanPattern('app/[1]/')).toBe('app/\\[1\\]/*');
    expect(keyspacePattern('')).toBe('__keyspace@0__:*');
  });

  it('names the keyspace-event classes a server still lacks', () => {
    expect(missingKeyspaceEvents('')).toBe('Kgh$xe');
    expect(missingKeyspaceEvents('KA')).toBe('');
    expect(missingKeyspaceEvents('Ex')).toBe('Kgh$e');
  });
});

describe('redis connection failures', () => {
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    // Accepts connections and never answers: a hung server.
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('answers NOT_REACHABLE instead of hanging when nothing listens, with no password in the message', async () => {
    const err = await within(
      failure(() =>
        open('127.0.0.1:1', { connectTimeoutMs: 800, username: 'alice', password: 'hunter2-secret' }),
      ),
      HANG_MS,
      'the open gave up',
    );
    expect(err.code).toBe('NOT_REACHABLE');
    expect(err.message).toContain('127.0.0.1:1');
    expectNoSecrets(err, ['hunter2-secret']);
  });

  it('answers NOT_REACHABLE instead of hanging when the server accepts and never answers', async () => {
    const err = await within(
      failure(() => open(`127.0.0.1:${silentPort}`, { connectTimeoutMs: 800, password: 'hunter2-secret' })),
      HANG_MS,
      'the connect timeout ended the open',
    );
    expect(err.code).toBe('NOT_REACHABLE');
    expectNoSecrets(err, ['hunter2-secret']);
  });

  it('uses the next endpoint when the first does not answer', async () => {
    const s = await server();
    const store = await open('127.0.0.1:1', {
      endpoints: ['127.0.0.1:1', s.endpoint],
      connectTimeoutMs: 3000,
    });
    await store.put('k', 'v');
    expect(text(await store.get('k'))).toBe('v');
  });

  it('skips a replica and writes to the primary', async () => {
    const primary = await server();
    const replica = await server({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    const store = await open(replica.endpoint, { endpoints: [replica.endpoint, primary.endpoint] });
    await store.put('k', 'on the primary');
    expect((await primary.cli(['HGET', 'k', 'value'])).trim()).toBe('on the primary');
  });
});

describe('redis authentication and TLS', () => {
  it('authenticates an ACL user, and refuses a wrong password with PERMISSION_DENIED naming no secret', async () => {
    const s = await server({
      args: ['--user', 'default', 'off', '--user', 'app', 'on', '>right-pass', '~*', '&*', '+@all'],
    });
    const store = await open(s.endpoint, { username: 'app', password: 'right-pass' });
    await store.put('k', 'v');
    expect(text(await store.get('k'))).toBe('v');
    const err = await failure(() => open(s.endpoint, { username: 'app', password: 'wrong-pass-123' }));
    expect(err.code).toBe('PERMISSION_DENIED');
    expectNoSecrets(err, ['wrong-pass-123']);
    const anonymous = await failure(async () => (await open(s.endpoint)).get('k'));
    expect(anonymous.code).toBe('PERMISSION_DENIED');
  });

  it('works for the least-privilege ACL user docs/backends/redis.md gives', async () => {
    const s = await server({ args: ['--notify-keyspace-events', ''] });
    await s.cli([
      'ACL',
      'SETUSER',
      'app',
      'on',
      '>app-pass',
      '~*',
      '&*',
      '+@read',
      '+@write',
      '+@scripting',
      '+@pubsub',
      '+@connection',
      '+@keyspace',
      '+role',
      '+config|get',
      '+config|set',
    ]);
    const store = await open(s.endpoint, { username: 'app', password: 'app-pass' });
    const stop = new AbortController();
    const tree = store.watchTree('acl', { signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(tree, 10_000)).value).toEqual([]);
    await store.put('acl/a', '1', { ttl: 60_000 });
    await store.atomicPut('acl/b', '2', null);
    expect((await readUntil(tree, (l) => l.length === 2, 30_000)).length).toBeGreaterThan(0);
    const lock = store.newLock('acl/lock', { ttl: 1000 });
    await lock.lock();
    await lock.unlock();
    await store.deleteTree('acl');
    expect(await store.list('acl')).toEqual([]);
    stop.abort();
  });

  it('works with a password alone (requirepass)', async () => {
    const s = await server({ args: ['--requirepass', 'only-pass'] });
    const store = await open(s.endpoint, { password: 'only-pass' });
    await store.put('k', 'v');
    expect((await s.cli(['-a', 'only-pass', '--no-auth-warning', 'HGET', 'k', 'value'])).trim()).toBe('v');
  });

  it('speaks TLS with the server certificate checked against the given CA', async () => {
    const certs = await generateClusterCertificates({ nodes: ['redis'] });
    const s = await server({
      tls: { cert: certs.certs.redis.cert, key: certs.certs.redis.key, ca: certs.ca.cert },
    });
    const store = await open(s.endpoint, { tls: { ca: certs.ca.cert } });
    await store.put('k', 'over tls');
    expect(text(await store.get('k'))).toBe('over tls');
    const stop = new AbortController();
    const watch = store.watch('k', { signal: stop.signal })[Symbol.asyncIterator]();
    expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe('over tls');
    stop.abort();
    // The system CAs do not know this CA: the certificate is refused.
    const err = await failure(() => open(s.endpoint, { tls: {}, connectTimeoutMs: 1500 }));
    expect(err.code).toBe('NOT_REACHABLE');
  });
});

describe('redis-cli interop', () => {
  it('stores a kvkit key as a hash redis-cli reads: HGET key value, HGET key rev = lastIndex', async () => {
    const s = await server();
    const store = await open(s.endpoint);
    await store.put('app/config', 'from kvkit', { ttl: 60_000 });
    const pair = await store.get('app/config');
    expect((await s.cli(['HGET', 'app/config', 'value'])).trim()).toBe('from kvkit');
    expect(Number((await s.cli(['HGET', 'app/config', 'rev'])).trim())).toBe(pair.lastIndex);
    const pttl = Number((await s.cli(['PTTL', 'app/config'])).trim());
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('shows a watch every write redis-cli makes with SET and DEL, each with a greater lastIndex', async () => {
    const s = await server();
    const store = await open(s.endpoint);
    const stop = new AbortController();
    const watch = store.watch('shared/k', { signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(watch, 10_000)).value).toBeNull();
    await s.cli(['SET', 'shared/k', 'one']);
    const one = (await readUntil(watch, (p) => text(p) === 'one', 30_000)).at(-1) as KVPair;
    await s.cli(['SET', 'shared/k', 'two']);
    const two = (await readUntil(watch, (p) => text(p) === 'two', 30_000)).at(-1) as KVPair;
    expect(two.lastIndex).toBeGreaterThan(one.lastIndex);
    await s.cli(['DEL', 'shared/k']);
    await readUntil(watch, (p) => p === null, 30_000);
    stop.abort();
  });

  it('lists and deletes keys redis-cli wrote, and leaves data kvkit did not write alone', async () => {
    const s = await server();
    const store = await open(s.endpoint);
    await s.cli(['SET', 'dir/a', 'A', 'PX', '60000']);
    await store.put('dir/b', 'B');
    await s.cli(['RPUSH', 'dir/list', 'x']);
    expect((await store.list('dir')).map((p) => `${p.key}=${text(p)}`)).toEqual(['dir/a=A', 'dir/b=B']);
    // The adopted string kept its TTL.
    expect(Number((await s.cli(['PTTL', 'dir/a'])).trim())).toBeGreaterThan(0);
    await store.deleteTree('dir');
    expect(await store.list('dir')).toEqual([]);
    expect((await s.cli(['LLEN', 'dir/list'])).trim()).toBe('1');
  });

  it('sets notify-keyspace-events when the server publishes none, keeping what was set', async () => {
    const s = await server({ args: ['--notify-keyspace-events', 'El'] });
    const store = await open(s.endpoint);
    const stop = new AbortController();
    const watch = store.watch('k', { signal: stop.signal })[Symbol.asyncIterator]();
    await nextWithin(watch, 10_000);
    const flags = (await s.cli(['CONFIG', 'GET', 'notify-keyspace-events'])).split('\n')[1] ?? '';
    expect(missingKeyspaceEvents(flags)).toBe('');
    expect(flags).toContain('l');
    await store.put('k', 'v');
    expect(text((await readUntil(watch, (p) => p !== null, 30_000)).at(-1) ?? null)).toBe('v');
    stop.abort();
  });

  it('watches a server whose CONFIG is disabled when its configuration already has the events', async () => {
    const s = await server({ args: ['--notify-keyspace-events', 'KEA', '--rename-command', 'CONFIG', '""'] });
    const store = await open(s.endpoint);
    const stop = new AbortController();
    const watch = store.watch('k', { signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(watch, 10_000)).value).toBeNull();
    await s.cli(['SET', 'k', 'external']);
    expect(text((await readUntil(watch, (p) => p !== null, 30_000)).at(-1) ?? null)).toBe('external');
    stop.abort();
  });
});

describe('redis across restarts and outages', () => {
  // One persistent server for the two shared cases (they restart it, one after the other).
  let restartable: RedisServer | undefined;
  beforeAll(async () => {
    restartable = await startRedisServer({ persist: true });
  });
  afterAll(() => restartable?.close());
  redisOutageCases(
    () => restartable as RedisServer,
    (connectTimeoutMs) => open((restartable as RedisServer).endpoint, { connectTimeoutMs }),
  );

  it('gives TIMEOUT instead of hanging when the server stops answering, and recovers after', async () => {
    const s = await server();
    const store = await open(s.endpoint, { connectTimeoutMs: 1000 });
    await store.put('k', 'v');
    s.pause();
    try {
      const err = await within(
        failure(() => store.get('k')),
        HANG_MS,
        'the call deadline ended the get',
      );
      expect(err.code).toBe('TIMEOUT');
      // The silent connection was given up: the next call does not wait again.
      expect((await failure(() => store.put('k', 'w'))).code).toBe('NOT_REACHABLE');
    } finally {
      s.resume();
    }
    await eventually(() => store.get('k'));
    expect(text(await store.get('k'))).toBe('v');
  });

  it('never hands out a lastIndex at or below one already seen, after a restart that lost the data', async () => {
    const s = await server(); // no persistence: a restart comes back empty
    const store = await open(s.endpoint);
    for (let i = 0; i < 20; i++) await store.put('k', String(i));
    const before = await store.get('k');
    await s.stop({ kill: true });
    await s.start();
    await eventually(() => store.put('k', 'after'));
    expect((await store.get('k')).lastIndex).toBeGreaterThan(before.lastIndex);
    // A store opened afterwards continues from there too: the counter was raised.
    const other = await open(s.endpoint);
    await other.put('other', 'x');
    expect((await other.get('other')).lastIndex).toBeGreaterThan(before.lastIndex);
  });
});

describe('redis locks', () => {
  it('gives every later holder a greater fencing value, equal to the lock key lastIndex', async () => {
    const s = await server();
    const a = await open(s.endpoint);
    const b = await open(s.endpoint);
    const first = a.newLock('job', { value: 'a', ttl: 5000 }) as RedisLock;
    await first.lock();
    const fenceA = first.fencingToken as number;
    expect(fenceA).toBe((await b.get('job')).lastIndex);
    const second = b.newLock('job', { value: 'b', ttl: 5000 }) as RedisLock;
    const waiting = second.lock();
    await delay(200);
    await first.unlock();
    expect(first.fencingToken).toBeUndefined();
    await waiting;
    expect(second.fencingToken).toBeGreaterThan(fenceA);
    expect(text(await a.get('job'))).toBe('b');
    await second.unlock();
  });

  it('keeps the same fencing value across refreshes while held', async () => {
    const s = await server();
    const store = await open(s.endpoint);
    const lock = store.newLock('held', { ttl: 300 }) as RedisLock;
    const lost = await lock.lock();
    const fence = lock.fencingToken;
    await delay(1000); // about ten refreshes
    expect(lost.aborted).toBe(false);
    expect(lock.fencingToken).toBe(fence);
    expect((await store.get('held')).lastIndex).toBe(fence);
    await lock.unlock();
  });

  it('aborts the signal when the lock key is deleted or overwritten by someone else', async () => {
    const s = await server();
    const store = await open(s.endpoint);
    const lock = store.newLock('stolen', { ttl: 600 });
    const lost = await lock.lock();
    await s.cli(['DEL', 'stolen']);
    await waitAborted(lost, 10_000);
    expect(String(lost.reason)).toMatch(/lost/);
    expect((await failure(() => lock.unlock())).code).toBe('CANNOT_LOCK');
  });

  it('aborts the signal within the ttl when the server goes away', async () => {
    const s = await server();
    const store = await open(s.endpoint, { connectTimeoutMs: 500 });
    const lock = store.newLock('cut', { ttl: 1000 });
    const lost = await lock.lock();
    await s.stop({ kill: true });
    await waitAborted(lost, 1000 + 3000);
  });
});

async function waitAborted(signal: AbortSignal, ms: number): Promise<void> {
  if (signal.aborted) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`signal not aborted within ${ms} ms`)), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Retries `call` while the server is still coming back. */
async function eventually(call: () => Promise<unknown>, attempts = 80): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await call();
      return;
    } catch (err) {
      if (attempt > attempts) throw err;
      await delay(250);
    }
  }
}
