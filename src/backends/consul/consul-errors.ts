import {
  BackendError,
  InvalidArgumentError,
  KVError,
  NotReachableError,
  PermissionDeniedError,
} from '../../store/errors.js';

/** The shape of errors thrown by the `consul` client (papi) and by Node's sockets. */
interface ClientError {
  code?: string;
  message?: string;
  isTimeout?: boolean;
  isAbort?: boolean;
  response?: { statusCode?: number; body?: unknown };
}

/** Socket failures that happen before a request reaches a server: always safe to retry elsewhere. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** The HTTP status of a client error, when the server answered. */
export function statusOf(err: unknown): number | undefined {
  return (err as ClientError)?.response?.statusCode;
}

/** The server's answer body of a client error, when it answered. */
export function bodyOf(err: unknown): unknown {
  return (err as ClientError)?.response?.body;
}

/** True when no server saw the request, so it may go to another endpoint even if it writes. */
export function neverSent(err: unknown): boolean {
  const e = err as ClientError;
  return (e?.code !== undefined && NEVER_SENT.has(e.code)) || isNoLeader(err);
}

/**
 * True when the endpoint could not serve the call (down, cut off, timed out, no leader): the
 * call maps to NOT_REACHABLE and another endpoint may serve it.
 */
export function isUnreachable(err: unknown): boolean {
  const e = err as ClientError;
  if (neverSent(err) || e?.isTimeout) return true;
  const status = statusOf(err);
  // Errors with a code and no HTTP answer come from the transport: DNS, TCP or TLS.
  if (status === undefined) return typeof e?.code === 'string' || /socket hang up/i.test(e?.message ?? '');
  return status === 502 || status === 503 || status === 504;
}

/** Consul answers 500 with these while it has no leader (or is losing one): nothing was applied. */
function isNoLeader(err: unknown): boolean {
  if (statusOf(err) !== 500) return false;
  return /no cluster leader|no leader|not ready to serve consistent reads/i.test(String(bodyOf(err) ?? ''));
}

/** Maps an error that is not "unreachable" to the contract's errors. */
export function toKVError(err: unknown, what: string): Error {
  if (err instanceof KVError) return err;
  const status = statusOf(err);
  const body = typeof bodyOf(err) === 'string' ? String(bodyOf(err)).trim() : '';
  if (status === 403) {
    return new PermissionDeniedError(`consul ${what}: permission denied (check the ACL token)`, {
      cause: err,
    });
  }
  if (status === 413) {
    return new InvalidArgumentError(
      `consul ${what}: the server refused the request as too large (${body}); raise the agent's ` +
        'limits.kv_max_value_size and limits.txn_max_req_len (kvkit writes through /v1/txn, values base64-encoded)',
      { cause: err },
    );
  }
  if (status !== undefined) {
    return new BackendError(`consul ${what}: HTTP ${status} ${body}`.trim(), { cause: err });
  }
  return new NotReachableError(`consul ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
