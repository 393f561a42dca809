/** Names the server does not own go to real upstreams (dnsmasq on loopback); names it owns never do. */
import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Forwarder, MAX_IN_FLIGHT, parseUpstreams } from '../../../src/discovery/dns/forwarder.js';
import { isKVError, startDnsServer } from '../../../src/index.js';
import { bare, DnsFixture, Dnsmasq, ipsOf } from './support.js';

describe('forwarding to upstream servers', () => {
  let upstream: Dnsmasq;
  let blackhole: Socket;
  let silent: string;
  let f: DnsFixture;
  let webVip: string;

  beforeAll(async () => {
    upstream = await Dnsmasq.start([
      '/example.test/192.0.2.7',
      '/nx.test/', // dnsmasq answers NXDOMAIN for this domain
      '/web/192.0.2.99', // would answer our own names, were they forwarded
      '/web/2001:db8::99',
    ]);
    // An upstream that swallows queries: bound by us, never answering.
    blackhole = createSocket('udp4');
    await new Promise<void>((resolve) => blackhole.bind(0, '127.0.0.1', resolve));
    silent = `127.0.0.1:${blackhole.address().port}`;
    f = await DnsFixture.start({ upstream: [silent, upstream.address] }, async (net) => {
      await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
      await net.createService({ name: 'web', networks: ['front'], replicas: 0 });
      await net.allocate();
    });
    webVip = bare((await f.net.inspectService('web')).virtualIps[0].addr);
  }, 60_000);
  afterAll(async () => {
    await f?.close();
    blackhole?.close();
    await upstream?.stop();
  });

  it('a name it does not own is answered by the upstream, after the one before it timed out', async () => {
    const answer = await f.dig('www.example.test', '+time=8');
    expect(answer.status).toBe('NOERROR');
    expect(ipsOf(answer)).toEqual(['192.0.2.7']);
    expect(answer.flags).toContain('ra');
  });

  it('over TCP when the client asks over TCP', async () => {
    expect(ipsOf(await f.dig('tcp.example.test', '+tcp', '+time=8'))).toEqual(['192.0.2.7']);
  });

  it('the upstream’s NXDOMAIN is passed through, not turned into SERVFAIL (moby#45553)', async () => {
    expect((await f.dig('gone.nx.test', '+time=8')).status).toBe('NXDOMAIN');
  });

  it('its own names are answered from the store, never forwarded', async () => {
    expect(ipsOf(await f.dig('web'))).toEqual([webVip]);
  });

  it('AAAA for its IPv4-only name is empty, not forwarded (moby#35118)', async () => {
    const answer = await f.dig('web', 'AAAA');
    expect(answer.status).toBe('NOERROR');
    expect(answer.answers).toEqual([]);
  });
});

describe('when every upstream fails', () => {
  it('a name it does not own is SERVFAIL, and one it owns still answers', async () => {
    const blackhole = createSocket('udp4');
    await new Promise<void>((resolve) => blackhole.bind(0, '127.0.0.1', resolve));
    const f = await DnsFixture.start({ upstream: [`127.0.0.1:${blackhole.address().port}`] }, async (net) => {
      await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
      await net.createService({ name: 'web', networks: ['front'], replicas: 0 });
      await net.allocate();
    });
    try {
      expect((await f.dig('www.example.test', '+time=6')).status).toBe('SERVFAIL');
      const own = await f.dig('web');
      expect(own.status).toBe('NOERROR');
      expect(own.answers).toHaveLength(1);
    } finally {
      await f.close();
      blackhole.close();
    }
  });
});

describe('upstream options', () => {
  it('more than 3 upstreams is INVALID_ARGUMENT', async () => {
    const err = await startDnsServer({
      feed: async function* () {},
      listen: '127.0.0.1:0',
      upstream: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3', '127.0.0.1:4'],
    }).catch((e) => e);
    expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe('the forwarding bound (libnetwork#2082)', () => {
  it('beyond the queries in flight a query is refused at once, while the others still wait on the upstream', async () => {
    expect(MAX_IN_FLIGHT).toBe(1024); // libnetwork resolver.go's bound, what the server uses
    const blackhole = createSocket('udp4');
    await new Promise<void>((resolve) => blackhole.bind(0, '127.0.0.1', resolve));
    const forwarder = new Forwarder(parseUpstreams([`127.0.0.1:${blackhole.address().port}`]), {
      maxInFlight: 2,
    });
    try {
      const query = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'x.example' }] });
      const question = query.subarray(12);
      // Started in one tick: the two waiting forwards hold their places whatever the machine's speed.
      const waiting = [forwarder.forward(query, question, 'udp'), forwarder.forward(query, question, 'udp')];
      const third = forwarder.forward(query, question, 'udp');
      expect(forwarder.inFlight).toBe(2);
      expect(await third).toEqual({ kind: 'busy' });
      forwarder.close();
      expect(await Promise.all(waiting)).toEqual([{ kind: 'failed' }, { kind: 'failed' }]);
      expect(forwarder.inFlight).toBe(0);
    } finally {
      forwarder.close();
      blackhole.close();
    }
  });
});
