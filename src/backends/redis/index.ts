import type { Store } from '../../store/types.js';
import { RedisConnection } from './connection.js';
import { type RedisStoreOptions, redisSettings } from './options.js';
import { RedisStore } from './redis-store.js';

export { RedisLock } from './redis-lock.js';
export type { RedisStoreOptions };
export { RedisStore };

/**
 * `redis://host:port[,host:port]` (`rediss://` for TLS): a store on a Redis primary (Redis 6+,
 * standalone or a primary with replicas; not Redis Cluster). Resolves once a primary answers;
 * NOT_REACHABLE when none does within `connectTimeoutMs` (default 5000), PERMISSION_DENIED when
 * it refuses the credentials. Options used: endpoints, prefix, username/password (ACL), tls,
 * connectTimeoutMs, maxValueBytes.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<Store> {
  const settings = redisSettings(options);
  const conn = await RedisConnection.open(settings);
  return new RedisStore(conn, settings);
}
