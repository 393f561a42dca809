import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BroadcastQueue } from '../../src/gossip/core/broadcast-queue.js';
import { GOSSIP_DEFAULTS } from '../../src/gossip/core/config.js';
import { GossipCore } from '../../src/gossip/core/core.js';
import { MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_VALUE_BYTES } from '../../src/gossip/core/limits.js';
import {
  decodePacket,
  encodeMessage,
  PacketBuilder,
  type PacketMsg,
  TABLE_EVENT_MAX_BYTES,
} from '../../src/gossip/core/messages.js';
import { decodeAnswer, decodeRequest, encodeAnswer, encodeRequest } from '../../src/gossip/core/streams.js';
import { ENCRYPTION_OVERHEAD_BYTES } from '../../src/gossip/sim/network.js';
import { bytes, startCluster } from './harness.js';

const printable = (s: string): boolean =>
  [...s].every((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f);
const name = fc.string({ minLength: 1, maxLength: 20 }).filter(printable);

const message: fc.Arbitrary<PacketMsg> = fc.oneof(
  fc.record({
    type: fc.constant('ping' as const),
    seq: fc.nat(),
    target: name,
    source: name,
    sourceAddr: name,
  }),
  fc.record({ type: fc.constant('ack' as const), seq: fc.nat() }),
  fc.record({ type: fc.constant('alive' as const), name, addr: name, incarnation: fc.nat() }),
  fc.record({ type: fc.constant('suspect' as const), name, incarnation: fc.nat(), from: name }),
  fc.record({
    type: fc.constant('network' as const),
    node: name,
    network: name,
    ltime: fc.nat(),
    leaving: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('table' as const),
    network: name,
    table: name,
    key: fc.string({ minLength: 1, maxLength: 200 }).filter(printable),
    owner: name,
    ltime: fc.nat(),
    deleted: fc.constant(false),
    residualMs: fc.constant(0),
    value: fc.uint8Array({ maxLength: MAX_VALUE_BYTES }),
  }),
);

describe('gossip wire format', () => {
  it('every message survives an encode/decode round trip', () => {
    fc.assert(
      fc.property(message, (msg) => {
        const packet = new PacketBuilder(65_000);
        packet.add(encodeMessage(msg));
        expect(decodePacket(packet.finish())).toEqual([msg]);
      }),
    );
  });

  it('a packet never exceeds its byte budget, however the queue is filled', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(message, fc.boolean()), { maxLength: 60 }),
        fc.integer({ min: 512, max: 1400 }),
        (msgs, budget) => {
          const queue = new BroadcastQueue(1000);
          for (const [i, [msg, own]] of msgs.entries()) queue.enqueue(String(i), encodeMessage(msg), own);
          for (let round = 0; round < 5; round++) {
            const packet = new PacketBuilder(budget);
            queue.fill(packet, 3);
            const out = packet.finish();
            expect(out.byteLength).toBeLessThanOrEqual(budget);
            if (packet.count > 0) expect(decodePacket(out)).toHaveLength(packet.count);
          }
        },
      ),
    );
  });

  it('the largest table event the limits allow fits one 1,400-byte packet after encryption', () => {
    const longest = 'n'.repeat(MAX_NAME_BYTES);
    const msg = encodeMessage({
      type: 'table',
      network: longest,
      table: longest,
      key: 'k'.repeat(MAX_KEY_BYTES),
      owner: longest,
      ltime: Number.MAX_SAFE_INTEGER,
      deleted: false,
      residualMs: 0,
      value: new Uint8Array(MAX_VALUE_BYTES),
    });
    expect(msg.byteLength).toBeLessThanOrEqual(TABLE_EVENT_MAX_BYTES);
    expect(1 + TABLE_EVENT_MAX_BYTES).toBeLessThanOrEqual(GOSSIP_DEFAULTS.packetBudgetBytes);
    expect(GOSSIP_DEFAULTS.packetBudgetBytes + ENCRYPTION_OVERHEAD_BYTES).toBe(1400);
  });

  it('every packet a busy cluster sends stays under 1,400 bytes once encrypted', () => {
    const t = startCluster({ nodes: 8, networksOf: () => ['net'] });
    let largest = 0;
    const send = t.cluster.network.sendPacket.bind(t.cluster.network);
    t.cluster.network.sendPacket = (from, to, b) => {
      largest = Math.max(largest, b.byteLength + ENCRYPTION_OVERHEAD_BYTES);
      send(from, to, b);
    };
    for (let i = 0; i < 400; i++) {
      const node = `node-${1 + (i % 8)}`;
      t.on(node, (c, now) =>
        c.setEntry(
          now,
          'net',
          'endpoint_table',
          `key-${i}`,
          new Uint8Array(1 + ((i * 37) % MAX_VALUE_BYTES)),
        ),
      );
    }
    t.run(10_000);
    expect(largest).toBeGreaterThan(1000);
    expect(largest).toBeLessThanOrEqual(1400);
  });

  it('stream requests and answers survive a round trip', () => {
    const req = {
      kind: 'sync' as const,
      network: 'n',
      from: 'a',
      bucketCount: 4,
      hashes: Uint32Array.from([1, 2, 3, 4]),
    };
    expect(decodeRequest(encodeRequest(req))).toEqual(req);
    const answer = {
      kind: 'sync' as const,
      status: 'ok' as const,
      bucketCount: 4,
      hashes: new Uint32Array(0),
      complete: [1, 3],
      more: true,
      records: [
        { table: 't', key: 'k', owner: 'a', ltime: 3, deleted: true, residualMs: 1234, value: null },
        { table: 't', key: 'j', owner: 'b', ltime: 4, deleted: false, residualMs: 0, value: bytes('v') },
      ],
    };
    expect(decodeAnswer(encodeAnswer(answer))).toEqual(answer);
    const ping = { kind: 'ping' as const, target: 'node-7', from: 'node-1' };
    expect(decodeRequest(encodeRequest(ping))).toEqual(ping);
    expect(decodeAnswer(encodeAnswer({ kind: 'ping', name: 'node-7' }))).toEqual({
      kind: 'ping',
      name: 'node-7',
    });
  });

  it('hostile packets and stream frames never throw and are reported', () => {
    const core = new GossipCore({ name: 'target', addr: '10.0.0.1:7946', seed: 1, now: 0 });
    const valid = new PacketBuilder(1400);
    valid.add(encodeMessage({ type: 'alive', name: 'x', addr: 'y:1', incarnation: 1 }));
    const validBytes = valid.finish();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), (noise, at) => {
        const mutated = validBytes.slice();
        mutated[at % mutated.length] ^= noise[0] ?? 0xff;
        expect(() => core.handlePacket(1, 'evil:1', noise)).not.toThrow();
        expect(() => core.handlePacket(1, 'evil:1', mutated)).not.toThrow();
        expect(() => core.handleStream(1, 'evil:1', noise)).not.toThrow();
        expect(() => core.streamAnswer(1, 1, noise)).not.toThrow();
      }),
    );
    const out = core.takeOutput();
    expect(core.stats().malformed).toBeGreaterThan(0);
    // Reports are rate-limited: far fewer warnings than malformed inputs.
    const warnings = out.events.filter((e) => e.kind === 'warning');
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.length).toBeLessThan(core.stats().malformed);
  });
});
