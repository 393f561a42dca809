import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaftClientStore } from '../../src/backends/raft/index.js';
import { within } from '../../src/conformance/helpers.js';
import { runConformance } from '../../src/conformance/index.js';
import { createKvStateMachine, LeaseExpiryClock } from '../../src/raft/kv/index.js';
import { type ClientServer, startClientServer } from '../../src/raft-node/client-server.js';
import '../../src/backends/index.js';
import { createStore } from '../../src/store/create-store.js';
import { CallNotSupportedError } from '../../src/store/errors.js';
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
      expect(`${err?.message} ${err?.stack}`).not.toMatch(/hunter2|s3cr3t-token/);
    }
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
