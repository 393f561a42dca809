import { EventEmitter } from 'node:events';

/** A cancellable request context as the consul client (papi) understands it. */
export type RequestContext = EventEmitter & { includeResponse: boolean; canceled?: boolean };

/** One request under way: its context, and whether its deadline passed. */
export interface InFlightRequest {
  readonly ctx: RequestContext;
  /** True once the deadline passed and the request was cancelled for it. */
  readonly expired: boolean;
  /** Stops watching the request (call when it settled). */
  end(): void;
}

/** How often the deadlines of requests in flight are checked (ms): their precision. */
const TICK_MS = 50;

class Request implements InFlightRequest {
  readonly ctx: RequestContext;
  readonly at: number;
  expired = false;
  readonly #release: () => void;

  constructor(at: number, includeResponse: boolean, release: (r: Request) => void) {
    this.ctx = new EventEmitter() as RequestContext;
    this.ctx.includeResponse = includeResponse;
    this.at = at;
    this.#release = () => release(this);
  }

  cancel(): void {
    this.ctx.canceled = true;
    this.ctx.emit('cancel');
  }

  end(): void {
    this.#release();
  }
}

/**
 * Deadlines for every request of a connection, cancelled through the client's request context.
 * One coarse timer serves all requests in flight and stops when none is left: a timer per
 * request (the client's own `timeout`) costs more than the request's own work on the client.
 */
export class RequestDeadlines {
  readonly #inFlight = new Set<Request>();
  #timer: NodeJS.Timeout | null = null;

  /** A request that is cancelled after `ms`, or when `signal` aborts. */
  start(ms: number, signal?: AbortSignal, includeResponse = false): InFlightRequest {
    let onAbort: (() => void) | undefined;
    const request = new Request(Date.now() + ms, includeResponse, (r) => {
      this.#inFlight.delete(r);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    });
    this.#inFlight.add(request);
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS).unref();
    if (signal) {
      onAbort = () => request.cancel();
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    return request;
  }

  /** Cancels every request in flight and stops the timer. */
  close(): void {
    for (const request of this.#inFlight) request.cancel();
    this.#inFlight.clear();
    this.#stop();
  }

  #tick(): void {
    const now = Date.now();
    for (const request of this.#inFlight) {
      if (request.at > now) continue;
      this.#inFlight.delete(request);
      request.expired = true;
      request.cancel();
    }
    if (this.#inFlight.size === 0) this.#stop();
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
