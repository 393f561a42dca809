/**
 * The metrics HTTP server on its own: where it may listen, what each path answers, and the
 * pieces the node's metrics are made of (heartbeat round trips, counted proposals).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { failure } from '../../src/conformance/helpers.js';
import { CountedReplica } from '../../src/metrics/counted-replica.js';
import { isLoopbackHost, type MetricsServer, startMetricsServer } from '../../src/metrics/http-server.js';
import { PeerRoundTrips } from '../../src/metrics/peer-round-trip.js';
import type { Message } from '../../src/raft/core/index.js';
import type { Replica } from '../../src/raft/replica.js';
import { parseExposition } from './exposition.js';

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(checks: { leader?: string | null; read?: string | null } = {}): Promise<string> {
  const server = await startMetricsServer({
    listen: '127.0.0.1:0',
    metrics: async () => ({
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      text: '# TYPE up gauge\nup 1\n',
    }),
    leader: async () => checks.leader ?? null,
    linearizableRead: async () => checks.read ?? null,
  });
  servers.push(server);
  return `http://${server.address}`;
}

describe('metrics server', () => {
  it('refuses a non-loopback address without insecure, with INVALID_ARGUMENT', async () => {
    for (const listen of ['0.0.0.0:0', '[::]:0', '192.0.2.1:9100', 'metrics.example:9100']) {
      const err = await failure(() =>
        startMetricsServer({
          listen,
          metrics: async () => ({ contentType: 'text/plain', text: '' }),
          leader: async () => null,
          linearizableRead: async () => null,
        }),
      );
      expect({ listen, code: err.code }).toEqual({ listen, code: 'INVALID_ARGUMENT' });
    }
  });

  it('counts 127.0.0.0/8, ::1, ::ffff:127.0.0.1 and localhost as loopback, nothing else', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost']) {
      expect({ host, loopback: isLoopbackHost(host) }).toEqual({ host, loopback: true });
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', 'example.com', '']) {
      expect({ host, loopback: isLoopbackHost(host) }).toEqual({ host, loopback: false });
    }
  });

  it('serves /metrics in the exposition format with its content type', async () => {
    const res = await fetch(`${await serve()}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(parseExposition(await res.text()).value('up')).toBe(1);
  });

  it('answers /health 200 {"health":"true"} when there is a leader and a linearizable read succeeds', async () => {
    const res = await fetch(`${await serve()}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ health: 'true' });
  });

  it('answers /health and /readyz 503 with the reason when there is no leader or the read fails', async () => {
    const noLeader = await serve({ leader: 'RAFT NO LEADER' });
    const health = await fetch(`${noLeader}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ health: 'false', reason: 'RAFT NO LEADER' });
    const readFails = await serve({ read: 'LINEARIZABLE READ FAILED: TIMEOUT' });
    expect((await fetch(`${readFails}/health`)).status).toBe(503);
    // serializable=true checks the leader only, as etcd's /health does.
    expect((await fetch(`${readFails}/health?serializable=true`)).status).toBe(200);
    const ready = await fetch(`${readFails}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('[-]linearizable_read failed: LINEARIZABLE READ FAILED: TIMEOUT');
  });

  it('answers /livez and /readyz 200 on a healthy node', async () => {
    const base = await serve();
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toContain('[+]linearizable_read ok');
  });

  it('answers 404 to other paths and 405 to other methods', async () => {
    const base = await serve();
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});

describe('metrics pieces', () => {
  it("times a peer's heartbeat answer from the last heartbeat sent to it", () => {
    let now = 0;
    const seen: [string, number][] = [];
    const rtt = new PeerRoundTrips(
      (peer, s) => seen.push([peer, s]),
      () => now,
    );
    const heartbeat = (to: string) =>
      ({ type: 'heartbeat', from: 'n1', to, term: 1, commit: 0, readContext: 0 }) as Message;
    const answer = (from: string) =>
      ({ type: 'heartbeatResp', from, to: 'n1', term: 1, readContext: 0 }) as Message;
    rtt.sent([heartbeat('n2'), heartbeat('n3')]);
    now = 2;
    rtt.received(answer('n2'));
    now = 5;
    rtt.received(answer('n3'));
    rtt.received(answer('n3')); // no heartbeat outstanding: not counted
    expect(seen).toEqual([
      ['n2', 0.002],
      ['n3', 0.005],
    ]);
  });

  it('counts proposals in flight and failed, and notes read barrier outcomes', async () => {
    let release: (() => void) | undefined;
    const inner = {
      id: 'n1',
      propose: (cmd: Uint8Array) =>
        cmd.length === 0
          ? Promise.reject(new Error('refused'))
          : new Promise((resolve) => {
              release = () => resolve('ok');
            }),
      readBarrier: async (opts?: { timeoutMs?: number }) => {
        if (opts?.timeoutMs === 1) throw new Error('no quorum');
      },
    } as unknown as Replica;
    const counted = new CountedReplica(inner);
    const pending = counted.propose(new Uint8Array([1]));
    expect(counted.counts.pending).toBe(1);
    release?.();
    await pending;
    await counted.propose(new Uint8Array()).catch(() => {});
    expect(counted.counts).toMatchObject({ pending: 0, failed: 1 });
    await counted.readBarrier();
    expect(counted.counts.lastBarrier?.ok).toBe(true);
    await counted.readBarrier({ timeoutMs: 1 }).catch(() => {});
    expect(counted.counts).toMatchObject({ barriersFailed: 1, lastBarrier: { ok: false } });
  });
});
