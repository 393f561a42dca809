/** `kvkit dns serve` as a process on a local:// store, answering what other processes create. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore, openNetworkState } from '../../../src/index.js';
import { KvkitProcess } from '../cli-process.js';
import { bare, dig, digUntil, ipsOf } from './support.js';

describe('kvkit dns serve', () => {
  let dir: string;
  const started: KvkitProcess[] = [];
  const kvkit = (...args: string[]) => {
    const p = new KvkitProcess([...args, '--store', `local://${dir}`]);
    started.push(p);
    return p;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kvkit-dns-cli-'));
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers, over UDP and TCP, a service another process creates; SIGINT stops it with exit 0', async () => {
    const created = kvkit('network', 'create', '--subnet', '10.9.0.0/24', 'mh_net');
    expect((await created.exited).code).toBe(0);
    const server = kvkit('dns', 'serve', '--listen', '127.0.0.1:0', '--ttl', '30');
    const line = await server.line(/^listening on /, 60_000);
    const port = Number(/^listening on 127\.0\.0\.1:(\d+)$/.exec(line)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect((await dig(port, 'web')).status).toBe('NXDOMAIN');

    const service = kvkit(
      'service',
      'create',
      '--name',
      'web',
      '--network',
      'mh_net',
      '--replicas',
      '2',
      'nginx',
    );
    expect((await service.exited).code).toBe(0);
    const store = await createStore(`local://${dir}`);
    try {
      const net = await openNetworkState(store);
      const vip = bare((await net.inspectService('web')).virtualIps[0].addr);
      const answer = await digUntil(port, (a) => a.status === 'NOERROR', ['web']);
      expect(answer.answers).toEqual([{ name: 'web.', ttl: 30, type: 'A', data: vip }]);
      expect(ipsOf(await dig(port, 'web', '+tcp'))).toEqual([vip]);
      await net.close();
    } finally {
      await store.close();
    }
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  }, 120_000);
});
