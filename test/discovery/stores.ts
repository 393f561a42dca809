import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalCluster, startLocalCluster } from '../../src/index.js';
import { type StoreFactory, storeFactories } from '../network-state/stores.js';

/** An embedded 3-node Raft cluster in this process; the store is the leader's. */
const raft: StoreFactory = {
  name: 'raft',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-discovery-raft-'));
    let cluster: LocalCluster | undefined;
    try {
      cluster = await startLocalCluster({ size: 3, dataDir: dir, logger: () => {} });
      const leader = await cluster.leader(30_000);
      const running = cluster;
      return {
        store: leader.store,
        reopen: async () => (running.nodes.find((n) => n !== leader) ?? leader).store,
        cleanup: async () => {
          await running.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      await cluster?.close();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  },
};

/** memory, local (when its backend is registered) and an embedded Raft cluster. */
export const discoveryStores: StoreFactory[] = [...storeFactories, raft];
