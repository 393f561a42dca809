import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import ipaddr from 'ipaddr.js';
import { formatEndpoint, parseEndpoint } from '../store/endpoints.js';
import { InvalidArgumentError } from '../store/errors.js';

/** One check of /health and /readyz: null when it passes, else why not. */
export type HealthCheck = () => Promise<string | null>;

export interface MetricsServerOptions {
  /** host:port (port 0: any free port). A non-loopback host needs `insecure` (there is no TLS). */
  listen: string;
  insecure?: boolean;
  /** The exposition: text and its content type. */
  metrics: () => Promise<{ contentType: string; text: string }>;
  /** Whether the node knows a leader (serializable part of /health). */
  leader: HealthCheck;
  /** Whether a linearizable read (a read barrier) succeeds now. */
  linearizableRead: HealthCheck;
  log?: (line: string) => void;
}

export interface MetricsServer extends AsyncDisposable {
  /** host:port actually bound. */
  readonly address: string;
  close(): Promise<void>;
}

/** Concurrent requests served at once; more connections wait in the kernel's backlog. */
const MAX_CONNECTIONS = 64;
/** A client slower than this with its request headers is dropped (slowloris). */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;

/**
 * The node's HTTP endpoints, as etcd serves them on --listen-metrics-urls
 * (server/etcdserver/api/etcdhttp/health.go): `/metrics` (Prometheus text format), `/health`
 * (200 `{"health":"true"}` when the node has a leader and a linearizable read succeeds; 503
 * `{"health":"false","reason":...}` otherwise; `?serializable=true` skips the read), `/livez`
 * (the process serves) and `/readyz` (the checks of /health, one line each). GET and HEAD only.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const endpoint = parseEndpoint(options.listen, 0, { listening: true });
  if (!options.insecure && !isLoopbackHost(endpoint.host)) {
    throw new InvalidArgumentError(
      `metrics address ${formatEndpoint(endpoint)} is not a loopback address; the metrics port has ` +
        'no TLS or authentication: listen on 127.0.0.1 (or ::1), or pass --insecure to expose it',
    );
  }
  const server: Server = createServer((req, res) => {
    void serve(req, res, options).catch((err: unknown) => {
      options.log?.(`metrics request failed: ${(err as Error)?.message ?? err}`);
      if (!res.headersSent) reply(res, req, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        new InvalidArgumentError(
          err.code === 'EADDRINUSE'
            ? `metrics address ${formatEndpoint(endpoint)} is already in use`
            : `cannot listen on metrics address ${formatEndpoint(endpoint)}: ${err.message}`,
          { cause: err },
        ),
      );
    server.once('error', onError);
    server.listen(endpoint.port, endpoint.host, () => {
      server.off('error', onError);
      // Later errors (an accept failing with EMFILE, say) are logged, never the process's end.
      server.on('error', (err) => options.log?.(`metrics listener error: ${err.message}`));
      resolve();
    });
  });
  const bound = server.address();
  const address = formatEndpoint({
    host: endpoint.host,
    port: typeof bound === 'object' && bound ? bound.port : endpoint.port,
  });
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return { address, close, [Symbol.asyncDispose]: close };
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  options: MetricsServerOptions,
): Promise<void> {
  req.resume(); // a body is never read
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return reply(res, req, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  const url = new URL(req.url ?? '/', 'http://metrics.invalid');
  switch (url.pathname) {
    case '/metrics': {
      const { contentType, text } = await options.metrics();
      return reply(res, req, 200, contentType, text);
    }
    case '/health': {
      const reason =
        (await options.leader()) ??
        (url.searchParams.get('serializable') === 'true' ? null : await options.linearizableRead());
      const body = reason === null ? { health: 'true' } : { health: 'false', reason };
      return reply(res, req, reason === null ? 200 : 503, 'application/json', JSON.stringify(body));
    }
    case '/livez':
      return reply(res, req, 200, 'text/plain; charset=utf-8', 'ok\n');
    case '/readyz': {
      const leader = await options.leader();
      const read = leader === null ? await options.linearizableRead() : 'skipped: no leader';
      const lines = [
        leader === null ? '[+]leader ok' : `[-]leader failed: ${leader}`,
        read === null ? '[+]linearizable_read ok' : `[-]linearizable_read failed: ${read}`,
      ];
      const ok = leader === null && read === null;
      return reply(
        res,
        req,
        ok ? 200 : 503,
        'text/plain; charset=utf-8',
        `${lines.join('\n')}\n${ok ? 'ok' : 'not ready'}\n`,
      );
    }
    default:
      return reply(res, req, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
}

function reply(res: ServerResponse, req: IncomingMessage, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x) and `localhost`: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (!ipaddr.isValid(host)) return false;
  let addr = ipaddr.parse(host);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  return addr.range() === 'loopback';
}
