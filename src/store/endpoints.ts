import { redactAddress } from '../secrets/redact.js';
import { InvalidArgumentError } from './errors.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** Parses `host:port` strings (IPv6 as `[::1]:port`); a missing port takes `defaultPort`. */
export function parseEndpoints(endpoints: string[] | undefined, defaultPort: number): Endpoint[] {
  const list = endpoints && endpoints.length > 0 ? endpoints : [`127.0.0.1:${defaultPort}`];
  return list.map((raw) => parseEndpoint(raw, defaultPort));
}

/** With `listening`, port 0 (any free port) is accepted, as for a server's listen address. */
export function parseEndpoint(
  raw: string,
  defaultPort: number,
  opts: { listening?: boolean } = {},
): Endpoint {
  if (typeof raw !== 'string')
    throw new InvalidArgumentError(`an endpoint must be a string, got ${typeof raw}`);
  // Shown in errors with any credentials (`user:pass@`) replaced by `***`.
  const shown = () => JSON.stringify(redactAddress(raw));
  const text = raw.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const match = /^(\[[^\]]+\]|[^:[\]@/]+)(?::(\d+))?$/.exec(text);
  if (!match) throw new InvalidArgumentError(`bad endpoint ${shown()}: expected host:port`);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < (opts.listening ? 0 : 1) || port > 65535) {
    throw new InvalidArgumentError(`bad port in endpoint ${shown()}`);
  }
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

/** `host:port`, with brackets around IPv6 hosts. */
export function formatEndpoint({ host, port }: Endpoint): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
