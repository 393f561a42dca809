import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type Gossip, queryGossipMember, startGossip } from '../../src/gossip/index.js';
import { Keyring } from '../../src/gossip/runtime/keyring.js';
import { eventually } from './member-processes.js';

const T = 'endpoint_table';
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const addr = (g: Gossip): string => `127.0.0.1:${g.address.port}`;
/** Faster probes for in-process tests; the multi-process test runs the defaults. */
const config = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50 };

/** A second member `b` on network `net` with one entry `k` that `a` already shows. */
async function memberWithEntry(a: Gossip): Promise<Gossip> {
  const b = await startGossip({ name: 'b', bind: '127.0.0.1:0', join: [addr(a)], config });
  await a.joinNetwork('net');
  await b.joinNetwork('net');
  await b.setEntry('net', T, 'k', bytes('v'));
  await eventually('a has the entry', async () => a.getEntry('net', T, 'k') !== null);
  return b;
}

describe('gossip runtime (one process, loopback)', () => {
  it('joins, spreads an entry to a watcher, and serves the CLI query', async () => {
    const key = randomBytes(32);
    await using a = await startGossip({
      name: 'a',
      bind: '127.0.0.1:0',
      keys: [key],
      config,
      logger: () => {},
    });
    await using b = await startGossip({
      name: 'b',
      bind: '127.0.0.1:0',
      keys: [key],
      join: [addr(a)],
      config,
    });
    await a.joinNetwork('net');
    await b.joinNetwork('net');
    const watch = b.watch('net', T)[Symbol.asyncIterator]();
    await a.setEntry('net', T, 'web.1', bytes('10.0.0.1'));
    const created = await watch.next();
    expect(created.value).toEqual({ type: 'create', key: 'web.1', value: bytes('10.0.0.1'), owner: 'a' });
    await a.deleteEntry('net', T, 'web.1');
    expect((await watch.next()).value).toMatchObject({
      type: 'delete',
      key: 'web.1',
      value: null,
      owner: 'a',
    });
    expect(
      b
        .members()
        .map((m) => [m.name, m.state])
        .sort(),
    ).toEqual([
      ['a', 'alive'],
      ['b', 'alive'],
    ]);
    const listed = (await queryGossipMember(addr(a), { what: 'members', keys: [key] })) as { name: string }[];
    expect(listed.map((m) => m.name).sort()).toEqual(['a', 'b']);
    await expect(
      queryGossipMember(addr(a), { what: 'members', keys: [randomBytes(32)] }),
    ).rejects.toMatchObject({
      code: 'NOT_REACHABLE',
    });
  });

  it('close without leave looks like a crash: the member is dead and its entries hidden', async () => {
    await using a = await startGossip({ name: 'a', bind: '127.0.0.1:0', config });
    const b = await memberWithEntry(a);
    await b.close();
    await eventually('a sees b dead', async () => a.members().find((m) => m.name === 'b')?.state === 'dead');
    expect(a.getEntry('net', T, 'k')).toBeNull();
    expect(a.networks()[0]).toMatchObject({ hidden: 1 });
  });

  it('leave tells the others: the member is left and its entries are gone', async () => {
    await using a = await startGossip({ name: 'a', bind: '127.0.0.1:0', config });
    const b = await memberWithEntry(a);
    await b.leave();
    await eventually('a sees b left', async () => a.members().find((m) => m.name === 'b')?.state === 'left');
    expect(a.networks()[0]).toMatchObject({ entries: 0, hidden: 0 });
    await expect(b.setEntry('net', T, 'k', bytes('v'))).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('aborting the signal makes the member leave', async () => {
    await using a = await startGossip({ name: 'a', bind: '127.0.0.1:0', config });
    const stop = new AbortController();
    await startGossip({ name: 'b', bind: '127.0.0.1:0', join: [addr(a)], config, signal: stop.signal });
    stop.abort();
    await eventually('a sees b left', async () => a.members().find((m) => m.name === 'b')?.state === 'left');
  });

  it('refuses a join that reaches nobody, bad options and bad keys with typed errors', async () => {
    await using a = await startGossip({ name: 'a', bind: '127.0.0.1:0' });
    const port = a.address.port;
    await a.close();
    await expect(
      startGossip({ name: 'b', bind: '127.0.0.1:0', join: [`127.0.0.1:${port}`], joinTimeoutMs: 5000 }),
    ).rejects.toMatchObject({ code: 'NOT_REACHABLE' });
    await expect(startGossip({ name: '', bind: '127.0.0.1:0' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(startGossip({ name: 'x', bind: 'nonsense:port' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      startGossip({ name: 'x', bind: '127.0.0.1:0', keys: [new Uint8Array(7)] }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(startGossip({ name: 'x', bind: '0.0.0.0:0' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('survives hostile datagrams and stream frames on its port, and reports them', async () => {
    const lines: string[] = [];
    await using a = await startGossip({
      name: 'a',
      bind: '127.0.0.1:0',
      keys: [randomBytes(16)],
      logger: (l) => lines.push(l),
    });
    const udp = createSocket('udp4');
    for (let i = 0; i < 200; i++) udp.send(randomBytes(1 + (i % 1500)), a.address.port, '127.0.0.1');
    udp.send(new Keyring().seal(bytes('plain')), a.address.port, '127.0.0.1');
    // A TCP frame announcing 4 GB, then garbage.
    const tcp = connect(a.address.port, '127.0.0.1');
    await new Promise<void>((resolve) => tcp.once('connect', () => resolve()));
    tcp.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await new Promise<void>((resolve) => tcp.once('close', () => resolve()));
    await eventually('hostile input counted', async () => a.stats().refused > 100);
    udp.close();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(20);
    expect(lines.join('\n')).not.toMatch(/[0-9a-f]{32}/);
    expect(a.members()).toHaveLength(1);
  });

  it('ends a watcher when its signal aborts and when the member closes', async () => {
    const a = await startGossip({ name: 'a', bind: '127.0.0.1:0' });
    await a.joinNetwork('net');
    const stop = new AbortController();
    const stopped = a.watch('net', T, { signal: stop.signal })[Symbol.asyncIterator]();
    stop.abort();
    expect(await stopped.next()).toMatchObject({ done: true });
    const open = a.watch('net', T)[Symbol.asyncIterator]();
    await a.close();
    expect(await open.next()).toMatchObject({ done: true });
  });
});
