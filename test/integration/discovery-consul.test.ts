/** Node discovery and leadership on a real Consul (sessions; TTL floor 20 s, expiry within 2 × TTL). */
import { afterAll, beforeAll, describe } from 'vitest';
import { createStore, type Store } from '../../src/index.js';
import { discoveryOnBackend } from '../discovery/backend-suite.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

const docker = await requireDocker();

describe.skipIf(!docker)('discovery on Consul', () => {
  let server: RunningServer;
  const open = (): Promise<Store> => createStore({ backend: 'consul', endpoints: [server.endpoint] });

  beforeAll(async () => {
    server = await startServer('consul');
  }, 300_000);
  afterAll(async () => {
    await server?.close();
  }, 60_000);

  // Consul invalidates a session up to 2 × its TTL after the last renewal (plus its lock delay).
  discoveryOnBackend({ open, expiryWithinMs: (ttlMs) => ttlMs * 2 + 30_000 });
});
