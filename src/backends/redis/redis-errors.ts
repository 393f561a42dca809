import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
} from '@redis/client';
import {
  BackendError,
  InvalidArgumentError,
  KVError,
  NotReachableError,
  PermissionDeniedError,
} from '../../store/errors.js';

/** Node socket and TLS failures: the server was never reached (or the link went). */
const TRANSPORT_CODES =
  /^(E[A-Z]+|ERR_TLS_\w+|ERR_SSL_\w+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_\w+|CERT_\w+)$/;

/** node-redis errors that mean "no usable connection". */
const CONNECTION_ERRORS = [
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
];

/** The first word of a Redis error reply (`WRONGPASS`, `NOPERM`, `READONLY`, ...). */
export function replyCode(err: unknown): string | undefined {
  return err instanceof ErrorReply ? /^[A-Z]+/.exec(err.message)?.[0] : undefined;
}

/** True when the error says this connection cannot serve (down, closed, not a primary). */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof KVError) return err.code === 'NOT_REACHABLE';
  if (CONNECTION_ERRORS.some((type) => err instanceof type)) return true;
  const e = err as { code?: unknown };
  if (typeof e?.code === 'string' && TRANSPORT_CODES.test(e.code)) return true;
  const code = replyCode(err);
  // LOADING: the server is reading its dataset after a restart; READONLY: it is a replica now.
  return code === 'LOADING' || code === 'READONLY' || code === 'MASTERDOWN';
}

/**
 * Maps an error of node-redis or of a socket onto the contract's errors, keeping it as `cause`.
 * `what` names the call (and the endpoint) for the message; `redact` takes the secrets out of
 * the message before the error (and its stack) is made.
 */
export function toKVError(err: unknown, what: string, redact: (text: string) => string = (t) => t): KVError {
  if (err instanceof KVError) return err;
  const detail = redact(`${what}: ${(err as Error)?.message ?? String(err)}`);
  const options = { cause: err };
  if (isConnectionError(err)) return new NotReachableError(`redis ${detail}`, options);
  const code = replyCode(err);
  if (code === 'NOAUTH' || code === 'WRONGPASS' || code === 'NOPERM') {
    return new PermissionDeniedError(`redis refused ${detail}`, options);
  }
  if (code === 'WRONGTYPE') {
    return new InvalidArgumentError(`redis ${detail} (the key holds data kvkit did not write)`, options);
  }
  return new BackendError(`redis failed ${detail}`, options);
}
