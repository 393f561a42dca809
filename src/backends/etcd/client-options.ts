import type { IOptions } from 'etcd3';
import { formatEndpoint, parseEndpoints } from '../../store/endpoints.js';
import { InvalidArgumentError } from '../../store/errors.js';
import type { StoreOptions, TlsOptions } from '../../store/types.js';
import { faultHandling } from './fault-policies.js';

export const DEFAULT_ETCD_PORT = 2379;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * The etcd3 client options for a store: every endpoint, TLS and password auth, a deadline on
 * every unary call (so a silent server gives an error, never a hang), and gRPC settings that
 * notice a dead connection and reconnect fast once the server is back.
 */
export function etcdClientOptions(options: StoreOptions): { client: IOptions; timeoutMs: number } {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidArgumentError(`connectTimeoutMs must be a positive number, got ${timeoutMs}`);
  }
  if (options.token !== undefined) {
    throw new InvalidArgumentError('the etcd backend authenticates with username and password, not a token');
  }
  const endpoints = parseEndpoints(options.endpoints, DEFAULT_ETCD_PORT).map(formatEndpoint);
  const scheme = options.tls ? 'https://' : 'http://';
  const client: IOptions = {
    hosts: endpoints.map((e) => scheme + e),
    defaultCallOptions: (call) => (call.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    faultHandling: faultHandling(endpoints.length),
    grpcOptions: {
      // Large lists of large values exceed gRPC's 4 MiB default.
      'grpc.max_receive_message_length': -1,
      // Reconnect within a second of a restarted server coming back.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      // Notice a dead peer on an open stream; etcd allows pings every 5 s by default.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': Math.max(timeoutMs, 1000),
      ...(options.tls?.servername ? { 'grpc.ssl_target_name_override': options.tls.servername } : {}),
    },
  };
  if (options.tls) client.credentials = credentials(options.tls);
  if (options.username !== undefined || options.password !== undefined) {
    if (!options.username) throw new InvalidArgumentError('etcd password auth needs a username');
    client.auth = { username: options.username, password: options.password ?? '' };
  }
  return { client, timeoutMs };
}

function credentials(tls: TlsOptions): IOptions['credentials'] {
  if (tls.rejectUnauthorized === false) {
    throw new InvalidArgumentError(
      'the etcd backend always verifies the server certificate; pass its CA as tls.ca instead',
    );
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new InvalidArgumentError('tls.cert and tls.key go together (client certificate auth)');
  }
  if (tls.ca === undefined && tls.cert === undefined) return undefined; // https:// hosts: system CAs
  return {
    // etcd3 types the CA as required, but gRPC takes null as "the system's roots".
    rootCertificate: tls.ca === undefined ? (null as unknown as Buffer) : Buffer.from(tls.ca),
    ...(tls.key === undefined ? {} : { privateKey: Buffer.from(tls.key) }),
    ...(tls.cert === undefined ? {} : { certChain: Buffer.from(tls.cert) }),
  };
}
