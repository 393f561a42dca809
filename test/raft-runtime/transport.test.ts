import { createServer, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { within } from '../../src/conformance/helpers.js';
import type { Message } from '../../src/raft/core/index.js';
import { type ClusterCertificates, generateClusterCertificates } from '../../src/raft/runtime/certs.js';
import { encodeFrame, FrameError, FrameReader } from '../../src/raft/runtime/frame-codec.js';
import { Transport, type TransportOptions } from '../../src/raft/runtime/transport.js';
import { PEER_PROTOCOL_VERSION } from '../../src/raft/runtime/wire.js';
import { lineLog, waitFor } from './support.js';

const heartbeat = (from: string, to: string, commit: number): Message => ({
  type: 'heartbeat',
  from,
  to,
  term: 1,
  commit,
  readContext: 0,
});

describe('FrameReader', () => {
  it('reassembles frames split across chunks and several frames in one chunk', () => {
    const values = [
      { a: 1 },
      { data: new Uint8Array([1, 2, 3]) },
      { big: new Uint8Array(100_000).fill(7) },
      'x',
    ];
    const bytes = Buffer.concat(values.flatMap((v) => encodeFrame(v)));
    for (const size of [1, 3, 7, 1000, bytes.length]) {
      const reader = new FrameReader();
      const out: unknown[] = [];
      for (let i = 0; i < bytes.length; i += size) out.push(...reader.push(bytes.subarray(i, i + size)));
      expect(out).toHaveLength(4);
      expect(out[0]).toEqual({ a: 1 });
      expect(Buffer.from((out[1] as { data: Uint8Array }).data)).toEqual(Buffer.from([1, 2, 3]));
      expect((out[2] as { big: Uint8Array }).big.every((b) => b === 7)).toBe(true);
      expect(out[3]).toBe('x');
      expect(reader.buffered).toBe(0);
    }
  });

  it('rejects a frame longer than the limit before buffering it', () => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff, 0);
    expect(() => new FrameReader().push(header)).toThrow(FrameError);
  });
});

