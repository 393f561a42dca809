import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/backends/index.js';
import { RaftClientStore } from '../../src/backends/raft/index.js';
import {
  type ClusterCertificates,
  generateClusterCertificates,
  startRaftNode,
} from '../../src/raft-node/index.js';
import { createStore } from '../../src/store/create-store.js';
import { NodeCluster } from './raft-node-cluster.js';
import { eventually, freePorts, tempDir, waitFor } from './support.js';

const text = (v: Uint8Array) => new TextDecoder().decode(v);
let cluster: NodeCluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

describe('startRaftNode', () => {
  it('serves node.store in-process and raft:// on the client ports, with admin calls', async () => {
    cluster = await NodeCluster.start(3);
    const leader = await cluster.leader();
    const follower = [...cluster.nodes.values()].find((n) => n !== leader);
    await leader.store.put('app/a', 'from-leader');
    expect(text((await follower?.store.get('app/a'))?.value ?? new Uint8Array())).toBe('from-leader');

    const client = (await createStore(cluster.clientUrl())) as RaftClientStore;
    try {
      await client.put('app/b', 'from-client');
      expect(text((await leader.store.get('app/b')).value)).toBe('from-client');
      // Client addresses are announced through the log shortly after start.
      const members = await eventually(async () => {
        const ms = await client.cluster.members();
        if (ms.some((m) => m.clientAddr === null)) throw new Error('not announced yet');
        return ms;
      }, 'client addresses');
      expect(members.map((m) => [m.id, m.voter, m.clientAddr])).toEqual(
        ['n1', 'n2', 'n3'].map((id) => [id, true, cluster?.client.get(id)]),
      );
      const status = await client.cluster.status();
      expect(status.leader).toBe(leader.id);
      expect(status.appliedIndex).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it('joins a running cluster through a client port, as a learner promoted to voter', async () => {
    cluster = await NodeCluster.start(3);
    const leader = await cluster.leader();
    for (let i = 0; i < 20; i++) await leader.store.put(`j/${i}`, String(i));
    const joiner = await cluster.addNode('n4', { join: cluster.client.get('n2') });
    await waitFor(() => leader.members().some((m) => m.id === 'n4' && m.voter), 'n4 promoted');
    expect((await joiner.store.list('j')).length).toBe(20);
    expect(leader.members().find((m) => m.id === 'n4')?.clientAddr).toBe(cluster.client.get('n4'));
    // Restart: the data dir says it is a member; it does not ask again.
    await cluster.stopNode('n4');
    const back = await cluster.startNode('n4', { join: cluster.client.get('n1') });
    await back.store.put('j/after', 'x');
    expect(cluster.logs.filter((l) => l.startsWith('[n4] asking the cluster')).length).toBe(1);
  });

  it('removes a member through the raft:// admin API', async () => {
    cluster = await NodeCluster.start(3);
    await cluster.leader();
    await cluster.stopNode('n3');
    const client = (await createStore(`raft://${cluster.client.get('n1')}`)) as RaftClientStore;
    try {
      await client.cluster.removeMember('n3');
      expect((await client.cluster.members()).map((m) => m.id)).toEqual(['n1', 'n2']);
      await client.put('still', 'works');
    } finally {
      await client.close();
    }
  });

  it('refuses a client port in use with a clear error, and leaves nothing running', async () => {
    cluster = await NodeCluster.start(1);
    await cluster.leader();
    const [peer] = await freePorts(1);
    await expect(
      startRaftNode({
        ...cluster.options('x'),
        initialCluster: `x=127.0.0.1:${peer}`,
        peerAddr: `127.0.0.1:${peer}`,
        clientAddr: cluster.client.get('n1'),
        dataDir: `${cluster.dir.path}/x`,
      }),
    ).rejects.toThrow(/client address 127\.0\.0\.1:\d+ is already in use/);
    // The peer port was released: a node can bind it now.
    const ok = await startRaftNode({
      ...cluster.options('x'),
      initialCluster: `x=127.0.0.1:${peer}`,
      peerAddr: `127.0.0.1:${peer}`,
      clientAddr: '127.0.0.1:0',
      dataDir: `${cluster.dir.path}/x`,
    });
    await ok.close();
  });

  it('without TLS, refuses to listen on a non-loopback address unless insecure', async () => {
    const dir = tempDir('kvkit-exposed-');
    const lines: string[] = [];
    const base = {
      id: 'x',
      dataDir: `${dir.path}/x`,
      initialCluster: 'x=192.0.2.1:7001',
      peerAddr: '192.0.2.1:7001',
      logger: (line: string) => lines.push(line),
    };
    try {
      const refused = await startRaftNode(base).catch((e) => e);
      expect(refused.code).toBe('INVALID_ARGUMENT');
      expect(refused.message).toMatch(/refusing to listen on 192\.0\.2\.1:7001 without TLS.*--insecure/);
      const client = await startRaftNode({
        ...base,
        initialCluster: 'x=127.0.0.1:1',
        peerAddr: '127.0.0.1:1',
        clientAddr: '0.0.0.0:7101',
      }).catch((e) => e);
      expect(client.message).toMatch(/refusing to listen on 0\.0\.0\.0:7101 without TLS/);
      expect(lines).toEqual([]);
      // With insecure it goes ahead, saying so (192.0.2.1 is TEST-NET-1: not on this machine,
      // so the bind itself then fails; nothing listens and nothing is sent).
      await expect(startRaftNode({ ...base, insecure: true })).rejects.toThrow();
      expect(
        lines.some((l) => /WARNING: listening on 192\.0\.2\.1:7001 without TLS \(--insecure\)/.test(l)),
      ).toBe(true);
    } finally {
      dir.remove();
    }
  });

  describe('with mutual TLS from a cluster CA', () => {
    let certs: ClusterCertificates;
    let foreign: ClusterCertificates;
    beforeAll(async () => {
      [certs, foreign] = await Promise.all([
        generateClusterCertificates({ nodes: ['n1', 'n2', 'n3', 'n4'] }),
        generateClusterCertificates({ nodes: ['n4'] }),
      ]);
    });
    const tls = (c: ClusterCertificates, name: string) => ({
      ca: c.ca.cert,
      cert: c.certs[name].cert,
      key: c.certs[name].key,
    });

    it('replicates over TLS, serves raft:// clients holding a CA certificate, and refuses a foreign one', async () => {
      cluster = new NodeCluster();
      const c = cluster;
      const ports = await freePorts(6);
      ['n1', 'n2', 'n3'].forEach((id, i) => {
        c.peer.set(id, `127.0.0.1:${ports[2 * i]}`);
        c.client.set(id, `127.0.0.1:${ports[2 * i + 1]}`);
      });
      c.initialCluster = [...c.peer].map(([id, a]) => `${id}=${a}`).join(',');
      await Promise.all(['n1', 'n2', 'n3'].map((id) => c.startNode(id, { tls: tls(certs, id) })));
      const leader = await c.leader();
      await leader.store.put('secure', 'yes');

      const client = await createStore({
        backend: 'raft',
        endpoints: [...c.client.values()],
        tls: tls(certs, 'client'),
      });
      try {
        expect(text((await client.get('secure')).value)).toBe('yes');
      } finally {
        await client.close();
      }
      const refused = await createStore({
        backend: 'raft',
        endpoints: [c.client.get('n1') as string],
        tls: { ...tls(foreign, 'client'), ca: certs.ca.cert },
        connectTimeoutMs: 1500,
      }).then(
        (s) => s.close().then(() => 'connected'),
        (err: { code?: string }) => err.code,
      );
      expect(refused).toBe('NOT_REACHABLE');
      // Without a certificate of its own, a client reaches nothing: not data, not membership calls.
      const anonymous = await RaftClientStore.open({
        backend: 'raft',
        endpoints: [c.client.get('n1') as string],
        tls: { ca: certs.ca.cert },
        connectTimeoutMs: 1500,
      }).then(
        async (s) => {
          await s.cluster.removeMember('n3').catch(() => {});
          await s.close();
          return 'connected';
        },
        (err: { code?: string }) => err.code,
      );
      expect(anonymous).toBe('NOT_REACHABLE');
      expect(leader.members().map((m) => m.id)).toEqual(['n1', 'n2', 'n3']);

      // A node with a certificate from another CA cannot join: refused, with the reason logged.
      const [p4, c4] = await freePorts(2);
      c.peer.set('n4', `127.0.0.1:${p4}`);
      c.client.set('n4', `127.0.0.1:${c4}`);
      const joining = c.startNode('n4', {
        join: c.client.get('n1'),
        joinTimeoutMs: 2000,
        tls: { ...tls(foreign, 'n4'), ca: certs.ca.cert },
      });
      await expect(joining).rejects.toThrow();
      await eventually(async () => {
        if (!c.logs.some((l) => /client refused|refused a TLS connection/.test(l))) throw new Error('no log');
      }, 'a refusal log line');
    });
  });
});
