import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCFailedPreconditionError,
  GRPCInvalidArgumentError,
  GRPCOutOfRangeError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
  GRPCUnknownError,
} from 'etcd3';
import {
  BackendError,
  ClosedError,
  InvalidArgumentError,
  KVError,
  NotReachableError,
  PermissionDeniedError,
  TimeoutError,
} from '../../store/errors.js';

/**
 * Maps an error of the etcd3 client onto a kvkit error that keeps the original as `cause`.
 * `what` names the call for the message. A deadline means the outcome is unknown: TIMEOUT
 * (the open probe turns it into NOT_REACHABLE, since nothing was sent that could have applied).
 */
export function toKVError(err: unknown, what: string): KVError {
  if (err instanceof KVError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const options = { cause: err };
  if (err instanceof GRPCDeadlineExceededError) {
    return new TimeoutError(`etcd did not answer ${what} before the deadline`, options);
  }
  if (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCCancelledError ||
    (err instanceof GRPCUnknownError && /connect|socket|stream|ECONN/i.test(detail))
  ) {
    return new NotReachableError(`etcd is not reachable (${what}): ${detail}`, options);
  }
  if (err instanceof ClientClosedError) return new ClosedError();
  if (
    err instanceof EtcdPermissionDeniedError ||
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof GRPCUnauthenticatedError
  ) {
    return new PermissionDeniedError(`etcd refused ${what}: ${detail}`, options);
  }
  // etcd's answer to a call without credentials when auth is enabled.
  if (detail.includes('user name is empty')) {
    return new PermissionDeniedError(`etcd requires a username and password (${what}): ${detail}`, options);
  }
  if (
    err instanceof GRPCInvalidArgumentError ||
    err instanceof GRPCOutOfRangeError ||
    err instanceof GRPCFailedPreconditionError
  ) {
    return new InvalidArgumentError(`etcd rejected ${what}: ${detail}`, options);
  }
  return new BackendError(`etcd failed ${what}: ${detail}`, options);
}
