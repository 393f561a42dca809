import { parseArgs } from 'node:util';
import { parsePairs } from '../network-state/cli/table.js';
import { formatEndpoint } from '../store/endpoints.js';
import { whenAborted } from '../store/signals.js';
import { startAgent } from '../swarm/agent.js';
import { processExecutor } from '../swarm/executors.js';
import type { CliContext } from './context.js';
import { parseDuration } from './discovery.js';
import { readKeys } from './gossip.js';
import { UsageError } from './kv.js';

const usage =
  'kvkit agent start --hostname NAME [--label K=V]... [--executor none|process] [--heartbeat 5s] [--addr IP] [--stop-grace 10s] [--prefix kvkit/network]\n' +
  '                  [--gossip-bind HOST[:PORT] [--gossip-join HOST[:PORT]]... [--gossip-advertise HOST:PORT] [--gossip-keys-file FILE]]';

/**
 * `kvkit agent start`: joins the Swarm as a worker node and runs what the manager assigns until
 * SIGINT/SIGTERM (then stops its tasks and leaves: the node is marked down at once). Prints
 * `node ID (HOSTNAME) joined` once registered. With `--gossip-bind` it also joins the gossip
 * cluster (port 7946 by default, as Docker) and prints `gossip member ID on HOST:PORT`.
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
      'gossip-bind': { type: 'string' },
      'gossip-join': { type: 'string', multiple: true },
      'gossip-advertise': { type: 'string' },
      'gossip-keys-file': { type: 'string' },
    },
  });
  if (positionals.length > 0 || !values.hostname) throw new UsageError(usage);
  if (values.executor !== 'none' && values.executor !== 'process')
    throw new UsageError(`--executor takes none or process\n${usage}`);
  const bind = values['gossip-bind'];
  if (
    bind === undefined &&
    (values['gossip-join'] || values['gossip-advertise'] || values['gossip-keys-file'])
  )
    throw new UsageError(
      `--gossip-join, --gossip-advertise and --gossip-keys-file need --gossip-bind\n${usage}`,
    );
  const keysFile = values['gossip-keys-file'];
  const gossip =
    bind === undefined
      ? undefined
      : {
          bind,
          ...(values['gossip-join'] ? { join: values['gossip-join'].flatMap((j) => j.split(',')) } : {}),
          ...(values['gossip-advertise'] ? { advertise: values['gossip-advertise'] } : {}),
          ...(keysFile ? { keys: readKeys(keysFile) } : {}),
          logger: (line: string) => ctx.stderr(line),
        };
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
      ...(gossip ? { gossip } : {}),
      onError: (err) => ctx.stderr(`kvkit: agent: ${(err as Error)?.message ?? String(err)}`),
    });
    ctx.stdout(`node ${agent.nodeId} (${agent.hostname}) joined`);
    if (agent.gossip)
      ctx.stdout(`gossip member ${agent.gossip.name} on ${formatEndpoint(agent.gossip.address)}`);
    await whenAborted(ctx.signal);
    await agent.close();
    return 0;
  } finally {
    await store.close();
  }
}
