import { GRPCUnavailableError, type IOptions } from 'etcd3';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = ReturnType<NonNullable<FaultHandling['host']>>;

/**
 * The etcd3 client's fault handling, replaced by two small policies of our own:
 * - per host, none: the default circuit breaker keeps failing calls for 5 s after a server
 *   comes back, which turns a quick restart into seconds of errors;
 * - overall, one try per endpoint, moving on only when no connection was made, so the call
 *   was never sent: an UNAVAILABLE from a connection that dropped mid-call may hide an applied
 *   write, and retrying it would turn a success into a false KEY_MODIFIED. One endpoint
 *   means no retry, so a dead server fails fast.
 * etcd3 only calls `execute` on them; the casts stand in for cockatiel's event plumbing,
 * which etcd3 never touches, so kvkit needs no direct dependency on cockatiel.
 */
export function faultHandling(endpointCount: number): FaultHandling {
  const passThrough = {
    async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T) {
      return fn({ signal: neverAborted });
    },
  };
  const oneTryPerEndpoint = {
    async execute<T>(fn: (context: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn({ signal: neverAborted, attempt });
        } catch (err) {
          if (!neverSent(err) || attempt + 1 >= endpointCount) throw err;
        }
      }
    },
  };
  return {
    host: () => passThrough as unknown as Policy,
    global: oneTryPerEndpoint as unknown as Policy,
  };
}

const neverAborted = new AbortController().signal;

/** gRPC could not connect to the endpoint, so the request never left this process. */
function neverSent(err: unknown): boolean {
  return err instanceof GRPCUnavailableError && err.message.includes('No connection established');
}
