/** The server's life: start, address, close, listen errors, and records from a feed other than the store. */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { createStore, type DnsService, isKVError, startDnsServer } from '../../../src/index.js';
import { dig, ipsOf, resolverAt } from './support.js';

const feedOf = (lists: DnsService[][]) =>
  async function* feed(signal: AbortSignal) {
    for (const list of lists) yield list;
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  };

const web: DnsService = {
  id: 's1',
  name: 'web',
  endpointMode: 'dnsrr',
  vips: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  tasks: [{ id: 't1', slot: 1, addresses: [{ network: 'gossip_net', address: '10.0.9.4' }] }],
};

describe('startDnsServer', () => {
  it('answers from any feed of records, by the same rules (a gossip table later)', async () => {
    await using dns = await startDnsServer({ feed: feedOf([[web]]), listen: '127.0.0.1:0' });
    expect(ipsOf(await dig(dns.address.port, 'tasks.web.gossip_net'))).toEqual(['10.0.9.4']);
  });

  it('listens on one port for UDP and TCP and frees it on close', async () => {
    const dns = await startDnsServer({ feed: feedOf([[web]]), listen: '127.0.0.1:0' });
    const { port } = dns.address;
    expect(dns.address.host).toBe('127.0.0.1');
    expect(ipsOf(await dig(port, 'web', '+tcp'))).toEqual(['10.0.9.4']);
    await dns.close();
    await dns.close(); // idempotent
    await using again = await startDnsServer({ feed: feedOf([[web]]), listen: `127.0.0.1:${port}` });
    expect(await resolverAt(again.address.port).resolve4('web')).toEqual(['10.0.9.4']);
  });

  it('a port already taken is LISTEN_FAILED naming it', async () => {
    const taken = createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', resolve));
    const port = taken.address().port;
    try {
      const err = await startDnsServer({ feed: feedOf([[]]), listen: `127.0.0.1:${port}` }).catch((e) => e);
      expect(isKVError(err, 'LISTEN_FAILED')).toBe(true);
      expect(err.message).toContain(String(port));
    } finally {
      taken.close();
    }
  });

  it.each([
    ['a listen address that is no IP', { listen: 'localhost:53' }, 'LISTEN_FAILED'],
    ['a bad port', { listen: '127.0.0.1:70000' }, 'INVALID_ARGUMENT'],
    ['a negative TTL', { listen: '127.0.0.1:0', ttl: -1 }, 'INVALID_ARGUMENT'],
    [
      'an upstream that is no IP',
      { listen: '127.0.0.1:0', upstream: ['dns.example:53'] },
      'INVALID_ARGUMENT',
    ],
  ])('%s is refused', async (_what, opts, code) => {
    const err = await startDnsServer({ feed: feedOf([[]]), ...opts }).catch((e) => e);
    expect(isKVError(err, code)).toBe(true);
  });

  it('neither or both of store and feed is INVALID_ARGUMENT', async () => {
    const store = await createStore('memory:');
    try {
      for (const opts of [{}, { store, feed: feedOf([]) }]) {
        const err = await startDnsServer({ listen: '127.0.0.1:0', ...opts }).catch((e) => e);
        expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
      }
    } finally {
      await store.close();
    }
  });

  it('a feed that fails before its first records fails the start with that error', async () => {
    const err = await startDnsServer({
      // biome-ignore lint/correctness/useYield: a feed that fails at once
      feed: async function* () {
        throw Object.assign(new Error('store down'), { code: 'NOT_REACHABLE' });
      },
      listen: '127.0.0.1:0',
    }).catch((e) => e);
    expect(err.message).toBe('store down');
  });

  it('an upstream that is the server itself is refused', async () => {
    const probe = await startDnsServer({ feed: feedOf([[]]), listen: '127.0.0.1:0' });
    const port = probe.address.port;
    await probe.close();
    const err = await startDnsServer({
      feed: feedOf([[]]),
      listen: `127.0.0.1:${port}`,
      upstream: [`127.0.0.1:${port}`],
    }).catch((e) => e);
    expect(isKVError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});
