/** The gossip transport's stream side against peers that go away mid-exchange (real sockets). */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../../src/gossip/runtime/keyring.js';
import { GossipTransport, requestFrame } from '../../src/gossip/runtime/transport.js';

const frame = (body: Uint8Array): Buffer => {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.byteLength, 0);
  return Buffer.concat([header, body]);
};

describe('gossip transport streams', () => {
  it('a peer that resets before the answer is written does not end the process, and the next request is answered', async () => {
    const keyring = new Keyring();
    let resetPeer: Socket | null = null;
    const transport = await GossipTransport.bind(
      '127.0.0.1:0',
      keyring,
      {
        packet: () => {},
        refused: () => {},
        stream: (_from, plain) => {
          // The requester is gone (RST) by the time the answer goes out: the write fails.
          resetPeer?.resetAndDestroy();
          resetPeer = null;
          return plain.byteLength === 1 ? new Uint8Array(256 * 1024) : Uint8Array.of(42);
        },
      },
      10_000,
    );
    try {
      const { port } = transport.address;
      const peer = connect({ host: '127.0.0.1', port });
      peer.on('error', () => {});
      await new Promise<void>((resolve) => peer.once('connect', () => resolve()));
      resetPeer = peer;
      peer.write(frame(keyring.seal(Uint8Array.of(1))));
      await new Promise<void>((resolve) => peer.once('close', () => resolve()));

      // The same process answers the next request: an unhandled socket error would have ended it.
      const answer = await requestFrame(
        { host: '127.0.0.1', port },
        keyring.seal(Uint8Array.of(1, 2)),
        keyring,
        10_000,
      );
      expect([...answer]).toEqual([42]);
    } finally {
      await transport.close();
    }
  });
});
