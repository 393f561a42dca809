import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaftClientStore } from '../../src/backends/raft/index.js';
import { createKvStateMachine } from '../../src/raft/kv/index.js';
import { type ClusterCertificates, generateClusterCertificates } from '../../src/raft/runtime/certs.js';
import { type ClientServer, startClientServer } from '../../src/raft-node/client-server.js';
import { MAX_TTL_MS } from '../../src/store/limits.js';
import { text } from '../../src/store/values.js';
import { DirectReplica } from '../raft-kv/direct-replica.js';
import { encodeKvRequest, RawClient } from './raw-client.js';

// The client port over one directly applying replica: every bad request must be answered with
// its typed error and never proposed (the replica counts proposals).
const sm = createKvStateMachine();
const replica = new DirectReplica(sm);
let proposals = 0;
const propose = replica.propose.bind(replica);
replica.propose = (command: Uint8Array) => {
  proposals++;
  return propose(command);
};
const lines: string[] = [];
let server: ClientServer;
const MAX_VALUE = 4096;

beforeAll(async () => {
  server = await startClientServer({
    replica,
    sm,
    listen: '127.0.0.1:0',
    maxValueBytes: MAX_VALUE,
    log: (line) => lines.push(line),
    admin: {
      status: () => replica.status(),
      members: () => replica.members(),
      addMember: async () => {},
      removeMember: async () => {},
    },
  });
});
afterAll(async () => {
  await server.close();
});

let seq = 0;
const put = (cmd: Record<string, unknown>) => ({
  op: 'submit',
  timeoutMs: 1000,
  request: encodeKvRequest({
    client: 'c1',
    seq: ++seq,
    cmd: { op: 'put', value: new Uint8Array([1]), ...cmd },
  }),
});

describe('the client port', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['an empty key', put({ key: '' }), 'INVALID_KEY'],
    ['a key with a NUL byte', put({ key: 'a\0b' }), 'INVALID_KEY'],
    ['a 10,000-character key', put({ key: 'k'.repeat(10_000) }), 'INVALID_KEY'],
    ['a key that is not a string', put({ key: 42 }), 'INVALID_KEY'],
    ['a negative TTL', put({ key: 'k', ttlMs: -5 }), 'INVALID_ARGUMENT'],
    ['a TTL over the maximum', put({ key: 'k', ttlMs: MAX_TTL_MS + 1 }), 'INVALID_ARGUMENT'],
    ['a TTL that is not a number', put({ key: 'k', ttlMs: '10' }), 'INVALID_ARGUMENT'],
    [
      'a value over maxValueBytes',
      put({ key: 'k', value: new Uint8Array(MAX_VALUE + 1) }),
      'VALUE_TOO_LARGE',
    ],
    ['a value that is not bytes', put({ key: 'k', value: 'text' }), 'INVALID_ARGUMENT'],
    [
      'an unknown command',
      { op: 'submit', request: encodeKvRequest({ client: 'c1', seq: 1, cmd: { op: 'drop', key: 'k' } }) },
      'INVALID_ARGUMENT',
    ],
    [
      'a command without a client session',
      { op: 'submit', request: encodeKvRequest({ cmd: { op: 'del', key: 'k' } }) },
      'INVALID_ARGUMENT',
    ],
    [
      'a cas with a negative revision',
      {
        op: 'submit',
        request: encodeKvRequest({
          client: 'c',
          seq: 1,
          cmd: { op: 'cas', key: 'k', value: new Uint8Array(), prev: -1 },
        }),
      },
      'INVALID_ARGUMENT',
    ],
    [
      'undecodable command bytes',
      { op: 'submit', request: new Uint8Array([0xc1, 0xff, 0x00]) },
      'INVALID_ARGUMENT',
    ],
    ['a command that is not bytes', { op: 'submit', request: { op: 'put' } }, 'INVALID_ARGUMENT'],
    ['an unknown operation', { op: 'format-disk' }, 'INVALID_ARGUMENT'],
    ['a read of an empty key', { op: 'get', key: '', consistent: true }, 'INVALID_KEY'],
    ['a watch of neither key nor dir', { op: 'watch' }, 'INVALID_ARGUMENT'],
    [
      'a member with an invalid id',
      { op: 'addMember', member: { id: '../x', peerAddr: 'h:1', clientAddr: null } },
      'INVALID_ARGUMENT',
    ],
    [
      'a member without host:port',
      { op: 'addMember', member: { id: 'n9', peerAddr: 'nowhere', clientAddr: null } },
      'INVALID_ARGUMENT',
    ],
    ['a removal of a non-string id', { op: 'removeMember', nodeId: 7 }, 'INVALID_ARGUMENT'],
  ];

  for (const [what, body, code] of cases) {
    it(`answers ${what} with ${code} and proposes nothing`, async () => {
      const client = await RawClient.connect(server.address);
      try {
        const before = proposals;
        const reply = await client.request(body);
        expect(reply).toMatchObject({ ok: false, code });
        expect(proposals).toBe(before);
        // The connection stays usable: the next good request is served.
        expect(await client.request({ op: 'get', key: 'ok', consistent: true })).toMatchObject({ ok: true });
      } finally {
        client.close();
      }
    });
  }

  it('proposes a checked request re-encoded from its checked fields only', async () => {
    const client = await RawClient.connect(server.address);
    try {
      const reply = await client.request(put({ key: '/checked', extra: 'dropped', ttlMs: null }));
      expect(reply).toMatchObject({ ok: true });
      expect(sm.get('checked')).toMatchObject({ key: 'checked' });
    } finally {
      client.close();
    }
  });

  const hostile: [string, (c: RawClient) => void][] = [
    ['raw garbage bytes', (c) => c.raw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))],
    ['a frame longer than the maximum', (c) => c.raw(Buffer.from([0x7f, 0xff, 0xff, 0xff]))],
    ['a frame that is not msgpack', (c) => c.raw(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]))],
    ['a request without an id', (c) => c.frame({ op: 'get', key: 'k' })],
    ['a request that is not an object', (c) => c.frame(['submit'])],
  ];
  for (const [what, send] of hostile) {
    it(`disconnects a client that sends ${what}, and keeps serving the others`, async () => {
      const bystander = await openRaftClientStore({ backend: 'raft', endpoints: [server.address] });
      const client = await RawClient.connect(server.address);
      try {
        const before = proposals;
        send(client);
        expect(await client.closedWithin(10_000)).toBe(true);
        expect(proposals).toBe(before);
        await bystander.put('bystander', 'still served');
        expect(text((await bystander.get('bystander'))?.value as Uint8Array)).toBe('still served');
        expect(lines.some((l) => /disconnecting client/.test(l))).toBe(true);
      } finally {
        client.close();
        await bystander.close();
      }
    });
  }
});

