import { parseArgs } from 'node:util';
import { dockerService, dockerTask } from '../network-state/cli/docker-json.js';
import { inspectEach, removeEach } from '../network-state/cli/named-commands.js';
import { type NetworkCliContext, runCommand } from '../network-state/cli/session.js';
import { CliUsageError, formatTable, shortId } from '../network-state/cli/table.js';
import { waitForAllocation } from '../network-state/cli/wait.js';
import type { NetworkState } from '../network-state/network-state.js';
import type { EndpointMode } from '../network-state/types.js';
import { parseDuration } from './discovery.js';

const USAGE = `Usage:
  kvkit service create --name NAME [--network NET]... [--replicas N] [--endpoint-mode vip|dnsrr]
                       [--constraint node.labels.K==V]... [--restart-delay 5s] [--restart-max-attempts N]
                       [--detach] [IMAGE] [-- COMMAND ARG...]
  kvkit service ls [--format json]
  kvkit service ps SERVICE [--format json]
  kvkit service scale SERVICE=N... [--detach]
  kvkit service inspect SERVICE...
  kvkit service rm SERVICE...`;

/** `kvkit service ...` (argv after 'service') → exit code. */
export async function run(argv: string[], ctx: NetworkCliContext): Promise<number> {
  const [command, ...rest] = argv;
  return runCommand(ctx, USAGE, async (open) => {
    switch (command) {
      case 'create':
        return create(rest, ctx, open);
      case 'ls':
      case 'list':
        return list(rest, ctx, open);
      case 'ps':
        return ps(rest, ctx, open);
      case 'scale':
        return scale(rest, ctx, open);
      case 'inspect':
        return inspect(rest, ctx, open);
      case 'rm':
      case 'remove':
        return remove(rest, ctx, open);
      default:
        throw new CliUsageError(command ? `unknown command "service ${command}"` : 'service needs a command');
    }
  });
}

type Open = () => Promise<NetworkState>;

function replicaCount(text: string, what: string): number {
  if (!/^\d+$/.test(text))
    throw new CliUsageError(`invalid replicas value for ${what}: ${JSON.stringify(text)}`);
  return Number(text);
}

async function create(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  // Everything after `--` is the command the process executor runs, taken as it is.
  const dashes = argv.indexOf('--');
  const command = dashes < 0 ? undefined : argv.slice(dashes + 1);
  const { values, positionals } = parseArgs({
    args: dashes < 0 ? argv : argv.slice(0, dashes),
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      network: { type: 'string', multiple: true, default: [] },
      replicas: { type: 'string', default: '1' },
      'endpoint-mode': { type: 'string', default: 'vip' },
      constraint: { type: 'string', multiple: true, default: [] },
      'restart-delay': { type: 'string' },
      'restart-max-attempts': { type: 'string' },
      detach: { type: 'boolean', short: 'd', default: false },
      store: { type: 'string' },
    },
  });
  if (!values.name) throw new CliUsageError('service create needs --name');
  if (positionals.length > 1)
    throw new CliUsageError(`service create takes one IMAGE, got ${positionals.join(' ')}`);
  if (command !== undefined && command.length === 0)
    throw new CliUsageError('nothing after --: give the COMMAND');
  const restartDelay = values['restart-delay'];
  const maxAttempts = values['restart-max-attempts'];
  if (maxAttempts !== undefined && !/^\d+$/.test(maxAttempts))
    throw new CliUsageError(`invalid --restart-max-attempts ${JSON.stringify(maxAttempts)}: a whole number`);
  const net = await open();
  const service = await net.createService({
    name: values.name,
    networks: values.network,
    replicas: replicaCount(values.replicas, '--replicas'),
    endpointMode: values['endpoint-mode'] as EndpointMode,
    ...(positionals[0] ? { image: positionals[0] } : {}),
    ...(values.constraint.length > 0 ? { constraints: values.constraint } : {}),
    ...(command ? { command } : {}),
    ...(restartDelay !== undefined
      ? { restartDelayMs: restartDelay === '0' ? 0 : parseDuration(restartDelay, '--restart-delay') }
      : {}),
    ...(maxAttempts !== undefined ? { restartMaxAttempts: Number(maxAttempts) } : {}),
  });
  ctx.stdout(service.id);
  return values.detach ? 0 : converge(net, service.name, ctx);
}

