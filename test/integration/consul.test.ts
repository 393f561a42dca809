/**
 * The whole Store contract on a real Consul agent in a container: the conformance suite, opened
 * through `createStore('consul://...')` so the registry wiring is proven too. Consul's TTL floor
 * (20 s for a key, see docs/backends/consul.md) makes its TTL and lock rules the slow part.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { runConformance } from '../../src/conformance/index.js';
import { createStore } from '../../src/index.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const dockerAvailable = await requireDocker();

describe.skipIf(!dockerAvailable)('consul backend', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer('consul');
  }, 300_000);

  afterAll(async () => {
    await server?.close();
  });

  runConformance({ name: 'consul', open: () => createStore(`consul://${server.endpoint}`) });
});
