import { parseArgs } from 'node:util';
import { startDnsServer } from '../discovery/dns/server.js';
import { whenAborted } from '../discovery/signals.js';
import { formatEndpoint } from '../store/endpoints.js';
import type { CliContext } from './context.js';
import { UsageError } from './kv.js';

const usage =
  'kvkit dns serve --listen HOST:PORT [--network NAME]... [--ttl SECONDS] [--upstream HOST:PORT]... [--prefix kvkit/network]';

/**
 * `kvkit dns serve`: the DNS server for services and tasks on the selected store. Prints
 * `listening on HOST:PORT` once the records are loaded and both sockets are bound, and serves
 * until SIGINT/SIGTERM.
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'serve') throw new UsageError(usage);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      listen: { type: 'string' },
      network: { type: 'string', multiple: true },
      ttl: { type: 'string' },
      upstream: { type: 'string', multiple: true },
      prefix: { type: 'string' },
      store: { type: 'string' },
    },
  });
  if (positionals.length > 0 || values.listen === undefined) throw new UsageError(usage);
  if (values.ttl !== undefined && !/^\d+$/.test(values.ttl))
    throw new UsageError(`--ttl takes whole seconds\n${usage}`);
  const store = await ctx.openStore();
  try {
    await using dns = await startDnsServer({
      store,
      listen: values.listen,
      ...(values.network ? { networks: values.network } : {}),
      ...(values.ttl !== undefined ? { ttl: Number(values.ttl) } : {}),
      ...(values.upstream ? { upstream: values.upstream } : {}),
      ...(values.prefix ? { prefix: values.prefix } : {}),
      onError: (err) => ctx.stderr(`kvkit: dns: ${(err as Error)?.message ?? String(err)}`),
    });
    ctx.stdout(`listening on ${formatEndpoint(dns.address)}`);
    await whenAborted(ctx.signal);
    return 0;
  } finally {
    await store.close();
  }
}
