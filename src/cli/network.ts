import { parseArgs } from 'node:util';
import { Subnet } from '../network-state/cidr.js';
import { dockerNetwork } from '../network-state/cli/docker-json.js';
import { inspectEach, removeEach } from '../network-state/cli/named-commands.js';
import { type NetworkCliContext, runCommand } from '../network-state/cli/session.js';
import { CliUsageError, formatTable, parsePairs, shortId } from '../network-state/cli/table.js';
import type { NetworkState } from '../network-state/network-state.js';
import type { NetworkDriver, SubnetRequest } from '../network-state/types.js';

const USAGE = `Usage:
  kvkit network create [--driver overlay|bridge|macvlan|ipvlan|host] [--subnet CIDR]... [--ip-range CIDR]...
                       [--gateway IP]... [--aux-address NAME=IP]... [--opt K=V]... [--label K=V]...
                       [--attachable] [--internal] NAME
  kvkit network ls [--format json]
  kvkit network inspect NAME|ID...
  kvkit network rm NAME|ID...`;

/** `kvkit network ...` (argv after 'network') → exit code. */
export async function run(argv: string[], ctx: NetworkCliContext): Promise<number> {
  const [command, ...rest] = argv;
  return runCommand(ctx, USAGE, async (open) => {
    switch (command) {
      case 'create':
        return create(rest, ctx, open);
      case 'ls':
      case 'list':
        return list(rest, ctx, open);
      case 'inspect':
        return inspect(rest, ctx, open);
      case 'rm':
      case 'remove':
        return remove(rest, ctx, open);
      default:
        throw new CliUsageError(command ? `unknown command "network ${command}"` : 'network needs a command');
    }
  });
}

type Open = () => Promise<NetworkState>;

async function create(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      driver: { type: 'string', short: 'd', default: 'overlay' },
      subnet: { type: 'string', multiple: true, default: [] },
      'ip-range': { type: 'string', multiple: true, default: [] },
      gateway: { type: 'string', multiple: true, default: [] },
      'aux-address': { type: 'string', multiple: true, default: [] },
      opt: { type: 'string', short: 'o', multiple: true, default: [] },
      label: { type: 'string', multiple: true, default: [] },
      attachable: { type: 'boolean', default: false },
      internal: { type: 'boolean', default: false },
      store: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new CliUsageError('network create needs exactly one NAME');
  const subnets = matchSubnets(
    values.subnet,
    values['ip-range'],
    values.gateway,
    parsePairs(values['aux-address'], 'aux-address'),
  );
  const net = await open();
  const network = await net.createNetwork({
    name: positionals[0],
    driver: values.driver as NetworkDriver,
    ...(subnets.length > 0 ? { subnets } : {}),
    options: parsePairs(values.opt, 'option'),
    labels: parsePairs(values.label, 'label'),
    attachable: values.attachable,
    internal: values.internal,
  });
  ctx.stdout(network.id);
  return 0;
}

/**
 * Pairs each --ip-range, --gateway and --aux-address with the --subnet that contains it, as
 * docker does; one that fits no subnet is a usage error naming it.
 */
function matchSubnets(
  subnets: string[],
  ranges: string[],
  gateways: string[],
  aux: Record<string, string>,
): SubnetRequest[] {
  const requests: SubnetRequest[] = subnets.map((subnet) => ({ subnet }));
  const parsed = subnets.map((s) => Subnet.parse(s, 'subnet'));
  const home = (text: string, what: string, isRange: boolean) => {
    const i = parsed.findIndex((subnet) => {
      try {
        return isRange
          ? subnet.contains(Subnet.parse(text, what))
          : subnet.contains(Subnet.parse(`${text}/${subnet.family === 4 ? 32 : 128}`));
      } catch {
        return false;
      }
    });
    if (i < 0) throw new CliUsageError(`no matching subnet for ${what} ${text}`);
    return requests[i];
  };
  for (const range of ranges) {
    const request = home(range, 'ip-range', true);
    if (request.ipRange)
      throw new CliUsageError(
        `cannot configure multiple ranges (${request.ipRange}, ${range}) on subnet ${request.subnet}`,
      );
    request.ipRange = range;
  }
  for (const gateway of gateways) {
    const request = home(gateway, 'gateway', false);
    if (request.gateway)
      throw new CliUsageError(
        `cannot configure multiple gateways (${request.gateway}, ${gateway}) on subnet ${request.subnet}`,
      );
    request.gateway = gateway;
  }
  for (const [name, address] of Object.entries(aux)) {
    const request = home(address, 'aux-address', false);
    request.auxAddresses = { ...request.auxAddresses, [name]: address };
  }
  return requests;
}

async function list(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { format: { type: 'string' }, store: { type: 'string' } },
  });
  const networks = await (await open()).listNetworks();
  if (values.format === 'json') {
    for (const n of networks) {
      ctx.stdout(
        JSON.stringify({
          ID: shortId(n.id),
          Name: n.name,
          Driver: n.driver,
          Scope: n.scope,
          Subnets: n.subnets.map((s) => s.subnet),
        }),
      );
    }
    return 0;
  }
  ctx.stdout(
    formatTable(
      ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET'],
      networks.map((n) => [
        shortId(n.id),
        n.name,
        n.driver,
        n.scope,
        n.subnets.map((s) => s.subnet).join(','),
      ]),
    ),
  );
  return 0;
}

function inspect(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  return inspectEach(argv, ctx, open, 'network inspect', async (net, name) =>
    dockerNetwork(await net.inspectNetwork(name)),
  );
}

function remove(argv: string[], ctx: NetworkCliContext, open: Open): Promise<number> {
  return removeEach(argv, ctx, open, 'network rm', (net, name) => net.removeNetwork(name));
}