/** Waits until the service's tasks are allocated or stuck, with a progress line per pass; says which. */
async function converge(net: NetworkState, name: string, ctx: NetworkCliContext): Promise<number> {
  const outcome = await waitForAllocation(net, name, (allocated, total) =>
    ctx.stdout(`overall progress: ${allocated} out of ${total} tasks allocated`),
  );
  if (outcome.allocated === outcome.total) {
    ctx.stdout(`verify: Service ${name} converged (${outcome.total} tasks pending task scheduling)`);
    return 0;
  }
  ctx.stderr(
    `${name}: ${outcome.total - outcome.allocated} of ${outcome.total} tasks could not be allocated: ${outcome.reasons.join('; ')}`,
  );
  return 1;
}

async function list(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { format: { type: 'string' }, store: { type: 'string' } },
  });
  const net = await open();
  const services = await net.listServices();
  const tasks = await net.listTasks();
  const rows = services.map((s) => {
    const mine = tasks.filter((t) => t.serviceId === s.id);
    const allocated = mine.filter((t) => t.state !== 'new').length;
    return { service: s, replicas: `${allocated}/${s.replicas}` };
  });
  if (values.format === 'json') {
    for (const { service: s, replicas } of rows) {
      ctx.stdout(
        JSON.stringify({
          ID: shortId(s.id),
          Name: s.name,
          Mode: 'replicated',
          Replicas: replicas,
          Image: s.image ?? '',
        }),
      );
    }
    return 0;
  }
  ctx.stdout(
    formatTable(
      ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE'],
      rows.map(({ service: s, replicas }) => [shortId(s.id), s.name, 'replicated', replicas, s.image ?? '']),
    ),
  );
  return 0;
}

async function ps(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { format: { type: 'string' }, store: { type: 'string' } },
  });
  if (positionals.length === 0) throw new CliUsageError('service ps needs a SERVICE');
  const net = await open();
  const nodes = new Map((await net.listNodes()).map((n) => [n.id, n.hostname]));
  const lines: Record<string, unknown>[] = [];
  for (const name of positionals) {
    const service = await net.inspectService(name);
    // Each slot's current task, then the tasks it replaced (docker's `\_ ` lines).
    let slot = 0;
    for (const task of await net.listTasks({ service: service.id, history: true })) {
      const line = dockerTask(task, service.name, service.image);
      line.Node = task.nodeId ? (nodes.get(task.nodeId) ?? shortId(task.nodeId)) : '';
      if (task.slot === slot) line.Name = `\\_ ${line.Name}`;
      slot = task.slot;
      lines.push(line);
    }
  }
  if (values.format === 'json') {
    for (const line of lines) ctx.stdout(JSON.stringify(line));
    return 0;
  }
  ctx.stdout(
    formatTable(
      ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ADDRESSES', 'ERROR'],
      lines.map((l) => [
        shortId(String(l.ID)),
        String(l.Name),
        String(l.Image),
        String(l.Node),
        String(l.DesiredState),
        String(l.CurrentState),
        (l.Addresses as string[]).join(','),
        l.Error ? `"${l.Error}"` : '',
      ]),
    ),
  );
  return 0;
}

async function scale(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { detach: { type: 'boolean', short: 'd', default: false }, store: { type: 'string' } },
  });
  if (positionals.length === 0) throw new CliUsageError('service scale needs SERVICE=REPLICAS');
  const targets = positionals.map((arg) => {
    const eq = arg.indexOf('=');
    if (eq <= 0)
      throw new CliUsageError(`invalid scale specifier ${JSON.stringify(arg)}: expected SERVICE=REPLICAS`);
    return { name: arg.slice(0, eq), replicas: replicaCount(arg.slice(eq + 1), arg) };
  });
  const net = await open();
  let code = 0;
  for (const { name, replicas } of targets) {
    await net.scaleService(name, replicas);
    ctx.stdout(`${name} scaled to ${replicas}`);
    if (!values.detach) code = Math.max(code, await converge(net, name, ctx));
  }
  return code;
}

function inspect(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  return inspectEach(argv, ctx, open, 'service inspect', async (net, name) =>
    dockerService(await net.inspectService(name)),
  );
}

function remove(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  return removeEach(argv, ctx, open, 'service rm', (net, name) => net.removeService(name));
}
