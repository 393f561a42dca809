import { KVError } from '../../store/errors.js';

/**
 * The log or a data file on disk is damaged: a checksum does not match, an entry is missing
 * in the middle, or the file is shorter than its own header says. Raised at start; nothing
 * is repaired or overwritten, so an operator can inspect the directory.
 */
export class LogCorruptError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LOG_CORRUPT', message, options);
  }
}

/** The data directory belongs to another cluster or node, or the member list disagrees with it. */
export class ClusterMismatchError extends KVError {
  constructor(message: string) {
    super('CLUSTER_MISMATCH', message);
  }
}

/** A listen address (peer or client port) is already taken. */
export class AddressInUseError extends KVError {
  constructor(what: string, address: string, options?: { cause?: unknown }) {
    super('ADDRESS_IN_USE', `${what} ${address} is already in use (is another node running?)`, options);
  }
}

/** A membership change the cluster refused (e.g. another change is still in progress). */
export class MembershipError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MEMBERSHIP_REJECTED', message, options);
  }
}
