import { resolveMaxValueBytes } from '../../store/limits.js';
import type { Store, StoreOptions } from '../../store/types.js';
import { ConsulConnection } from './connection.js';
import { CONSUL_MAX_VALUE_BYTES, ConsulStore } from './consul-store.js';

export { ConsulStore };

/**
 * `consul://host:port[,host:port]`: a store on Consul's KV. Resolves once a server answers with
 * a Raft leader; NOT_REACHABLE when none does within `connectTimeoutMs` (default 5000).
 * Options used: endpoints, prefix, token (ACL), tls (https with ca/cert/key), connectTimeoutMs,
 * maxValueBytes (default 512 KiB, Consul's limits.kv_max_value_size; raise both together).
 */
export async function openConsulStore(options: StoreOptions): Promise<Store> {
  const maxValueBytes = resolveMaxValueBytes(options.maxValueBytes, CONSUL_MAX_VALUE_BYTES);
  const conn = new ConsulConnection({
    endpoints: options.endpoints,
    token: options.token,
    tls: options.tls,
    connectTimeoutMs: options.connectTimeoutMs,
  });
  try {
    await conn.waitForLeader();
  } catch (err) {
    conn.close();
    throw err;
  }
  return new ConsulStore(conn, options.prefix, maxValueBytes);
}