describe('Transport', () => {
  const open: Transport[] = [];
  let certs: ClusterCertificates;
  let otherCa: ClusterCertificates;

  beforeAll(async () => {
    [certs, otherCa] = await Promise.all([
      generateClusterCertificates({ nodes: ['a', 'b', 'c'] }),
      generateClusterCertificates({ nodes: ['a', 'b'] }),
    ]);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  type Node = { t: Transport; got: Message[]; lines: string[]; unreachable: string[] };
  const book = new Map<string, string>();
  async function node(
    id: string,
    extra: Partial<TransportOptions> = {},
    listen = '127.0.0.1:0',
  ): Promise<Node> {
    const got: Message[] = [];
    const unreachable: string[] = [];
    const { lines, log } = lineLog();
    const t = await Transport.start({
      nodeId: id,
      listen,
      clusterId: () => 'cluster-1',
      resolve: (peer) => book.get(peer),
      onMessage: (m) => {
        got.push(m);
      },
      onUnreachable: (peer) => unreachable.push(peer),
      log,
      ...extra,
    });
    book.set(id, t.address);
    open.push(t);
    return { t, got, lines, unreachable };
  }

  it('delivers pipelined messages in order, binary data intact', async () => {
    const a = await node('a');
    const b = await node('b');
    const data = new Uint8Array([0, 255, 1, 254]);
    a.t.send([
      ...Array.from({ length: 500 }, (_, i) => heartbeat('a', 'b', i)),
      {
        type: 'app',
        from: 'a',
        to: 'b',
        term: 1,
        prevIndex: 0,
        prevTerm: 0,
        commit: 0,
        entries: [{ index: 1, term: 1, type: 'normal', data }],
      },
    ]);
    await waitFor(() => b.got.length === 501, 'all messages');
    expect(b.got.slice(0, 500).map((m) => (m as { commit: number }).commit)).toEqual(
      Array.from({ length: 500 }, (_, i) => i),
    );
    const app = b.got[500] as Extract<Message, { type: 'app' }>;
    expect(Buffer.from(app.entries[0].data)).toEqual(Buffer.from(data));
    expect(a.t.isConnected('b')).toBe(true);
  });

  it('reconnects after the peer restarts on the same address', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b.got.length === 1, 'first message');
    const address = b.t.address;
    await b.t.close();
    a.t.send([heartbeat('a', 'b', 2)]);
    await waitFor(() => a.unreachable.includes('b'), 'b reported unreachable');
    const b2 = await node('b', {}, address);
    await waitFor(() => {
      a.t.send([heartbeat('a', 'b', 3)]);
      return b2.got.length > 0;
    }, 'delivery after restart');
    expect(b2.got.every((m) => m.from === 'a')).toBe(true);
  });

  it('disconnects a peer whose message the node finds malformed, and keeps serving the others', async () => {
    const b = await node('b', {
      onMessage: (m) => {
        if ((m as { commit: number }).commit < 0) return false;
        b.got.push(m);
      },
    });
    const a = await node('a');
    const c = await node('c');
    a.t.send([heartbeat('a', 'b', 1), heartbeat('a', 'b', -1), heartbeat('a', 'b', 2)]);
    await waitFor(
      () => b.lines.some((l) => /disconnecting a: it sent a malformed heartbeat/.test(l)),
      'refusal',
    );
    c.t.send([heartbeat('c', 'b', 7)]);
    await waitFor(() => b.got.some((m) => m.from === 'c'), 'c still served');
    expect(b.got.filter((m) => m.from === 'a').map((m) => (m as { commit: number }).commit)).toEqual([1]);
  });

  it('refuses a peer from another cluster, with a log line on both sides saying why', async () => {
    const a = await node('a', { clusterId: () => 'cluster-OTHER' });
    const b = await node('b');
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => a.lines.some((l) => l.includes('refused our connection')), 'dialer log');
    await waitFor(() => b.lines.some((l) => l.includes('refused peer connection from a')), 'acceptor log');
    expect(b.lines.join('\n')).toMatch(
      /cluster id mismatch: this node is in cluster cluster-1, the sender in cluster-OTHER/,
    );
    expect(a.lines.join('\n')).toMatch(/cluster id mismatch/);
    expect(b.got).toEqual([]);
  });

  it('refuses a connection meant for another node id', async () => {
    const a = await node('a');
    const b = await node('b');
    book.set('c', b.t.address); // a's member list points c at b's port
    a.t.send([heartbeat('a', 'c', 1)]);
    await waitFor(() => b.lines.some((l) => l.includes('this is node b, not c')), 'refusal');
    expect(b.got).toEqual([]);
  });

  it('lets a joining node adopt the cluster id of the first peer that dials it', async () => {
    let joined: string | null = null;
    const a = await node('a');
    const j = await node('j', {
      clusterId: () => joined,
      adoptClusterId: (id) => {
        joined = id;
        return true;
      },
    });
    a.t.send([heartbeat('a', 'j', 1)]);
    await waitFor(() => j.got.length === 1, 'delivery to the joiner');
    expect(joined).toBe('cluster-1');
  });

  it('drops traffic through the fault hook, in both directions, until healed', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.faults.block('b');
    a.t.send([heartbeat('a', 'b', 1)]);
    b.t.send([heartbeat('b', 'a', 1)]);
    await new Promise((r) => setTimeout(r, 200));
    expect(b.got).toEqual([]);
    expect(a.got).toEqual([]);
    a.t.faults.heal();
    a.t.send([heartbeat('a', 'b', 2)]);
    b.t.send([heartbeat('b', 'a', 2)]);
    await waitFor(() => b.got.length === 1 && a.got.length >= 1, 'delivery after heal');
    expect((b.got[0] as { commit: number }).commit).toBe(2);
  });

  it('bounds the queue for a peer that stops reading and reports it unreachable', async () => {
    const sockets: Socket[] = [];
    // A fake peer: completes the handshake, then never reads again.
    const stuck = createServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => {
        const [h, body] = encodeFrame({ kind: 'welcome' });
        socket.write(Buffer.concat([h, body]));
        socket.pause();
      });
    });
    await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', r));
    book.set('s', `127.0.0.1:${(stuck.address() as { port: number }).port}`);
    try {
      const a = await node('a', {
        maxQueuedMessages: 50,
        maxQueuedBytes: 4 * 1024 * 1024,
        socketHighWater: 64 * 1024,
      });
      const chunk = new Uint8Array(256 * 1024);
      const snap = (i: number): Message => ({
        type: 'snap',
        from: 'a',
        to: 's',
        term: 1,
        metadata: { index: 10, term: 1, confState: { voters: ['a'], learners: [] } },
        offset: i,
        chunk,
        totalSize: 1 << 30,
      });
      for (let round = 0; round < 200 && !a.unreachable.includes('s'); round++) {
        a.t.send(Array.from({ length: 20 }, (_, i) => (i === 0 ? snap(round) : heartbeat('a', 's', i))));
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(a.unreachable).toContain('s');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => stuck.close(r));
    }
  });

  describe('with mutual TLS', () => {
    const tlsFor = (c: ClusterCertificates, name: string) => ({
      ca: c.ca.cert,
      cert: c.certs[name].cert,
      key: c.certs[name].key,
    });

    it('connects peers holding certificates from the cluster CA', async () => {
      const a = await node('a', { tls: tlsFor(certs, 'a') });
      const b = await node('b', { tls: tlsFor(certs, 'b') });
      a.t.send([heartbeat('a', 'b', 7)]);
      await waitFor(() => b.got.length === 1, 'delivery over TLS');
      expect((b.got[0] as { commit: number }).commit).toBe(7);
    });

    it('refuses a certificate from another CA, logging why', async () => {
      const a = await node('a', { tls: { ...tlsFor(otherCa, 'a'), ca: certs.ca.cert } });
      const b = await node('b', { tls: tlsFor(certs, 'b') });
      a.t.send([heartbeat('a', 'b', 1)]);
      await waitFor(() => b.lines.some((l) => l.includes('refused a TLS connection')), 'acceptor log');
      expect(b.got).toEqual([]);
    });

    it('refuses a connection without a certificate before reading a frame of it', async () => {
      const b = await node('b', { tls: tlsFor(certs, 'b') });
      const [host, port] = [b.t.address.split(':')[0], Number(b.t.address.split(':')[1])];
      const socket = connectTls({ host, port, ca: certs.ca.cert });
      socket.on('error', () => {});
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.once('secureConnect', () => {
        const hello = {
          kind: 'hello',
          version: PEER_PROTOCOL_VERSION,
          cluster: 'cluster-1',
          from: 'a',
          to: 'b',
          addr: 'x:1',
        };
        for (const part of [...encodeFrame(hello), ...encodeFrame(heartbeat('a', 'b', 3))])
          socket.write(part);
      });
      await within(closed, 30_000, 'the node hanging up'); // a deadline against a hang only
      await waitFor(() => b.lines.some((l) => l.includes('refused a TLS connection')), 'acceptor log');
      expect(b.got).toEqual([]);
    });

    it('refuses a node presenting another node’s certificate', async () => {
      const a = await node('a', { tls: tlsFor(certs, 'c') });
      const b = await node('b', { tls: tlsFor(certs, 'b') });
      a.t.send([heartbeat('a', 'b', 1)]);
      await waitFor(() => b.lines.some((l) => l.includes('refused peer connection')), 'refusal');
      expect(b.lines.join('\n')).toMatch(/certificate is issued to "c", but it claims to be a/);
      expect(b.got).toEqual([]);
    });

    it('does not send to a server whose certificate names another node', async () => {
      const a = await node('a', { tls: tlsFor(certs, 'a') });
      const b = await node('b', { tls: tlsFor(certs, 'c') });
      a.t.send([heartbeat('a', 'b', 1)]);
      await waitFor(() => a.lines.some((l) => l.includes('expected node b')), 'dialer log');
      expect(b.got).toEqual([]);
    });
  });

  it('rejects a taken port with a clear error', async () => {
    const a = await node('a');
    await expect(node('x', {}, a.t.address)).rejects.toThrow(
      /peer address 127\.0\.0\.1:\d+ is already in use/,
    );
  });
});
