/**
 * The Consul backend's parts that need no Consul: key paths, the TTL-to-session mapping, long-TTL
 * deadlines, error mapping, and the connection's edges (refused and silent endpoints, the ACL
 * token header, TLS options) against loopback sockets this file opens and closes. The contract
 * itself is proven on a real agent in test/integration/consul*.test.ts.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { answerError, isNoLeader, isUnavailable } from '../../src/backends/consul/consul-errors.js';
import type { HttpAnswer } from '../../src/backends/consul/http.js';
import { cleanAncestor, servesByPath } from '../../src/backends/consul/key-paths.js';
import { heldStamp, isReleased, nextStamp } from '../../src/backends/consul/kv-ops.js';
import { deadlineFlags, deadlineOf } from '../../src/backends/consul/long-ttl.js';
import { MAX_KEY_TTL_MS, MIN_KEY_TTL_MS, sessionTtlFor } from '../../src/backends/consul/sessions.js';
import { failure } from '../../src/conformance/helpers.js';
import { createStore } from '../../src/index.js';
import { generateClusterCertificates } from '../../src/raft/runtime/certs.js';

const toClose: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (toClose.length > 0) await toClose.pop()?.();
});

function listen(server: Server | TcpServer): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(`127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
    });
  });
}

/** A loopback port nothing listens on. */
async function closedEndpoint(): Promise<string> {
  const probe = createTcpServer();
  const endpoint = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return endpoint;
}

/** Accepts connections and never answers: a hung server. */
async function silentEndpoint(): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const endpoint = await listen(server);
  toClose.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return endpoint;
}

/** Answers only `/v1/status/leader` (what opening a store asks) and records request headers. */
function leaderResponder(seen: IncomingHttpHeaders[]) {
  return (req: { url?: string; headers: IncomingHttpHeaders }, res: import('node:http').ServerResponse) => {
    seen.push(req.headers);
    if (req.url === '/v1/status/leader') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('"127.0.0.1:8300"');
    } else {
      res.writeHead(404).end();
    }
  };
}

async function serve(server: Server): Promise<string> {
  const endpoint = await listen(server);
  toClose.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return endpoint;
}

describe('consul key paths', () => {
  it('sends keys the Go path cleaner keeps by URL path', () => {
    for (const key of ['a', 'a/b', 'a/b/', 'a.b/..c/.d', '', 'dir/']) expect(servesByPath(key)).toBe(true);
  });

  it('routes keys the Go path cleaner would rewrite around the URL', () => {
    for (const key of ['a//b', 'a/./b', 'a/../b', './x', 'x/..', 'x/.', '/rooted', 'a//'])
      expect(servesByPath(key)).toBe(false);
  });

  it('follows an odd key through its nearest clean ancestor directory', () => {
    expect(cleanAncestor('a/b//c')).toBe('a/b/');
    expect(cleanAncestor('a/./b')).toBe('a/');
    expect(cleanAncestor('./x')).toBe('');
    expect(cleanAncestor('/rooted')).toBe('');
    expect(cleanAncestor('a//')).toBe('a/');
  });
});

describe('consul TTLs on sessions', () => {
  it('asks for half the key TTL plus a margin, since the server waits twice the session TTL', () => {
    expect(MIN_KEY_TTL_MS).toBe(20_000);
    expect(sessionTtlFor(MIN_KEY_TTL_MS)).toBe(10_500);
    expect(sessionTtlFor(60_000)).toBe(30_500);
    expect(sessionTtlFor(60_001)).toBe(30_501);
  });

  it('never asks for a session TTL under Consul’s 10 s floor', () => {
    expect(sessionTtlFor(1000)).toBe(10_000);
  });

  it('gives a lock TTL beyond what one session carries a 24 h session (renewed while held)', () => {
    expect(sessionTtlFor(MAX_KEY_TTL_MS)).toBe(86_400_000);
    expect(sessionTtlFor(MAX_KEY_TTL_MS + 1)).toBe(86_400_000);
    expect(sessionTtlFor(365 * 86_400_000)).toBe(86_400_000);
  });
});

describe('consul long-TTL deadlines in Flags', () => {
  const yearFromNow = Date.UTC(2027, 11, 2, 8, 0, 0, 123);

  it('reads back the deadline written, to the millisecond, whatever the stamp', () => {
    for (const stamp of [0, 1, 255, 256, 2 ** 32 - 1]) {
      expect(deadlineOf(deadlineFlags(yearFromNow, stamp))).toBe(yearFromNow);
    }
  });

  it('keeps the flags an exact JSON number and distinct for two writes in one millisecond', () => {
    const a = deadlineFlags(yearFromNow, 7);
    const b = deadlineFlags(yearFromNow, 8);
    expect(Number.isSafeInteger(a)).toBe(true);
    expect(JSON.parse(JSON.stringify(a))).toBe(a);
    expect(a).not.toBe(b);
    expect(Number.isSafeInteger(deadlineFlags(Date.UTC(2499, 0, 1), 255))).toBe(true);
  });

  it('finds no deadline in kvkit’s plain write stamps or small flags other clients set', () => {
    for (const flags of [0, 1, 42, 2 ** 32 - 1, 2 ** 40]) expect(deadlineOf(flags)).toBeNull();
  });
});

