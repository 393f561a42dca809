/**
 * The whole Store contract on a real redis-server (a child process on a loopback port), opened
 * through `createStore('redis://...')` so the registry wiring is proven too.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { runConformance } from '../../src/conformance/index.js';
import { createStore } from '../../src/index.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

describe('redis backend', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedisServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  // connectTimeoutMs is also every call's deadline: the rule at maxValueBytes (16 MiB through a
  // Lua script) took ~6 s with both cores busy, past the 5 s default.
  runConformance({
    name: 'redis',
    open: () => createStore(`redis://${server.endpoint}?connectTimeoutMs=60000`),
  });
});
