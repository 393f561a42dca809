import { type Endpoint, parseEndpoints } from '../../store/endpoints.js';
import { InvalidArgumentError } from '../../store/errors.js';
import { resolveMaxValueBytes } from '../../store/limits.js';
import type { StoreOptions, TlsOptions } from '../../store/types.js';

export const DEFAULT_REDIS_PORT = 6379;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/**
 * Redis itself takes values up to 512 MB (`proto-max-bulk-len`), but every read, watch and list
 * holds whole values in memory on both sides: 16 MiB keeps one value from being a memory hazard.
 */
export const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024;

/** A store's options; `backend: 'rediss'` (the `rediss://` scheme) turns TLS on with the system CAs. */
export type RedisStoreOptions = StoreOptions;

/** Everything a connection needs, checked. */
export interface RedisSettings {
  endpoints: Endpoint[];
  tls: TlsOptions | undefined;
  username: string | undefined;
  password: string | undefined;
  /** Open (across all endpoints) and each reconnect attempt must succeed within this. */
  connectTimeoutMs: number;
  /** A command that has no answer after this gives TIMEOUT (and the connection is replaced). */
  requestTimeoutMs: number;
  maxValueBytes: number;
  prefix: string | undefined;
}

/**
 * The settings of a store from its options, or INVALID_ARGUMENT before any I/O: endpoints are
 * `host:port` (default port 6379), `tls` (or a `rediss://` URL) turns on TLS, `username`/`password`
 * authenticate (Redis 6 ACL; a password alone is the `default` user, as `requirepass`).
 */
export function redisSettings(options: RedisStoreOptions): RedisSettings {
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (typeof connectTimeoutMs !== 'number' || !Number.isFinite(connectTimeoutMs) || connectTimeoutMs <= 0) {
    throw new InvalidArgumentError(
      `connectTimeoutMs must be a positive number, got ${String(connectTimeoutMs)}`,
    );
  }
  if (options.token !== undefined) {
    throw new InvalidArgumentError(
      'the redis backend authenticates with username and password (ACL) or a password alone, not a token',
    );
  }
  if (options.username !== undefined && options.password === undefined) {
    throw new InvalidArgumentError('redis ACL auth needs a password with the username');
  }
  const maxValueBytes = resolveMaxValueBytes(options.maxValueBytes, DEFAULT_MAX_VALUE_BYTES);
  const tls = options.tls ?? (options.backend === 'rediss' ? {} : undefined);
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    throw new InvalidArgumentError('tls.cert and tls.key go together (client certificate auth)');
  }
  return {
    endpoints: parseEndpoints(options.endpoints, DEFAULT_REDIS_PORT),
    tls,
    username: options.username,
    password: options.password,
    connectTimeoutMs,
    requestTimeoutMs: connectTimeoutMs,
    maxValueBytes,
    prefix: options.prefix,
  };
}
