import { describe, expect, it } from 'vitest';
import { BroadcastQueue } from '../../src/gossip/core/broadcast-queue.js';
import { decodePacket, encodeMessage, PacketBuilder } from '../../src/gossip/core/messages.js';

const alive = (name: string, incarnation = 0): Uint8Array =>
  encodeMessage({ type: 'alive', name, addr: `${name}:1`, incarnation });

function names(packet: PacketBuilder): string[] {
  return decodePacket(packet.finish()).map((m) =>
    m.type === 'alive' ? `${m.name}#${m.incarnation}` : m.type,
  );
}

describe('broadcast queue', () => {
  it('sends the node own messages before any relay (moby #50193)', () => {
    const q = new BroadcastQueue(100);
    for (let i = 0; i < 50; i++) q.enqueue(`relay-${i}`, alive(`relay-${i}`), false);
    q.enqueue('me', alive('me'), true);
    const packet = new PacketBuilder(60);
    q.fill(packet, 10);
    expect(names(packet)[0]).toBe('me#0');
  });

  it('lets relays fill what the own messages leave of the packet', () => {
    const q = new BroadcastQueue(100);
    q.enqueue('me', alive('me'), true);
    q.enqueue('other', alive('other'), false);
    const packet = new PacketBuilder(1400);
    q.fill(packet, 10);
    expect(names(packet)).toEqual(['me#0', 'other#0']);
  });

  it('replaces an older message with the same key', () => {
    const q = new BroadcastQueue(100);
    q.enqueue('x', alive('x', 1), false);
    q.enqueue('x', alive('x', 2), false);
    expect(q.size).toBe(1);
    const packet = new PacketBuilder(1400);
    q.fill(packet, 10);
    expect(names(packet)).toEqual(['x#2']);
  });

  it('sends a message at most its transmit limit of times, least-sent first', () => {
    const q = new BroadcastQueue(100);
    q.enqueue('a', alive('a'), false);
    let sends = 0;
    for (let i = 0; i < 10; i++) sends += q.fill(new PacketBuilder(1400), 4);
    expect(sends).toBe(4);
    expect(q.size).toBe(0);
  });

  it('is bounded, and drops the most-sent relays first', () => {
    const q = new BroadcastQueue(3);
    q.enqueue('old', alive('old'), false);
    q.fill(new PacketBuilder(1400), 10);
    q.enqueue('b', alive('b'), false);
    q.enqueue('c', alive('c'), false);
    expect(q.enqueue('d', alive('d'), false)).toBe(1);
    expect(q.size).toBe(3);
    expect(q.dropped).toBe(1);
    const packet = new PacketBuilder(1400);
    q.fill(packet, 10);
    expect(names(packet).sort()).toEqual(['b#0', 'c#0', 'd#0']);
  });
});
