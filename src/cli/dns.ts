import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { startDnsServer } from '../discovery/dns/server.js';
import { type Gossip, startGossip } from '../gossip/runtime/gossip.js';
import { followGossipKeys, readGossipKeys } from '../gossip/store-keyring.js';
import { formatEndpoint } from '../store/endpoints.js';
import { whenAborted, withTimeout } from '../store/signals.js';
import type { Store } from '../store/types.js';
import type { CliContext } from './context.js';
import { readKeys } from './gossip.js';
import { UsageError } from './kv.js';

const usage =
  'kvkit dns serve --listen HOST:PORT [--network NAME]... [--ttl SECONDS] [--upstream HOST:PORT]... [--prefix kvkit/network]\n' +
  '                [--processes N]\n' +
  '                [--gossip --gossip-bind HOST[:PORT] [--gossip-join HOST[:PORT]]... [--gossip-advertise HOST:PORT]\n' +
  '                 [--gossip-keys-file FILE] [--gossip-name NAME]]';

/**
 * `kvkit dns serve`: the DNS server for services and tasks on the selected store — or, with
 * `--gossip`, from the gossip tables the agents publish, as a member of the gossip cluster that
 * never opens the store (names resolve while it is unreachable). Prints `listening on HOST:PORT`
 * once the records are loaded and both sockets are bound, and serves until SIGINT/SIGTERM (then a
 * gossip member leaves the cluster).
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
      processes: { type: 'string' },
      store: { type: 'string' },
      gossip: { type: 'boolean' },
      'gossip-bind': { type: 'string' },
      'gossip-join': { type: 'string', multiple: true },
      'gossip-advertise': { type: 'string' },
      'gossip-keys-file': { type: 'string' },
      'gossip-name': { type: 'string' },
    },
  });
  if (positionals.length > 0 || values.listen === undefined) throw new UsageError(usage);
  if (values.ttl !== undefined && !/^\d+$/.test(values.ttl))
    throw new UsageError(`--ttl takes whole seconds\n${usage}`);
  if (values.processes !== undefined && !/^\d+$/.test(values.processes))
    throw new UsageError(`--processes takes a whole number\n${usage}`);
  const gossipFlags = Object.keys(values).filter((k) => k.startsWith('gossip-'));
  if (!values.gossip && gossipFlags.length > 0)
    throw new UsageError(`--${gossipFlags[0]} needs --gossip\n${usage}`);
  if (values.gossip && values['gossip-bind'] === undefined)
    throw new UsageError(`--gossip needs --gossip-bind HOST[:PORT]\n${usage}`);
  let source: { store: Store } | { gossip: Gossip };
  let release: () => Promise<void>;
  if (values.gossip) {
    const keysFile = values['gossip-keys-file'];
    const join = (values['gossip-join'] ?? []).flatMap((j) => j.split(','));
    const report = (err: unknown) => ctx.stderr(`kvkit: dns: ${(err as Error)?.message ?? String(err)}`);
    // Without a keys file the keys are the managers' in the Store: read once at start, then
    // followed while the Store answers; an unreachable Store leaves the member with its keys.
    const keyStore = keysFile ? null : await openKeyStore(ctx, report);
    const keys = keysFile ? readKeys(keysFile) : await keysFrom(keyStore, values.prefix, report);
    let gossip: Gossip;
    try {
      gossip = await startGossip({
        name: values['gossip-name'] ?? `dns-${hostname()}-${process.pid}`.slice(0, 64),
        bind: values['gossip-bind'] as string,
        ...(join.length > 0 ? { join } : {}),
        ...(values['gossip-advertise'] ? { advertise: values['gossip-advertise'] } : {}),
        ...(keys ? { keys } : {}),
        logger: (line) => ctx.stderr(line),
      });
    } catch (err) {
      await keyStore?.close();
      throw err;
    }
    const member = gossip;
    const stopKeys = new AbortController();
    const following = keyStore
      ? followGossipKeys(keyStore, (k) => member.setKeys(k), {
          signal: stopKeys.signal,
          ...(values.prefix ? { prefix: values.prefix } : {}),
          onError: report,
        })
      : Promise.resolve();
    source = { gossip };
    release = async () => {
      stopKeys.abort();
      await following;
      await member.leave();
      await keyStore?.close();
    };
  } else {
    const store = await ctx.openStore();
    source = { store };
    release = () => store.close();
  }
  try {
    await using dns = await startDnsServer({
      ...source,
      listen: values.listen,
      ...(values.network ? { networks: values.network } : {}),
      ...(values.ttl !== undefined ? { ttl: Number(values.ttl) } : {}),
      ...(values.upstream ? { upstream: values.upstream } : {}),
      ...(values.prefix ? { prefix: values.prefix } : {}),
      ...(values.processes !== undefined ? { processes: Number(values.processes) } : {}),
      onError: (err) => ctx.stderr(`kvkit: dns: ${(err as Error)?.message ?? String(err)}`),
    });
    ctx.stdout(`listening on ${formatEndpoint(dns.address)}`);
    await whenAborted(ctx.signal);
    return 0;
  } finally {
    await release();
  }
}

/** How long `dns serve --gossip` waits for the Store at start, for the keys (ms). */
const KEY_STORE_WAIT_MS = 10_000;

/** The Store for the gossip keys, or null (reported) when it does not open in time. */
async function openKeyStore(ctx: CliContext, report: (err: unknown) => void): Promise<Store | null> {
  const opening = ctx.openStore();
  try {
    return await withTimeout(opening, KEY_STORE_WAIT_MS, 'the store');
  } catch (err) {
    opening.then((s) => s.close()).catch(() => {});
    report(new Error(`no gossip keys from the store (${(err as Error)?.message}): starting without keys`));
    return null;
  }
}

async function keysFrom(
  store: Store | null,
  prefix: string | undefined,
  report: (err: unknown) => void,
): Promise<Uint8Array[] | null> {
  if (!store) return null;
  try {
    return await withTimeout(readGossipKeys(store, prefix), KEY_STORE_WAIT_MS, 'the gossip keyring');
  } catch (err) {
    report(new Error(`no gossip keys from the store (${(err as Error)?.message}): starting without keys`));
    return null;
  }
}
