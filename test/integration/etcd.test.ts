/**
 * The whole Store contract on a real etcd server in a container: the conformance suite, opened
 * through `createStore('etcd://...')` so the registry wiring is proven too.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { runConformance } from '../../src/conformance/index.js';
import { createStore } from '../../src/index.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1 is set on purpose.
const dockerAvailable = await requireDocker();

describe.skipIf(!dockerAvailable)('etcd backend', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer('etcd');
  }, 300_000);

  afterAll(async () => {
    await server?.close();
  });

  runConformance({ name: 'etcd', open: () => createStore(`etcd://${server.endpoint}`) });
});
