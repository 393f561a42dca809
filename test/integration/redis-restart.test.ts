/**
 * Redis going away under a live store, on the container of the integration project (the cases
 * are test/backends/redis-outages.ts, which the unit tests run on a redis-server process too).
 */
import { describe } from 'vitest';
import { redisOutageCases } from '../backends/redis-outages.js';
import { useServer } from './server-fixture.js';
import { requireDocker } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const dockerAvailable = await requireDocker();

describe.skipIf(!dockerAvailable)('redis backend across server restarts and outages', () => {
  const redis = useServer('redis', 'redis');
  redisOutageCases(redis.server, redis.open);
});
