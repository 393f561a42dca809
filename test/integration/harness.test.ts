/**
 * Proves the integration harness itself: each server kind (etcd, Consul, ZooKeeper, Redis)
 * starts, answers on its endpoint, keeps the endpoint across restart, runs commands inside the
 * container, and is removed by close().
 * Fails (not skips) when Docker is missing, unless KVKIT_SKIP_INTEGRATION=1.
 */
import { spawnSync } from 'node:child_process';
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RUN_LABEL,
  type RunningServer,
  requireDocker,
  runId,
  type ServerKind,
  startServer,
} from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1 is set on purpose.
const dockerAvailable = await requireDocker();

const REQUEST_TIMEOUT_MS = 5_000;

async function httpText(url: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: res.status, body: await res.text() };
}

/** etcd v3 JSON gateway: keys and values are base64. */
const b64 = (text: string) => Buffer.from(text).toString('base64');

async function etcdPut(endpoint: string, key: string, value: string): Promise<void> {
  const res = await httpText(`http://${endpoint}/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
  });
  expect(res.status).toBe(200);
}

async function etcdGet(endpoint: string, key: string): Promise<string | undefined> {
  const res = await httpText(`http://${endpoint}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key) }),
  });
  expect(res.status).toBe(200);
  const kvs = (JSON.parse(res.body) as { kvs?: { value: string }[] }).kvs;
  return kvs?.[0] ? Buffer.from(kvs[0].value, 'base64').toString('utf8') : undefined;
}

/** Whether a TCP connection to `endpoint` is accepted within the timeout. */
function connects(endpoint: string): Promise<boolean> {
  const [host, port] = [endpoint.slice(0, endpoint.lastIndexOf(':')), Number(endpoint.split(':').pop())];
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), REQUEST_TIMEOUT_MS);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, host);
  });
}

/** ZooKeeper four-letter word over a raw socket. */
function zkCommand(endpoint: string, word: string): Promise<string> {
  const [host, port] = [endpoint.slice(0, endpoint.lastIndexOf(':')), Number(endpoint.split(':').pop())];
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${word} timed out`));
    }, REQUEST_TIMEOUT_MS);
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
    });
    socket.once('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.connect(port, host, () => socket.write(word));
  });
}

/** One Redis command in RESP over a raw socket; the raw reply (one line, or a bulk string). */
function redisCommand(endpoint: string, args: string[]): Promise<string> {
  const [host, port] = [endpoint.slice(0, endpoint.lastIndexOf(':')), Number(endpoint.split(':').pop())];
  const request = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${args[0]} timed out`));
    }, REQUEST_TIMEOUT_MS);
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      // A bulk reply ($N) is complete after its second line; any other after its first.
      const lines = reply.split('\r\n').length - 1;
      if (lines >= (reply.startsWith('$') && !reply.startsWith('$-1') ? 2 : 1)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply);
      }
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.connect(port, host, () => socket.write(request));
  });
}

