import { InvalidArgumentError } from '../store/errors.js';
import { MAX_VALUE_BYTES_CEILING, resolveMaxValueBytes } from '../store/limits.js';

/**
 * The `maxValueBytes` a remote backend declares when its server bounds a whole request (etcd's
 * --max-request-bytes, ZooKeeper's jute.maxbuffer): that bound, as the server is configured,
 * minus the most a request carries besides the value. The server's setting is told through a
 * URL parameter the backend registered (`?maxRequestBytes=`, `?juteMaxBuffer=`, or
 * `params` in the options); `maxValueBytes` may lower the result, never raise it, so a value
 * the store accepts is never one the server refuses or chokes on.
 */
export function requestBoundValueLimit(spec: {
  params: Record<string, string> | undefined;
  /** The URL parameter naming the server's setting. */
  param: string;
  /** The server's default for that setting (bytes). */
  serverDefaultBytes: number;
  /** What a request carries besides the value, at most (bytes). */
  overheadBytes: number;
  /** StoreOptions.maxValueBytes, as given. */
  configured: number | undefined;
  /** A bound of the client library itself, whatever the server takes (bytes). */
  clientMaxBytes?: number;
}): number {
  const raw = spec.params?.[spec.param];
  const serverBytes = raw === undefined ? spec.serverDefaultBytes : Number(raw);
  if (!Number.isSafeInteger(serverBytes) || serverBytes <= spec.overheadBytes) {
    throw new InvalidArgumentError(
      `${spec.param} must be a whole number of bytes above ${spec.overheadBytes}, got ${JSON.stringify(raw)}`,
    );
  }
  const serverLimit = serverBytes - spec.overheadBytes;
  const limit = Math.min(serverLimit, spec.clientMaxBytes ?? serverLimit);
  if (spec.configured !== undefined && spec.configured > limit) {
    throw new InvalidArgumentError(
      limit < serverLimit
        ? `maxValueBytes ${spec.configured} is over the client library's own limit of ${limit} bytes`
        : `maxValueBytes ${spec.configured} is over what a request of at most ${serverBytes} bytes can carry ` +
            `(${limit}); if the server accepts larger requests, say so with ${spec.param}`,
    );
  }
  // Never above the contract's ceiling: an unbounded value is a memory hazard.
  return resolveMaxValueBytes(spec.configured, Math.min(limit, MAX_VALUE_BYTES_CEILING));
}
