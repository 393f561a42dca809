/** Node discovery and leadership on a real ZooKeeper (ephemeral znodes in sessions). */
import { afterAll, beforeAll, describe } from 'vitest';
import { createStore, type Store } from '../../src/index.js';
import { discoveryOnBackend } from '../discovery/backend-suite.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

const docker = await requireDocker();

describe.skipIf(!docker)('discovery on ZooKeeper', () => {
  let server: RunningServer;
  const open = (): Promise<Store> => createStore({ backend: 'zk', endpoints: [server.endpoint] });

  beforeAll(async () => {
    server = await startServer('zookeeper');
  }, 300_000);
  afterAll(async () => {
    await server?.close();
  }, 60_000);

  discoveryOnBackend({ open, expiryWithinMs: (ttlMs) => ttlMs * 3 + 10_000 });
});
