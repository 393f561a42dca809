import { writeFileSync } from 'node:fs';
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaftClientStore } from '../../src/backends/raft/index.js';
import { failure, within } from '../../src/conformance/helpers.js';
import { expectNoSecrets, runConformance } from '../../src/conformance/index.js';
import { createKvStateMachine, LeaseExpiryClock } from '../../src/raft/kv/index.js';
import { type ClusterCertificates, generateClusterCertificates } from '../../src/raft/runtime/certs.js';
import { type ClientServer, startClientServer } from '../../src/raft-node/client-server.js';
import '../../src/backends/index.js';
import { createStore } from '../../src/store/create-store.js';
import { CallNotSupportedError } from '../../src/store/errors.js';
import { tempDir } from '../raft-runtime/support.js';
import { DirectReplica } from './direct-replica.js';

// The raft:// protocol (client and server) over one directly applying replica; cluster runs are in test/raft-cluster.
const sm = createKvStateMachine();
const replica = new DirectReplica(sm);
const clock = new LeaseExpiryClock(replica, sm);
let server: ClientServer;
const unsupported = async () => {
  throw new CallNotSupportedError('membership changes need a real node');
};

beforeAll(async () => {
  server = await startClientServer({
    replica,
    sm,
    listen: '127.0.0.1:0',
    admin: {
      status: () => replica.status(),
      members: () => replica.members(),
      addMember: unsupported,
      removeMember: unsupported,
    },
  });
});
afterAll(async () => {
  clock.close();
  await server.close();
});

runConformance({
  name: 'raft:// client (direct replica)',
  open: () => openRaftClientStore({ backend: 'raft', endpoints: [server.address] }),
});

