import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openRaftClientStore } from '../../src/backends/raft/index.js';
import type { ClientReply, ClientRequest } from '../../src/backends/raft/protocol.js';
import { within } from '../../src/conformance/helpers.js';
import { encodeFrame, FrameReader } from '../../src/raft/runtime/frame-codec.js';
import type { KVPair, Store } from '../../src/store/types.js';

/**
 * A scripted node speaking the raft:// protocol: each connection's watch request is answered
 * by `script(request, connection number)`, which returns the replies to send.
 */
async function scriptedNode(
  script: (request: Extract<ClientRequest, { op: 'watch' }>, connection: number) => ClientReply[],
): Promise<{ server: Server; address: string; sockets: Socket[]; watches: ClientRequest[] }> {
  const sockets: Socket[] = [];
  const watches: ClientRequest[] = [];
  const server = createServer((socket) => {
    const connection = sockets.push(socket);
    const reader = new FrameReader();
    const send = (reply: ClientReply) => {
      const [header, body] = encodeFrame(reply);
      socket.write(header);
      socket.write(body);
    };
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      for (const request of reader.push(chunk) as ClientRequest[]) {
        if (request.op === 'hello')
          send({ id: request.id, ok: true, result: { nodeId: 'f', leaderClientAddr: null } });
        else if (request.op === 'watch') {
          watches.push(request);
          for (const reply of script(request, connection)) send({ ...reply, id: request.id });
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, sockets, watches };
}

const pair = (key: string, value: string, lastIndex: number): KVPair => ({
  key,
  value: new TextEncoder().encode(value),
  lastIndex,
});
const text = (p: KVPair | null) => (p === null ? null : new TextDecoder().decode(p.value));

describe('raft:// watch resumed on another connection', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('skips a starting state no newer than the last revision it delivered (a node behind the one it left)', async () => {
    const node = await scriptedNode((_request, connection) => {
      if (connection === 1) {
        return [
          { id: 0, kind: 'state', revision: 5, state: null },
          { id: 0, kind: 'events', events: [{ revision: 6, key: 'k', state: pair('k', 'b', 6) }] },
        ];
      }
      // The node reached after the reconnect is behind: it starts the watch at revision 5 (no
      // key yet: without the check the watcher would see a delete that never happened), then catches up.
      return [
        { id: 0, kind: 'state', revision: 5, state: null },
        { id: 0, kind: 'events', events: [{ revision: 6, key: 'k', state: pair('k', 'b', 6) }] },
        { id: 0, kind: 'events', events: [{ revision: 7, key: 'k', state: pair('k', 'c', 7) }] },
      ];
    });
    cleanups.push(() => new Promise<void>((resolve) => node.server.close(() => resolve())));
    cleanups.push(() => {
      for (const socket of node.sockets) socket.destroy();
    });
    const store: Store = await openRaftClientStore({ backend: 'raft', endpoints: [node.address] });
    cleanups.push(() => store.close());
    const stop = new AbortController();
    cleanups.push(() => stop.abort());
    const iter = store.watch('k', { signal: stop.signal })[Symbol.asyncIterator]();
    const seen: (string | null)[] = [];
    const next = async () => {
      const step = await within(iter.next(), 60_000, 'the watch delivered nothing');
      if (step.done) throw new Error('the watch ended');
      seen.push(text(step.value));
    };
    await next();
    await next();
    expect(seen).toEqual([null, 'b']);
    // Break the connection: the client reconnects and resumes after revision 6.
    node.sockets[0].destroy();
    await next();
    expect(node.watches.at(-1)).toMatchObject({ op: 'watch', key: 'k', after: 6 });
    expect(seen).toEqual([null, 'b', 'c']);
  }, 120_000);

  it('skips a stale starting state of a directory watch the same way', async () => {
    const node = await scriptedNode((_request, connection) => {
      if (connection === 1) {
        return [
          { id: 0, kind: 'state', revision: 5, state: [pair('d/x', 'a', 5)] },
          { id: 0, kind: 'events', events: [{ revision: 6, key: 'd/y', state: pair('d/y', 'b', 6) }] },
        ];
      }
      return [
        { id: 0, kind: 'state', revision: 5, state: [pair('d/x', 'a', 5)] },
        { id: 0, kind: 'events', events: [{ revision: 7, key: 'd/z', state: pair('d/z', 'c', 7) }] },
      ];
    });
    cleanups.push(() => new Promise<void>((resolve) => node.server.close(() => resolve())));
    cleanups.push(() => {
      for (const socket of node.sockets) socket.destroy();
    });
    const store: Store = await openRaftClientStore({ backend: 'raft', endpoints: [node.address] });
    cleanups.push(() => store.close());
    const stop = new AbortController();
    cleanups.push(() => stop.abort());
    const iter = store.watchTree('d', { signal: stop.signal })[Symbol.asyncIterator]();
    const seen: string[][] = [];
    const next = async () => {
      const step = await within(iter.next(), 60_000, 'the watch delivered nothing');
      if (step.done) throw new Error('the watch ended');
      seen.push(step.value.map((p) => `${p.key}=${text(p)}`));
    };
    await next();
    await next();
    node.sockets[0].destroy();
    await next();
    expect(seen).toEqual([['d/x=a'], ['d/x=a', 'd/y=b'], ['d/x=a', 'd/y=b', 'd/z=c']]);
  }, 120_000);
});
