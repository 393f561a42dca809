/**
 * The etcd backend without an etcd server: key mapping, option checks, error mapping, and a
 * server that is down or silent giving NOT_REACHABLE within the connect timeout.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  GRPCUnavailableError,
} from 'etcd3';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { etcdClientOptions } from '../../src/backends/etcd/client-options.js';
import { toKVError } from '../../src/backends/etcd/etcd-errors.js';
import { faultHandling } from '../../src/backends/etcd/fault-policies.js';
import { openEtcdStore } from '../../src/backends/etcd/index.js';
import { dirRange, keyBytes, lockQueueRange, waiterKey } from '../../src/backends/etcd/key-codec.js';
import { failure, within } from '../../src/conformance/helpers.js';
import { createStore, type KVError, normalizePrefix } from '../../src/index.js';

/** True when etcd's byte range [key, range_end) holds `key`. */
function inRange(range: { key: Buffer; range_end: Buffer }, key: Buffer): boolean {
  return Buffer.compare(range.key, key) <= 0 && Buffer.compare(key, range.range_end) < 0;
}

/** A key as kvkit accepts it: no NUL, a few path segments, any Unicode. */
const keyArb = fc
  .array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/').replaceAll('\0', ''))
  .filter((k) => k.length > 0 && !k.startsWith('/'));

describe('etcd key mapping', () => {
  it('holds in a directory range exactly the keys under that directory', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (key, prefix) => {
        const dir = normalizePrefix(prefix);
        expect(inRange(dirRange(dir), keyBytes(key))).toBe(key.startsWith(dir));
        expect(inRange(dirRange(''), keyBytes(key))).toBe(true);
      }),
    );
  });

  it('keeps lock queues out of every directory range, with and without a store prefix', () => {
    fc.assert(
      fc.property(
        keyArb,
        keyArb,
        fc.constantFrom('', 'app/', 'tenant/a/'),
        (lockKey, prefix, storePrefix) => {
          const queue = lockQueueRange(storePrefix, lockKey);
          const waiter = waiterKey(queue, '7587869174373990404');
          expect(inRange(queue, waiter)).toBe(true);
          expect(inRange(dirRange(storePrefix), waiter)).toBe(false);
          expect(inRange(dirRange(storePrefix + normalizePrefix(prefix)), waiter)).toBe(false);
        },
      ),
    );
  });

  it('never puts a waiter of lock a/b in the queue of lock a', () => {
    const waiter = waiterKey(lockQueueRange('', 'a/b'), '1');
    expect(inRange(lockQueueRange('', 'a'), waiter)).toBe(false);
    expect(inRange(lockQueueRange('', 'a/b'), waiter)).toBe(true);
  });

  it('orders waiter keys of one queue by nothing but their fixed-width lease id', () => {
    const queue = lockQueueRange('', 'job');
    expect(waiterKey(queue, '255').length).toBe(waiterKey(queue, '7587869174373990404').length);
  });
});

describe('etcd client options', () => {
  it('uses every endpoint, defaulting the port to 2379, and a deadline on unary calls only', () => {
    const { client, timeoutMs } = etcdClientOptions({
      backend: 'etcd',
      endpoints: ['10.0.0.1', '[::1]:2380'],
      connectTimeoutMs: 1234,
    });
    expect(client.hosts).toEqual(['http://10.0.0.1:2379', 'http://[::1]:2380']);
    expect(timeoutMs).toBe(1234);
    const factory = client.defaultCallOptions as (c: { isStream: boolean }) => { deadline?: number };
    expect(factory({ isStream: true }).deadline).toBeUndefined();
    // connectTimeoutMs from the moment of the call, whatever the machine's speed.
    const before = Date.now();
    const deadline = factory({ isStream: false }).deadline ?? 0;
    const after = Date.now();
    expect(deadline).toBeGreaterThanOrEqual(before + 1234);
    expect(deadline).toBeLessThanOrEqual(after + 1234);
  });

  it('maps TLS material and password auth onto the etcd3 client', () => {
    const { client } = etcdClientOptions({
      backend: 'etcd',
      endpoints: ['etcd.example:2379'],
      tls: { ca: 'CA', cert: 'CERT', key: 'KEY', servername: 'etcd.internal' },
      username: 'root',
      password: 'secret',
    });
    expect(client.hosts).toEqual(['https://etcd.example:2379']);
    expect(client.credentials?.rootCertificate.toString()).toBe('CA');
    expect(client.credentials?.certChain?.toString()).toBe('CERT');
    expect(client.credentials?.privateKey?.toString()).toBe('KEY');
    expect(client.grpcOptions?.['grpc.ssl_target_name_override']).toBe('etcd.internal');
    expect(client.auth).toEqual({ username: 'root', password: 'secret' });
  });

  it('rejects options it cannot honour with INVALID_ARGUMENT, before any I/O', () => {
    const bad = [
      { token: 't' },
      { tls: { rejectUnauthorized: false } },
      { tls: { cert: 'CERT' } },
      { password: 'no user' },
      { connectTimeoutMs: 0 },
    ];
    for (const extra of bad) {
      let code: string | undefined;
      try {
        etcdClientOptions({ backend: 'etcd', ...extra });
      } catch (err) {
        code = (err as KVError).code;
      }
      expect({ extra, code }).toEqual({ extra, code: 'INVALID_ARGUMENT' });
    }
  });
});