describe('raft:// client', () => {
  it('rejects with NOT_REACHABLE within connectTimeoutMs when no node answers', async () => {
    // A deadline against a hang, not a measure of speed.
    const err = await within(
      openRaftClientStore({ backend: 'raft', endpoints: ['127.0.0.1:1'], connectTimeoutMs: 500 }).catch(
        (e) => e,
      ),
      25_000,
      'the open gave up',
    );
    expect(err.code).toBe('NOT_REACHABLE');
  });

  it('refuses a password, a username or a token (a node authenticates by certificate), never echoing them', async () => {
    for (const url of [
      `raft://${server.address}?password=hunter2`,
      `raft://${server.address}?token=s3cr3t-token`,
      `raft://admin:hunter2@${server.address}`,
    ]) {
      const err = await createStore(url).then(
        (s) => s.close().then(() => null),
        (e: Error & { code?: string }) => e,
      );
      expect(err?.code, url).toBe('INVALID_ARGUMENT');
      expect(err?.message).toMatch(/authenticates clients by TLS certificate/);
      expectNoSecrets(err, ['hunter2', 's3cr3t-token']);
    }
    // A URL that fails to parse is shown with its credentials as ***.
    const parse = await failure(() =>
      createStore(`raft://${server.address}?password=hunter2&connectTimeoutMs=x`),
    );
    expect(parse.code).toBe('INVALID_ARGUMENT');
    expectNoSecrets(parse, ['hunter2']);
  });

  it('takes TLS material from ?tlsDir (ca.crt and client.crt/.key, or tlsName)', async () => {
    const dir = '/nonexistent/kvkit-certs';
    const err = await createStore(`raft://${server.address}?tlsDir=${dir}&tlsName=n7`).catch((e) => e);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(`${dir}/ca.crt`);
    await expect(createStore(`raft://${server.address}?tlsName=n7`)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('carries server errors with their code', async () => {
    const store = await openRaftClientStore({ backend: 'raft', endpoints: [server.address] });
    const raw = store as unknown as { cluster: { removeMember(id: string): Promise<void> } };
    await expect(raw.cluster.removeMember('x')).rejects.toMatchObject({ code: 'CALL_NOT_SUPPORTED' });
    await store.close();
  });
});

/**
 * No raft:// connect error carries a secret (the refused credentials are tested above): every
 * connect-error path with TLS material whose private key must never show (expectNoSecrets also flags any PEM
 * private key in the message, stack, properties or cause chain, as util.inspect prints them).
 */
describe('raft:// errors carry no secret', () => {
  let certs: ClusterCertificates;
  let foreign: ClusterCertificates;
  let tlsServer: ClientServer;
  let dir: ReturnType<typeof tempDir> | undefined;
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const wrong: Record<string, string> = {};

  function listen(onConnection: (socket: Socket) => void): Promise<string> {
    const s = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      onConnection(socket);
    });
    servers.push(s);
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(s.address() as AddressInfo).port}`));
    });
  }

  beforeAll(async () => {
    [certs, foreign] = await Promise.all([
      generateClusterCertificates({ nodes: ['n1'] }),
      generateClusterCertificates({ nodes: ['n1'] }),
    ]);
    tlsServer = await startClientServer({
      replica,
      sm,
      listen: '127.0.0.1:0',
      tls: { ca: certs.ca.cert, cert: certs.certs.n1.cert, key: certs.certs.n1.key },
      admin: {
        status: () => replica.status(),
        members: () => replica.members(),
        addMember: unsupported,
        removeMember: unsupported,
      },
    });
    wrong.refused = await listen(() => {});
    await new Promise((resolve) => servers.pop()?.close(resolve));
    wrong.silent = await listen(() => {});
    wrong.garbage = await listen((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 500 Oops\r\ncontent-length: 7\r\n\r\ngarbage\x00\xff'));
    });
    // A tlsDir whose client key is not the certificate's (another CA's key).
    dir = tempDir('kvkit-raft-secrets-');
    writeFileSync(join(dir?.path ?? '', 'ca.crt'), certs.ca.cert);
    writeFileSync(join(dir?.path ?? '', 'client.crt'), certs.certs.client.cert);
    writeFileSync(join(dir?.path ?? '', 'client.key'), foreign.certs.client.key, { mode: 0o600 });
  }, 120_000);
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await tlsServer?.close();
    dir?.remove();
  });

  const clientTls = (c: ClusterCertificates) => ({
    ca: certs.ca.cert,
    cert: c.certs.client.cert,
    key: c.certs.client.key,
  });
  const open = (endpoint: string, tls?: ReturnType<typeof clientTls>) =>
    failure(() =>
      createStore({ backend: 'raft', endpoints: [endpoint], tls, connectTimeoutMs: 1000 }).then((s) =>
        s.close(),
      ),
    );

  for (const kind of ['refused', 'silent', 'garbage'] as const) {
    it(`rejects a TLS client whose node is ${kind} with NOT_REACHABLE and no private key in the error`, async () => {
      const err = await within(open(wrong[kind], clientTls(certs)), 60_000, 'the open gave up');
      expect(err.code).toBe('NOT_REACHABLE');
      expectNoSecrets(err, [certs.certs.client.key]);
    });
  }

  it('rejects a client whose certificate another CA signed with NOT_REACHABLE and no private key in the error', async () => {
    const err = await within(open(tlsServer.address, clientTls(foreign)), 60_000, 'the open gave up');
    expect(err.code).toBe('NOT_REACHABLE');
    expectNoSecrets(err, [foreign.certs.client.key]);
  });

  it('rejects a ?tlsDir whose key is not its certificate’s without printing the key', async () => {
    const err = await within(
      failure(() =>
        createStore(`raft://${tlsServer.address}?tlsDir=${dir?.path}&connectTimeoutMs=1000`).then((s) =>
          s.close(),
        ),
      ),
      60_000,
      'the open gave up',
    );
    expect(['INVALID_ARGUMENT', 'NOT_REACHABLE']).toContain(err.code);
    expectNoSecrets(err, [foreign.certs.client.key]);
  });
});