describe('consul held Flags (writes a session acquires)', () => {
  const entry = (Flags: number, Session?: string) => ({
    Key: 'k',
    Value: null,
    CreateIndex: 1,
    ModifyIndex: 2,
    LockIndex: 1,
    Flags,
    Session,
  });

  it('reads a held write without its session as released, and with it as live', () => {
    const flags = heldStamp();
    expect(isReleased(entry(flags))).toBe(true);
    expect(isReleased(entry(flags, ''))).toBe(true);
    expect(isReleased(entry(flags, 'a-session'))).toBe(false);
  });

  it('never reads a plain write, a long-TTL deadline or small foreign flags as released', () => {
    for (const flags of [0, 1, nextStamp(), 2 ** 32 - 1, 2 ** 40, deadlineFlags(Date.now() + 1000, 3)]) {
      expect(isReleased(entry(flags))).toBe(false);
    }
    expect(deadlineOf(heldStamp())).toBeNull();
    expect(Number.isSafeInteger(heldStamp())).toBe(true);
  });
});

describe('consul error mapping', () => {
  const answered = (status: number, body: string): HttpAnswer => ({
    status,
    headers: {},
    body: Buffer.from(body),
  });
  const same = (text: string) => text;

  it('counts a leaderless server and gateway errors as unavailable, and only no-leader as not applied', () => {
    expect(isUnavailable(answered(500, 'rpc error making call: No cluster leader'))).toBe(true);
    expect(isNoLeader(answered(500, 'rpc error making call: No cluster leader'))).toBe(true);
    expect(isUnavailable(answered(503, ''))).toBe(true);
    expect(isNoLeader(answered(503, ''))).toBe(false);
    expect(isUnavailable(answered(500, 'something else'))).toBe(false);
    expect(isUnavailable(answered(403, 'Permission denied'))).toBe(false);
  });

  it('maps 403 to PERMISSION_DENIED, 413 to VALUE_TOO_LARGE and anything else to BACKEND_ERROR', () => {
    expect(answerError(answered(403, 'Permission denied'), 'txn', same)).toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    const tooLarge = answerError(answered(413, 'Request body(1398152 bytes) too large'), 'kv put', same);
    expect(tooLarge).toMatchObject({ code: 'VALUE_TOO_LARGE' });
    expect(tooLarge.message).toContain('kv_max_value_size');
    expect(answerError(answered(500, 'boom'), 'txn', same)).toMatchObject({ code: 'BACKEND_ERROR' });
  });

  it('keeps what clean() removes out of the message and the cause', () => {
    const err = answerError(answered(500, 'token t0ken-123 rejected'), 'txn', (t) =>
      t.replaceAll('t0ken-123', '***'),
    );
    expect(`${err.message} ${(err.cause as Error).message} ${err.stack}`).not.toContain('t0ken-123');
  });
});

describe('consul connection', () => {
  it('rejects open with NOT_REACHABLE when nothing listens', async () => {
    const err = await failure(() => createStore(`consul://${'127.0.0.1:1'}?connectTimeoutMs=300`));
    expect(err.code).toBe('NOT_REACHABLE');
    const closed = await closedEndpoint();
    expect(
      (await failure(() => createStore({ backend: 'consul', endpoints: [closed], connectTimeoutMs: 300 })))
        .code,
    ).toBe('NOT_REACHABLE');
  });

  it('rejects open with NOT_REACHABLE when the server accepts but never answers', async () => {
    const silent = await silentEndpoint();
    const err = await failure(() =>
      createStore({ backend: 'consul', endpoints: [silent], connectTimeoutMs: 300 }),
    );
    expect(err.code).toBe('NOT_REACHABLE');
  });

  it('sends the ACL token with every request', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const endpoint = await serve(createHttpServer(leaderResponder(seen)));
    const store = await createStore({ backend: 'consul', endpoints: [endpoint], token: 's3cret-token' });
    await store.close();
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((h) => h['x-consul-token'] === 's3cret-token')).toBe(true);
  });

  it('speaks https with the given CA and client certificate, and refuses a server it cannot verify', async () => {
    const { ca, certs } = await generateClusterCertificates({ nodes: ['consul'] });
    const seen: IncomingHttpHeaders[] = [];
    // Mutual TLS: the server also demands a client certificate signed by the CA.
    const server = createHttpsServer(
      { ...certs.consul, ca: ca.cert, requestCert: true, rejectUnauthorized: true },
      leaderResponder(seen),
    );
    const endpoint = await serve(server);
    const store = await createStore({
      backend: 'consul',
      endpoints: [endpoint],
      tls: { ca: ca.cert, cert: certs.client.cert, key: certs.client.key },
    });
    await store.close();
    expect(seen.length).toBe(1);

    const withoutClientCert = await failure(() =>
      createStore({ backend: 'consul', endpoints: [endpoint], tls: { ca: ca.cert }, connectTimeoutMs: 1000 }),
    );
    expect(withoutClientCert.code).toBe('NOT_REACHABLE');
    const untrusted = await failure(() =>
      createStore({ backend: 'consul', endpoints: [endpoint], tls: {}, connectTimeoutMs: 1000 }),
    );
    expect(untrusted.code).toBe('NOT_REACHABLE');
    expect(seen.length).toBe(1);
  });
});
