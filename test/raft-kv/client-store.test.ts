import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaftClientStore } from '../../src/backends/raft/index.js';
import { within } from '../../src/conformance/helpers.js';
import { runConformance } from '../../src/conformance/index.js';
import { createKvStateMachine, LeaseExpiryClock } from '../../src/raft/kv/index.js';
import { type ClientServer, startClientServer } from '../../src/raft-node/client-server.js';
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

  it('carries server errors with their code', async () => {
    const store = await openRaftClientStore({ backend: 'raft', endpoints: [server.address] });
    const raw = store as unknown as { cluster: { removeMember(id: string): Promise<void> } };
    await expect(raw.cluster.removeMember('x')).rejects.toMatchObject({ code: 'CALL_NOT_SUPPORTED' });
    await store.close();
  });
});
