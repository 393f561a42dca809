/** Sizes, truncation, TCP, EDNS and hostile packets, through dig, Node's Resolver and raw sockets. */
import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAnswer } from '../../../src/discovery/dns/wire.js';
import { isKVError } from '../../../src/index.js';
import { DnsFixture, ipsOf, rawQuery, tcpExchange, udpExchange } from './support.js';

const RCODE_FORMERR = 1;
const RCODE_NOTIMP = 4;

describe('DNS on the wire', () => {
  let f: DnsFixture;
  let sixty: string[];

  beforeAll(async () => {
    f = await DnsFixture.start({}, async (net) => {
      await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
    });
    await f.service({ name: 'big', networks: ['front'], replicas: 60 });
    await f.service({ name: 'thirty', networks: ['front'], replicas: 30 });
    sixty = await f.runningAddresses('big');
    await f.digUntil((a) => ipsOf(a).length === 30, ['tasks.thirty', '+tcp']);
  }, 120_000);
  afterAll(async () => {
    await f?.close();
  });

  it('UDP without EDNS: as many of 60 answers as fit in 512 bytes, with TC set', async () => {
    const answer = await f.dig('tasks.big', '+noedns', '+ignore');
    expect(answer.flags).toContain('tc');
    expect(answer.bytes).toBeLessThanOrEqual(512);
    expect(answer.answers.length).toBeGreaterThan(0);
    expect(answer.answers.length).toBeLessThan(60);
    expect(ipsOf(answer).every((ip) => sixty.includes(ip))).toBe(true);
  });

  it('compressed owner names fit 30 A records in 512 bytes without truncation', async () => {
    const answer = await f.dig('tasks.thirty', '+noedns', '+ignore');
    expect(answer.flags).not.toContain('tc');
    expect(answer.answers).toHaveLength(30);
    expect(answer.bytes).toBeLessThanOrEqual(512);
  });

  it('TCP on the same port carries all 60 answers', async () => {
    expect(ipsOf(await f.dig('tasks.big', '+tcp'))).toEqual(sixty);
  });

  it('Node’s resolver (no EDNS) gets all 60 by retrying over TCP after TC', async () => {
    expect((await f.resolver().resolve4('tasks.big')).sort()).toEqual([...sixty].sort());
  });

  it('UDP with EDNS uses the client’s size: trimmed to it, TC set', async () => {
    const answer = await f.dig('tasks.big', '+bufsize=700', '+ignore');
    expect(answer.flags).toContain('tc');
    expect(answer.bytes).toBeLessThanOrEqual(700);
    expect(answer.answers.length).toBeGreaterThan(30);
  });

  it('the OPT record is echoed with the client’s size, capped at 4096', async () => {
    expect((await f.dig('tasks.big', '+bufsize=1232')).ednsUdp).toBe(1232);
    const large = await f.dig('tasks.big', '+bufsize=8192');
    expect(large.ednsUdp).toBe(4096);
    expect(large.answers).toHaveLength(60);
  });

  it('an unknown EDNS version is answered BADVERS', async () => {
    expect((await f.dig('tasks.big', '+edns=1', '+noednsnegotiation')).status).toBe('BADVERS');
  });

  it('TCP answers several queries on one connection', async () => {
    const q = (id: number, name: string) =>
      dnsPacket.encode({
        type: 'query',
        id,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type: 'A', name }],
      });
    const replies = await tcpExchange(
      f.port,
      [q(1, 'tasks.thirty'), q(2, 'thirty'), q(3, 'nothing.example')],
      3,
    );
    const decoded = replies.map((r) => dnsPacket.decode(r)).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    expect(decoded.map((d) => [d.id, d.answers?.length, (d as { rcode?: string }).rcode])).toEqual([
      [1, 30, 'NOERROR'],
      [2, 1, 'NOERROR'],
      [3, 0, 'NXDOMAIN'],
    ]);
  });

  it('a label over 63 octets is FORMERR', async () => {
    const reply = await udpExchange(f.port, rawQuery(['a'.repeat(64), 'example']));
    expect(reply && reply[3] & 0xf).toBe(RCODE_FORMERR);
    expect(reply?.readUInt16BE(0)).toBe(0x1234);
  });

  it('a name over 255 octets is FORMERR', async () => {
    const reply = await udpExchange(f.port, rawQuery(Array.from({ length: 5 }, () => 'b'.repeat(60))));
    expect(reply && reply[3] & 0xf).toBe(RCODE_FORMERR);
  });

  it('a packet whose header parses but whose question does not is FORMERR', async () => {
    const packet = Buffer.concat([rawQuery(['x']).subarray(0, 12), Buffer.from([5, 1, 2])]);
    const reply = await udpExchange(f.port, packet);
    expect(reply && reply[3] & 0xf).toBe(RCODE_FORMERR);
  });

  it('two questions in one query are FORMERR', async () => {
    const reply = await udpExchange(f.port, rawQuery(['thirty'], { qdcount: 2 }));
    expect(reply && reply[3] & 0xf).toBe(RCODE_FORMERR);
  });

  it('an opcode other than QUERY is NOTIMP', async () => {
    const reply = await udpExchange(f.port, rawQuery(['thirty'], { flags: 2 << 11 }));
    expect(reply && reply[3] & 0xf).toBe(RCODE_NOTIMP);
  });

  it('a packet shorter than a header, or a response, gets no reply', async () => {
    expect(await udpExchange(f.port, Buffer.from([1, 2, 3]), 500)).toBeNull();
    expect(await udpExchange(f.port, rawQuery(['thirty'], { flags: 0x8100 }), 500)).toBeNull();
  });

  it('random packets over UDP and TCP do not stop the server', async () => {
    const { createSocket } = await import('node:dgram');
    const socket = createSocket('udp4');
    for (let i = 0; i < 3000; i++) {
      const junk = randomBytes(1 + (i % 700));
      if (junk.length >= 12 && i % 3 === 0) junk.writeUInt16BE(1, 4); // one question: reach the decoder
      if (junk.length >= 12 && i % 2 === 0) junk[2] &= 0x07; // a query with opcode QUERY
      socket.send(junk, f.port, '127.0.0.1');
      if (i % 200 === 0) await new Promise((r) => setImmediate(r));
    }
    socket.close();
    const { connect } = await import('node:net');
    await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<void>((resolve) => {
            const c = connect(f.port, '127.0.0.1', () => {
              c.end(randomBytes(50 + i * 97));
            });
            c.on('error', () => resolve());
            c.on('close', () => resolve());
            c.resume();
          }),
      ),
    );
    expect((await f.resolver().resolve4('thirty')).length).toBe(1);
    expect(ipsOf(await f.dig('tasks.thirty', '+tcp'))).toHaveLength(30);
    expect(f.errors).toEqual([]);
  });
});

describe('the encoding layer over dns-packet', () => {
  it('refuses to encode a PTR target with a label over 63 octets', () => {
    const err = (() => {
      try {
        encodeAnswer({ type: 'PTR', ttl: 1, data: `${'a'.repeat(64)}.example.` });
      } catch (e) {
        return e;
      }
    })();
    expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('writes the owner as a 2-byte pointer to the question', () => {
    const rr = encodeAnswer({ type: 'A', ttl: 600, data: '10.0.0.1' });
    expect(rr.length).toBe(16);
    expect([...rr.subarray(0, 2)]).toEqual([0xc0, 0x0c]);
  });
});
