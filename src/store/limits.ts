import { InvalidArgumentError, ValueTooLargeError } from './errors.js';

/**
 * The bounds every store enforces before any I/O: TTLs and value sizes. The Store API
 * (`BaseStore`) and every server that takes requests (the Raft node's client port) check
 * input with these same functions, so a request is judged alike wherever it arrives.
 */

/** The longest TTL a put or a lock accepts: 366 days, so "one year" holds in a leap year too (ms). */
export const MAX_TTL_MS = 366 * 24 * 60 * 60 * 1000;

/** Default `maxValueBytes` of the in-process and embedded backends (memory, local, raft). */
export const MAX_VALUE_BYTES = 1024 * 1024;

/** The largest `maxValueBytes` a store may be configured with: an unbounded value is a memory hazard. */
export const MAX_VALUE_BYTES_CEILING = 64 * 1024 * 1024;

/**
 * A TTL in ms, checked: a finite number in (0, MAX_TTL_MS], rounded up to whole ms.
 * `what` names the argument in the error (`ttl`, `lock ttl`).
 */
export function checkTtlMs(ttl: unknown, what = 'ttl'): number {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new InvalidArgumentError(`${what} must be a positive number of milliseconds, got ${String(ttl)}`);
  }
  if (ttl > MAX_TTL_MS) {
    throw new InvalidArgumentError(`${what} of ${ttl} ms is over the maximum of ${MAX_TTL_MS} ms (366 days)`);
  }
  return Math.ceil(ttl);
}

/** Rejects a value longer than `maxValueBytes` with VALUE_TOO_LARGE. */
export function checkValueSize(bytes: Uint8Array, maxValueBytes: number): void {
  if (bytes.length > maxValueBytes) {
    throw new ValueTooLargeError(
      `value is ${bytes.length} bytes; this store's limit (maxValueBytes) is ${maxValueBytes}`,
    );
  }
}

/**
 * The `maxValueBytes` a store runs with: the configured one (StoreOptions / URL
 * `?maxValueBytes=`) when given, else `defaultBytes`; never above `ceilingBytes`.
 */
export function resolveMaxValueBytes(
  configured: unknown,
  defaultBytes: number = MAX_VALUE_BYTES,
  ceilingBytes: number = MAX_VALUE_BYTES_CEILING,
): number {
  if (configured === undefined) return defaultBytes;
  if (typeof configured !== 'number' || !Number.isSafeInteger(configured) || configured < 1) {
    throw new InvalidArgumentError(
      `maxValueBytes must be a positive whole number, got ${String(configured)}`,
    );
  }
  if (configured > ceilingBytes) {
    throw new InvalidArgumentError(
      `maxValueBytes ${configured} is over this backend's ceiling of ${ceilingBytes} bytes`,
    );
  }
  return configured;
}
