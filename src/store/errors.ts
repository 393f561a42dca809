/** Stable codes of the store contract; `KVError.code` is one of these (or a subsystem's own). */
export type StoreErrorCode =
  | 'KEY_NOT_FOUND'
  | 'KEY_MODIFIED'
  | 'KEY_EXISTS'
  | 'PREVIOUS_NOT_SPECIFIED'
  | 'CALL_NOT_SUPPORTED'
  | 'BACKEND_NOT_SUPPORTED'
  | 'NOT_REACHABLE'
  | 'CANNOT_LOCK'
  | 'INVALID_KEY'
  | 'INVALID_ARGUMENT'
  | 'VALUE_TOO_LARGE'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'PERMISSION_DENIED'
  | 'DATA_CORRUPT'
  | 'BACKEND_ERROR';

/** Every error kvkit throws on purpose. `code` is stable; `cause` keeps the underlying error. */
export class KVError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class KeyNotFoundError extends KVError {
  constructor(key: string, options?: { cause?: unknown }) {
    super('KEY_NOT_FOUND', `key not found: ${key}`, options);
  }
}
export class KeyModifiedError extends KVError {
  constructor(key: string, options?: { cause?: unknown }) {
    super('KEY_MODIFIED', `key was modified since the given pair: ${key}`, options);
  }
}
export class KeyExistsError extends KVError {
  constructor(key: string, options?: { cause?: unknown }) {
    super('KEY_EXISTS', `key already exists: ${key}`, options);
  }
}
export class PreviousNotSpecifiedError extends KVError {
  constructor(key: string) {
    super('PREVIOUS_NOT_SPECIFIED', `atomicDelete needs the previous pair: ${key}`);
  }
}
export class CallNotSupportedError extends KVError {
  constructor(message: string) {
    super('CALL_NOT_SUPPORTED', message);
  }
}
export class BackendNotSupportedError extends KVError {
  constructor(message: string) {
    super('BACKEND_NOT_SUPPORTED', message);
  }
}
export class NotReachableError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOT_REACHABLE', message, options);
  }
}
export class CannotLockError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CANNOT_LOCK', message, options);
  }
}
export class InvalidKeyError extends KVError {
  constructor(message: string) {
    super('INVALID_KEY', message);
  }
}
export class InvalidArgumentError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
  }
}
/** A value over the backend's declared `capabilities.maxValueBytes`; nothing was sent. */
export class ValueTooLargeError extends KVError {
  constructor(message: string) {
    super('VALUE_TOO_LARGE', message);
  }
}
export class TimeoutError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TIMEOUT', message, options);
  }
}
/** The server refused the credentials or ACL (etcd auth, Consul ACL token, ZooKeeper digest). */
export class PermissionDeniedError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERMISSION_DENIED', message, options);
  }
}
/**
 * A store's file on disk is damaged, truncated or not the store's at all (garbage, another
 * program's file, a directory in its place). Raised when opening; nothing was changed.
 */
export class DataCorruptError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATA_CORRUPT', message, options);
  }
}
/** The server failed in a way the contract has no code for; `cause` holds its answer. */
export class BackendError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACKEND_ERROR', message, options);
  }
}
export class ClosedError extends KVError {
  constructor(message = 'store is closed') {
    super('CLOSED', message);
  }
}

/** True when `err` is a KVError with the given code. */
export function isKVError(err: unknown, code?: string): err is KVError {
  return err instanceof KVError && (code === undefined || err.code === code);
}
