import { parseArgs } from 'node:util';
import { DEFAULT_DISCOVERY_PREFIX, openDiscovery } from '../discovery/discovery.js';
import { InvalidArgumentError } from '../store/errors.js';
import { whenAborted } from '../store/signals.js';
import type { Store } from '../store/types.js';
import type { CliContext } from './context.js';
import { UsageError } from './kv.js';

const usage = `kvkit discovery register ADDR [--heartbeat 20s] [--ttl 60s] [--prefix docker]
       kvkit discovery ls [--watch] [--prefix docker]`;

/**
 * `kvkit discovery ...` (argv after 'discovery'): Docker's kv node discovery. `register` keeps
 * ADDR registered until SIGINT/SIGTERM, then leaves cleanly; `ls` prints the addresses, and with
 * `--watch` the full list again after every change.
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      heartbeat: { type: 'string' },
      ttl: { type: 'string' },
      watch: { type: 'boolean', default: false },
      prefix: { type: 'string', default: DEFAULT_DISCOVERY_PREFIX },
      store: { type: 'string' },
    },
  });
  if (command === 'register') {
    if (positionals.length !== 1 || values.watch) throw new UsageError(usage);
    const heartbeatMs =
      values.heartbeat === undefined ? undefined : parseDuration(values.heartbeat, '--heartbeat');
    const ttlMs = values.ttl === undefined ? undefined : parseDuration(values.ttl, '--ttl');
    return withStore(ctx, async (store) => {
      await using disco = openDiscovery(store, { prefix: values.prefix });
      await using reg = await disco.register(positionals[0], {
        ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
        ...(ttlMs === undefined ? {} : { ttlMs }),
        onError: (err) => ctx.stderr(`kvkit: ${(err as Error).message ?? String(err)}`),
      });
      ctx.stdout(`registered ${reg.addr}`);
      using _alive = keepProcessAlive();
      await whenAborted(ctx.signal);
      return 0;
    });
  }
  if (command === 'ls') {
    if (positionals.length !== 0 || values.heartbeat !== undefined || values.ttl !== undefined)
      throw new UsageError(usage);
    return withStore(ctx, async (store) => {
      await using disco = openDiscovery(store, { prefix: values.prefix });
      if (!values.watch) {
        for (const addr of await disco.listNodes()) ctx.stdout(addr);
        return 0;
      }
      const watching = disco.watchNodes({
        signal: ctx.signal,
        onError: (err) => ctx.stderr(`kvkit: ${(err as Error).message ?? String(err)}`),
      });
      using _alive = keepProcessAlive();
      for await (const addrs of watching) {
        ctx.stdout(`--- ${addrs.length} ${addrs.length === 1 ? 'node' : 'nodes'}`);
        for (const addr of addrs) ctx.stdout(addr);
      }
      return 0;
    });
  }
  throw new UsageError(usage);
}

async function withStore(ctx: CliContext, work: (store: Store) => Promise<number>): Promise<number> {
  const store = await ctx.openStore();
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/**
 * Keeps the process running while a command waits on a store: backends' timers and pollers are
 * unref'd (a library must not hold a process open), so a watch alone would let it exit.
 */
export function keepProcessAlive(): Disposable {
  const timer = setInterval(() => {}, 2 ** 30);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration flag as Docker's (Go) flags write them: `20s`, `500ms`, `1m30s`, `2h` → ms.
 * INVALID_ARGUMENT naming the flag and the text otherwise (a bare number has no unit).
 */
export function parseDuration(text: string, flag: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const whole = parts.map((p) => p[0]).join('');
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]], 0);
  if (parts.length === 0 || whole !== text || !(ms > 0) || ms > 2 ** 31 - 1) {
    throw new InvalidArgumentError(
      `invalid duration for ${flag}: ${JSON.stringify(text)} (use e.g. 500ms, 20s, 1m)`,
    );
  }
  return Math.round(ms);
}
