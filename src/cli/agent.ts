import { parseArgs } from 'node:util';
import { whenAborted } from '../discovery/signals.js';
import { parsePairs } from '../network-state/cli/table.js';
import { startAgent } from '../swarm/agent.js';
import { processExecutor } from '../swarm/executors.js';
import type { CliContext } from './context.js';
import { parseDuration } from './discovery.js';
import { UsageError } from './kv.js';

const usage =
  'kvkit agent start --hostname NAME [--label K=V]... [--executor none|process] [--heartbeat 5s] [--addr IP] [--stop-grace 10s] [--prefix kvkit/network]';

/**
 * `kvkit agent start`: joins the Swarm as a worker node and runs what the manager assigns until
 * SIGINT/SIGTERM (then stops its tasks and leaves: the node is marked down at once). Prints
 * `node ID (HOSTNAME) joined` once registered.
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'start') throw new UsageError(usage);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      hostname: { type: 'string' },
      label: { type: 'string', multiple: true, default: [] },
      executor: { type: 'string', default: 'none' },
      heartbeat: { type: 'string' },
      addr: { type: 'string' },
      'stop-grace': { type: 'string' },
      prefix: { type: 'string' },
      store: { type: 'string' },
    },
  });
  if (positionals.length > 0 || !values.hostname) throw new UsageError(usage);
  if (values.executor !== 'none' && values.executor !== 'process')
    throw new UsageError(`--executor takes none or process\n${usage}`);
  const store = await ctx.openStore();
  try {
    const agent = await startAgent(store, {
      hostname: values.hostname,
      labels: parsePairs(values.label, '--label'),
      // The children's output is the agent's: a task's logs show where it runs.
      executor: values.executor === 'process' ? processExecutor({ output: 'inherit' }) : 'none',
      ...(values.heartbeat ? { heartbeatPeriodMs: parseDuration(values.heartbeat, '--heartbeat') } : {}),
      ...(values['stop-grace'] ? { stopGraceMs: parseDuration(values['stop-grace'], '--stop-grace') } : {}),
      ...(values.addr ? { addr: values.addr } : {}),
      ...(values.prefix ? { prefix: values.prefix } : {}),
      onError: (err) => ctx.stderr(`kvkit: agent: ${(err as Error)?.message ?? String(err)}`),
    });
    ctx.stdout(`node ${agent.nodeId} (${agent.hostname}) joined`);
    await whenAborted(ctx.signal);
    await agent.close();
    return 0;
  } finally {
    await store.close();
  }
}
