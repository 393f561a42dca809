import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { isIP, Socket } from 'node:net';
import { type Endpoint, parseEndpoint } from '../../store/endpoints.js';
import { InvalidArgumentError } from '../../store/errors.js';
import { HEADER_BYTES, MAX_TCP_BYTES } from './wire.js';

/** libnetwork resolver.go: at most 3 upstream servers. */
export const MAX_UPSTREAMS = 3;
/** Each upstream gets this long before the next is tried (Docker: 4 s; 2 s keeps clients' own 5 s timeouts). */
export const UPSTREAM_TIMEOUT_MS = 2000;
/** Queries being forwarded at once; beyond it the answer is REFUSED at once (libnetwork#2082: never block local answers). */
export const MAX_IN_FLIGHT = 1024;

export type Forwarded = { kind: 'answer'; reply: Buffer } | { kind: 'failed' } | { kind: 'busy' };

/** Parses `HOST[:PORT]` upstreams (port 53 by default); IP literals only, at most 3. */
export function parseUpstreams(upstreams: readonly string[] | undefined): Endpoint[] {
  const list = upstreams ?? [];
  if (!Array.isArray(list)) throw new InvalidArgumentError('upstream must be a list of HOST:PORT');
  if (list.length > MAX_UPSTREAMS) {
    throw new InvalidArgumentError(`at most ${MAX_UPSTREAMS} upstream servers, got ${list.length}`);
  }
  return list.map((text) => {
    const endpoint = parseEndpoint(String(text), 53);
    if (isIP(endpoint.host) === 0)
      throw new InvalidArgumentError(
        `upstream ${JSON.stringify(text)} must be an IP address with an optional port`,
      );
    return endpoint;
  });
}

/**
 * Forwards queries for names the server does not own to the upstreams in order, each for at most
 * UPSTREAM_TIMEOUT_MS, over the transport the client used. Each try has a fresh random ID and a
 * fresh socket (random source port); a reply counts only if it comes from that upstream with
 * that ID and the same question. The upstream's rcode is passed through (moby#45553: NXDOMAIN
 * stays NXDOMAIN); only when every upstream failed is it SERVFAIL, decided by the caller.
 */
export class Forwarder {
  readonly upstreams: readonly Endpoint[];
  readonly #closing = new AbortController();
  readonly #maxInFlight: number;
  #inFlight = 0;

  constructor(upstreams: readonly Endpoint[], opts: { maxInFlight?: number } = {}) {
    this.upstreams = upstreams;
    this.#maxInFlight = opts.maxInFlight ?? MAX_IN_FLIGHT;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async forward(query: Buffer, questionBytes: Buffer, transport: 'udp' | 'tcp'): Promise<Forwarded> {
    if (this.#inFlight >= this.#maxInFlight) return { kind: 'busy' };
    this.#inFlight++;
    try {
      for (const upstream of this.upstreams) {
        if (this.#closing.signal.aborted) break;
        const id = randomInt(0, 65_536);
        const outgoing = Buffer.from(query);
        outgoing.writeUInt16BE(id, 0);
        const reply =
          transport === 'udp'
            ? await exchangeUdp(upstream, outgoing, this.#closing.signal)
            : await exchangeTcp(upstream, outgoing, this.#closing.signal);
        if (reply && matches(reply, id, questionBytes)) {
          reply[0] = query[0];
          reply[1] = query[1];
          return { kind: 'answer', reply };
        }
      }
      return { kind: 'failed' };
    } finally {
      this.#inFlight--;
    }
  }

  /** Abandons every forward in progress (they end as failed). */
  close(): void {
    this.#closing.abort();
  }
}

/** Same ID, a response, one question equal to ours (names compared without case, RFC 4343). */
function matches(reply: Buffer, id: number, questionBytes: Buffer): boolean {
  if (reply.length < HEADER_BYTES + questionBytes.length) return false;
  if (reply.readUInt16BE(0) !== id || !(reply[2] & 0x80) || reply.readUInt16BE(4) !== 1) return false;
  const theirs = reply.subarray(HEADER_BYTES, HEADER_BYTES + questionBytes.length);
  return theirs.toString('latin1').toLowerCase() === questionBytes.toString('latin1').toLowerCase();
}

/**
 * One try with one upstream: the first of a reply, the timeout or close settles it, and the
 * socket `start` opened is released exactly once.
 */
function exchange(
  closing: AbortSignal,
  start: (finish: (reply: Buffer | null) => void) => () => void,
): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let release: (() => void) | null = null;
    let done = false;
    const finish = (reply: Buffer | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      closing.removeEventListener('abort', onAbort);
      release?.();
      resolve(reply);
    };
    const onAbort = () => finish(null);
    const timer = setTimeout(() => finish(null), UPSTREAM_TIMEOUT_MS);
    if (closing.aborted) return finish(null); // clears the timer just armed
    closing.addEventListener('abort', onAbort, { once: true });
    release = start(finish);
    if (done) release();
  });
}

function exchangeUdp(upstream: Endpoint, query: Buffer, closing: AbortSignal): Promise<Buffer | null> {
  return exchange(closing, (finish) => {
    const socket = dgram.createSocket(isIP(upstream.host) === 6 ? 'udp6' : 'udp4');
    socket.on('error', () => finish(null));
    socket.on('message', (msg, from) => {
      if (from.port !== upstream.port || !sameHost(from.address, upstream.host)) return;
      if (msg.length >= 2 && msg.readUInt16BE(0) === query.readUInt16BE(0)) finish(msg);
    });
    socket.send(query, upstream.port, upstream.host, (err) => {
      if (err) finish(null);
    });
    return () => {
      socket.removeAllListeners('message');
      socket.close();
    };
  });
}

/** RFC 1035 §4.2.2 framing: a 2-byte length, then the message. */
function exchangeTcp(upstream: Endpoint, query: Buffer, closing: AbortSignal): Promise<Buffer | null> {
  return exchange(closing, (finish) => {
    const socket = new Socket();
    let buffered = Buffer.alloc(0);
    socket.on('error', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_TCP_BYTES + 2) return finish(null);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        finish(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      }
    });
    socket.connect(upstream.port, upstream.host, () => {
      const frame = Buffer.alloc(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      socket.write(frame);
    });
    return () => socket.destroy();
  });
}

function sameHost(a: string, b: string): boolean {
  return a === b || a.replace(/^::ffff:/, '') === b.replace(/^::ffff:/, '');
}
