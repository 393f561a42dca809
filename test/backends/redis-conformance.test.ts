/**
 * The whole Store contract on a real redis-server (a child process on a loopback port).
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { openRedisStore } from '../../src/backends/redis/index.js';
import { runConformance } from '../../src/conformance/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

describe('redis backend', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedisServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  runConformance({
    name: 'redis',
    open: () => openRedisStore({ backend: 'redis' as never, endpoints: [server.endpoint] }),
  });
});