async function containerExists(server: RunningServer): Promise<boolean> {
  // exec against a removed container must fail; this is how close() is observed without
  // reaching into testcontainers internals.
  try {
    await server.exec(['true']);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!dockerAvailable)('integration harness', () => {
  describe('etcd', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer('etcd');
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers on a 127.0.0.1 endpoint', async () => {
      expect(server.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
      const health = await httpText(`http://${server.endpoint}/health`);
      expect(health.body).toContain('"health":"true"');
    });

    it('runs etcdctl inside the container and sees what the client wrote', async () => {
      await etcdPut(server.endpoint, '/harness/a', 'from-host');
      const got = await server.exec(['etcdctl', 'get', '--print-value-only', '/harness/a']);
      expect(got.exitCode).toBe(0);
      expect(got.output.trim()).toBe('from-host');
      const put = await server.exec(['etcdctl', 'put', '/harness/b', 'from-cli']);
      expect(put.exitCode).toBe(0);
      expect(await etcdGet(server.endpoint, '/harness/b')).toBe('from-cli');
    });

    it('accepts values above 1 MiB', async () => {
      const big = 'e'.repeat(1536 * 1024);
      await etcdPut(server.endpoint, '/harness/big', big);
      expect((await etcdGet(server.endpoint, '/harness/big'))?.length).toBe(big.length);
    });

    it('reports a failing command through exitCode', async () => {
      const res = await server.exec(['etcdctl', 'no-such-subcommand']);
      expect(res.exitCode).not.toBe(0);
    });

    it('stop() refuses connections, start() serves again with the same endpoint and data', async () => {
      const endpoint = server.endpoint;
      await etcdPut(endpoint, '/harness/kept', 'yes');
      await server.stop();
      expect(await connects(endpoint)).toBe(false);
      await server.start();
      expect(server.endpoint).toBe(endpoint);
      expect(await etcdGet(endpoint, '/harness/kept')).toBe('yes');
    });

    it('restart() keeps the endpoint and the data', async () => {
      const endpoint = server.endpoint;
      await etcdPut(endpoint, '/harness/restart', 'survives');
      await server.restart();
      expect(server.endpoint).toBe(endpoint);
      expect(await etcdGet(endpoint, '/harness/restart')).toBe('survives');
    });
  });

  describe('consul', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer('consul');
    });
    afterAll(async () => {
      await server?.close();
    });

    it('has a leader and serves KV on its endpoint, visible to `consul kv`', async () => {
      const leader = await httpText(`http://${server.endpoint}/v1/status/leader`);
      expect(leader.body.trim()).toMatch(/^".+"$/);
      const put = await httpText(`http://${server.endpoint}/v1/kv/harness/a`, { method: 'PUT', body: 'v1' });
      expect(put.body.trim()).toBe('true');
      const got = await server.exec(['consul', 'kv', 'get', 'harness/a']);
      expect(got).toEqual({ exitCode: 0, output: 'v1\n' });
    });

    it('accepts values and transactions above 1 MiB', async () => {
      const big = 'c'.repeat(1536 * 1024);
      const put = await httpText(`http://${server.endpoint}/v1/kv/harness/big`, { method: 'PUT', body: big });
      expect(put.body.trim()).toBe('true');
      const txn = await httpText(`http://${server.endpoint}/v1/txn`, {
        method: 'PUT',
        body: JSON.stringify([{ KV: { Verb: 'set', Key: 'harness/big-txn', Value: b64(big) } }]),
      });
      expect(txn.status).toBe(200);
    });

    it('restart() keeps the endpoint and elects a leader again (dev mode loses data)', async () => {
      const endpoint = server.endpoint;
      await server.restart();
      expect(server.endpoint).toBe(endpoint);
      const leader = await httpText(`http://${endpoint}/v1/status/leader`);
      expect(leader.body.trim()).toMatch(/^".+"$/);
      const afterRestart = await httpText(`http://${endpoint}/v1/kv/harness/a`);
      expect(afterRestart.status).toBe(404);
    });
  });

  describe('zookeeper', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer('zookeeper');
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers the ruok and conf four-letter words', async () => {
      expect(await zkCommand(server.endpoint, 'ruok')).toBe('imok');
      const conf = await zkCommand(server.endpoint, 'conf');
      expect(conf).toContain('clientPort=2181');
    });

    it('runs the server with a jute.maxbuffer above 1 MiB', async () => {
      const cmdline = await server.exec(['cat', '/proc/1/cmdline']);
      expect(cmdline.output.split('\0')).toContain('-Djute.maxbuffer=4194304');
    });

    it('zkCli.sh works inside the container and data survives restart()', async () => {
      const create = await server.exec([
        'zkCli.sh',
        '-server',
        '127.0.0.1:2181',
        'create',
        '/harness',
        'zk-data',
      ]);
      expect(create.exitCode).toBe(0);
      const ttl = await server.exec([
        'zkCli.sh',
        '-server',
        '127.0.0.1:2181',
        'create',
        '-t',
        '60000',
        '/harness-ttl',
        'x',
      ]);
      expect(ttl.output).toContain('Created /harness-ttl');
      const endpoint = server.endpoint;
      await server.restart();
      expect(server.endpoint).toBe(endpoint);
      const got = await server.exec(['zkCli.sh', '-server', '127.0.0.1:2181', 'get', '/harness']);
      expect(got.exitCode).toBe(0);
      expect(got.output).toContain('zk-data');
    });
  });

  describe('redis', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer('redis');
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers PING on a 127.0.0.1 endpoint', async () => {
      expect(server.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(await redisCommand(server.endpoint, ['PING'])).toBe('+PONG\r\n');
    });

    it('runs redis-cli inside the container and sees what the client wrote', async () => {
      expect(await redisCommand(server.endpoint, ['SET', 'harness:a', 'from-host'])).toBe('+OK\r\n');
      const got = await server.exec(['redis-cli', 'GET', 'harness:a']);
      expect(got.exitCode).toBe(0);
      expect(got.output.trim()).toBe('from-host');
    });

    it('restart() keeps the endpoint and the data (written to /data when stopped)', async () => {
      const endpoint = server.endpoint;
      await redisCommand(endpoint, ['SET', 'harness:kept', 'yes']);
      await server.restart();
      expect(server.endpoint).toBe(endpoint);
      expect(await redisCommand(endpoint, ['GET', 'harness:kept'])).toBe('$3\r\nyes\r\n');
    });

    it("labels its container with this run's id, so cleaning up after a run touches only its own", () => {
      const listed = spawnSync(
        'docker',
        ['ps', '-q', '--filter', `label=${RUN_LABEL}=${runId()}`, '--filter', 'label=kvkit.kind=redis'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      expect(listed.status).toBe(0);
      expect(listed.stdout.trim()).not.toBe('');
    });
  });

  it.each<ServerKind>(['etcd', 'consul', 'zookeeper', 'redis'])(
    'close() removes the %s container',
    async (kind) => {
      const server = await startServer(kind);
      const endpoint = server.endpoint;
      expect(await containerExists(server)).toBe(true);
      await server.close();
      expect(await containerExists(server)).toBe(false);
      expect(await connects(endpoint)).toBe(false);
      await server.close(); // idempotent
    },
  );

  it('startServer honours an aborted signal', async () => {
    await expect(startServer('etcd', { signal: AbortSignal.abort() })).rejects.toThrow();
  });
});
