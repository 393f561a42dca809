import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { literalFirstLookup } from '../../src/net/udp-lookup.js';

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close(() => {});
});

async function bound(socket: Socket): Promise<Socket> {
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

/** Sends `count` datagrams, each from a socket closed by a promise continuation right after. */
async function sendThenClose(count: number, lookup: typeof literalFirstLookup | undefined, port: number) {
  for (let i = 0; i < count; i++) {
    const tx = lookup ? createSocket({ type: 'udp4', lookup }) : createSocket('udp4');
    await new Promise<void>((resolve) => tx.bind(0, '127.0.0.1', () => resolve()));
    await Promise.resolve().then(() => {
      tx.send(Buffer.from('leave'), port, '127.0.0.1');
      return Promise.resolve().then(() => tx.close());
    });
  }
}

describe('literalFirstLookup', () => {
  it('sends to an IP literal at once, so a datagram sent just before close() still goes out', async () => {
    const rx = await bound(createSocket('udp4'));
    let received = 0;
    rx.on('message', () => received++);
    await sendThenClose(20, literalFirstLookup, rx.address().port);
    const deadline = Date.now() + 10_000;
    while (received < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(received).toBe(20);
  });

  it("is what makes the difference: with Node's default lookup such datagrams are dropped", async () => {
    const rx = await bound(createSocket('udp4'));
    let received = 0;
    rx.on('message', () => received++);
    await sendThenClose(20, undefined, rx.address().port);
    // A marker from a live socket: once it arrives, nothing earlier is still on its way.
    const marker = await bound(createSocket('udp4'));
    const arrived = new Promise<void>((resolve) =>
      rx.on('message', (m) => m.toString() === 'marker' && resolve()),
    );
    marker.send(Buffer.from('marker'), rx.address().port, '127.0.0.1');
    await arrived;
    expect(received - 1).toBe(0);
  });

  it('still looks up a name', async () => {
    const answer = await new Promise<{ address: string; family: number }>((resolve, reject) =>
      literalFirstLookup('localhost', 4, (err, address, family) =>
        err ? reject(err) : resolve({ address, family }),
      ),
    );
    expect(answer).toEqual({ address: '127.0.0.1', family: 4 });
  });
});
