import { parseArgs } from 'node:util';
import { runManager } from '../swarm/manager.js';
import type { CliContext } from './context.js';
import { parseDuration } from './discovery.js';
import { UsageError } from './kv.js';

const usage = 'kvkit manager run [--heartbeat 5s] [--prefix kvkit/network]';

/**
 * `kvkit manager run`: a Swarm manager (allocator, scheduler, dispatcher, orchestrator) on the
 * selected store until SIGINT/SIGTERM. Any number may run; one acts at a time.
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'run') throw new UsageError(usage);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { heartbeat: { type: 'string' }, prefix: { type: 'string' }, store: { type: 'string' } },
  });
  if (positionals.length > 0) throw new UsageError(usage);
  const store = await ctx.openStore();
  try {
    ctx.stdout('manager running');
    await runManager(store, {
      signal: ctx.signal,
      ...(values.heartbeat ? { heartbeatPeriodMs: parseDuration(values.heartbeat, '--heartbeat') } : {}),
      ...(values.prefix ? { prefix: values.prefix } : {}),
      onError: (err) => ctx.stderr(`kvkit: manager: ${(err as Error)?.message ?? String(err)}`),
      onActing: (acting) => ctx.stdout(acting ? 'manager acting' : 'manager standing by'),
    });
    return 0;
  } finally {
    await store.close();
  }
}
