import {
  BackendError,
  InvalidArgumentError,
  isKVError,
  type KVError,
  NotReachableError,
  PermissionDeniedError,
} from '../../store/errors.js';
import { ZkCode, zkCode } from './zk-client.js';

/** True when the request may not have reached the server, or its answer was lost. */
export function isConnectionError(err: unknown): boolean {
  const code = zkCode(err);
  return (
    code === ZkCode.CONNECTION_LOSS || code === ZkCode.SESSION_EXPIRED || code === ZkCode.OPERATION_TIMEOUT
  );
}

/**
 * A ZooKeeper failure the caller did not expect, as a KVError with a stable code and the
 * original as `cause`. KVErrors pass through unchanged.
 */
export function toKVError(err: unknown, what: string): KVError {
  if (isKVError(err)) return err;
  const code = zkCode(err);
  const detail = `${what}: ${(err as Error)?.message ?? String(err)}`;
  switch (code) {
    case ZkCode.CONNECTION_LOSS:
    case ZkCode.SESSION_EXPIRED:
    case ZkCode.OPERATION_TIMEOUT:
      return new NotReachableError(`ZooKeeper connection lost during ${detail}`, { cause: err });
    case ZkCode.NO_AUTH:
    case ZkCode.AUTH_FAILED:
      return new PermissionDeniedError(`ZooKeeper refused ${detail}`, { cause: err });
    case ZkCode.BAD_ARGUMENTS:
    case ZkCode.INVALID_ACL:
      return new InvalidArgumentError(`ZooKeeper rejected ${detail}`, { cause: err });
    default:
      return new BackendError(`ZooKeeper failed ${detail}`, { cause: err });
  }
}