describe('the client port with TLS (what --tls-dir gives)', () => {
  let certs: ClusterCertificates;
  let foreign: ClusterCertificates;
  let tlsServer: ClientServer;
  const removed: string[] = [];
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
      log: (line) => lines.push(line),
      admin: {
        status: () => replica.status(),
        members: () => replica.members(),
        addMember: async () => {},
        removeMember: async (id) => {
          removed.push(id);
        },
      },
    });
  }, 120_000);
  afterAll(async () => {
    await tlsServer?.close();
  });

  /** Sends a removeMember as soon as the client's side of the handshake is done: answered, or disconnected? */
  async function tryRemove(tls: { ca: string; cert?: string; key?: string }): Promise<boolean> {
    const client = await RawClient.connect(tlsServer.address, tls).catch(() => null);
    if (client === null) return false; // refused during the handshake
    try {
      // A refused client is disconnected by the node (the request's deadline only catches a hang).
      await client.request({ op: 'removeMember', nodeId: 'n3' }, 30_000);
      return true;
    } catch (err) {
      if ((err as Error).message === 'the node closed the connection') return false;
      throw err;
    } finally {
      client.close();
    }
  }

  it('removes a member for a client holding a certificate the cluster CA signed', async () => {
    const client = await RawClient.connect(tlsServer.address, {
      ca: certs.ca.cert,
      cert: certs.certs.client.cert,
      key: certs.certs.client.key,
    });
    try {
      const before = removed.length;
      expect(await client.request({ op: 'removeMember', nodeId: 'n3' })).toMatchObject({ ok: true });
      expect(removed.slice(before)).toEqual(['n3']);
    } finally {
      client.close();
    }
  });

  it('lets a client without a certificate remove no member (the handshake fails, nothing is read)', async () => {
    const before = removed.length;
    expect(await tryRemove({ ca: certs.ca.cert })).toBe(false);
    expect(removed.length).toBe(before);
  });

  it('lets a client whose certificate another CA signed remove no member', async () => {
    const before = removed.length;
    expect(
      await tryRemove({ ca: certs.ca.cert, cert: foreign.certs.client.cert, key: foreign.certs.client.key }),
    ).toBe(false);
    expect(removed.length).toBe(before);
  });

  it('serves no data to a client without a certificate either', async () => {
    const client = await RawClient.connect(tlsServer.address, { ca: certs.ca.cert }).catch(() => null);
    if (client !== null) {
      try {
        client.frame({ id: 1, op: 'get', key: 'checked', consistent: false });
        expect(await client.closedWithin(30_000)).toBe(true);
        expect(client.replies).toEqual([]);
      } finally {
        client.close();
      }
    }
    expect(lines.some((l) => /client refused/.test(l))).toBe(true);
  });
});
