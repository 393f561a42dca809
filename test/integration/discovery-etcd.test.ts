/** Node discovery and leadership on a real etcd; a heartbeat keeps ONE lease alive (no lease per beat). */
import { Etcd3 } from 'etcd3';
import { expect, it } from 'vitest';
import { delay } from '../../src/conformance/helpers.js';
import { openDiscovery } from '../../src/index.js';
import { describeDiscoveryOn } from '../discovery/backend-suite.js';

describeDiscoveryOn(
  'etcd',
  'etcd',
  (ttlMs) => ttlMs * 3 + 10_000,
  (server, open) => {
    it('heartbeats keep one lease alive: the same lease holds the key beat after beat', async () => {
      await using store = await open();
      const raw = new Etcd3({ hosts: `http://${server().endpoint}` });
      try {
        const leaseOf = async () => (await raw.get('docker/nodes/10.1.9.1:2375').exec()).kvs[0]?.lease;
        const leaseIds = async () => (await raw.leaseClient.leaseLeases()).leases.map((l) => String(l.ID));
        const before = new Set(await leaseIds());
        await using disco = openDiscovery(store);
        await using _reg = await disco.register('10.1.9.1:2375', { heartbeatMs: 500, ttlMs: 3000 });
        const first = await leaseOf();
        expect(first).toBeDefined();
        expect(first).not.toBe('0');
        await delay(5000); // several keep-alive periods (TTL/3) and heartbeats
        expect(await leaseOf()).toBe(first);
        // Leases granted meanwhile: only the registration's own.
        expect((await leaseIds()).filter((id) => !before.has(id))).toEqual([first]);
      } finally {
        raw.close();
      }
    }, 60_000);
  },
);