describe('etcd fault handling', () => {
  type Execute = (fn: () => Promise<string>) => Promise<string>;
  const run = (endpoints: number, failures: Error[]) => {
    const execute = (faultHandling(endpoints).global as unknown as { execute: Execute }).execute;
    let attempts = 0;
    const result = execute(async () => {
      const failure = failures[attempts++];
      if (failure) throw failure;
      return 'ok';
    });
    return result.then(
      (value) => ({ value, attempts }),
      (err: Error) => ({ value: err.constructor.name, attempts }),
    );
  };
  const notConnected = () =>
    new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: x');
  const dropped = () => new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped');

  it('moves on to the next endpoint only when the call was never sent', async () => {
    expect(await run(3, [notConnected(), notConnected()])).toEqual({ value: 'ok', attempts: 3 });
    expect(await run(3, [dropped()])).toEqual({ value: 'GRPCUnavailableError', attempts: 1 });
    expect(await run(3, [new GRPCDeadlineExceededError('4')])).toEqual({
      value: 'GRPCDeadlineExceededError',
      attempts: 1,
    });
  });

  it('tries each endpoint once, and a single endpoint once', async () => {
    expect(await run(2, [notConnected(), notConnected(), notConnected()])).toEqual({
      value: 'GRPCUnavailableError',
      attempts: 2,
    });
    expect(await run(1, [notConnected()])).toEqual({ value: 'GRPCUnavailableError', attempts: 1 });
  });
});

describe('etcd error mapping', () => {
  it('maps gRPC failures onto contract codes and keeps the cause', () => {
    const cases: [Error, string][] = [
      [new GRPCUnavailableError('14 UNAVAILABLE: No connection established'), 'NOT_REACHABLE'],
      [new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED'), 'TIMEOUT'],
      [new GRPCInvalidArgumentError('etcdserver: request is too large'), 'INVALID_ARGUMENT'],
      [new EtcdPermissionDeniedError('etcdserver: permission denied'), 'PERMISSION_DENIED'],
      [new GRPCInvalidArgumentError('etcdserver: user name is empty'), 'PERMISSION_DENIED'],
      [new Error('something else'), 'BACKEND_ERROR'],
    ];
    for (const [err, code] of cases) {
      const mapped = toKVError(err, 'get k');
      expect({ code: mapped.code, cause: mapped.cause }).toEqual({ code, cause: err });
    }
  });
});

describe('etcd server down', () => {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  /** A port that was free a moment ago: nothing listens there. */
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  /** A server that accepts connections and never says a word. */
  async function silentPort(): Promise<number> {
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }

  it('gives NOT_REACHABLE when nothing listens, without waiting for the timeout', async () => {
    const port = await closedPort();
    // The refusal must end the attempt: with a 10-minute connect timeout, a store that waited for
    // it would miss this deadline by far, on any machine.
    const err = await within(
      failure(() =>
        openEtcdStore({ backend: 'etcd', endpoints: [`127.0.0.1:${port}`], connectTimeoutMs: 600_000 }),
      ),
      60_000,
      'a refused connection ended the open',
    );
    expect(err.code).toBe('NOT_REACHABLE');
  }, 90_000);

  it('gives NOT_REACHABLE within connectTimeoutMs from a server that never answers', async () => {
    const port = await silentPort();
    // Without the connect timeout this would wait forever: a deadline of 100x it only catches that.
    const err = await within(
      failure(() =>
        openEtcdStore({ backend: 'etcd', endpoints: [`127.0.0.1:${port}`], connectTimeoutMs: 500 }),
      ),
      50_000,
      'the connect timeout ended the open',
    );
    expect(err.code).toBe('NOT_REACHABLE');
  }, 90_000);

  it('tries every endpoint before giving up, and names them', async () => {
    const [a, b] = [await closedPort(), await silentPort()];
    const err = await failure(() => createStore(`etcd://127.0.0.1:${a},127.0.0.1:${b}?connectTimeoutMs=500`));
    expect(err.code).toBe('NOT_REACHABLE');
    expect(err.message).toContain(`127.0.0.1:${a}`);
    expect(err.message).toContain(`127.0.0.1:${b}`);
  });
});
