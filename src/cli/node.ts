import { parseArgs } from 'node:util';
import { inspectEach, removeEach } from '../network-state/cli/named-commands.js';
import { type NetworkCliContext, runCommand } from '../network-state/cli/session.js';
import { CliUsageError, formatTable, parsePairs, shortId } from '../network-state/cli/table.js';
import type { Node, NodeAvailability } from '../network-state/types.js';

const USAGE = `Usage:
  kvkit node ls [--format json]
  kvkit node inspect NODE...
  kvkit node update [--availability active|pause|drain] [--label-add K=V]... [--label-rm K]... NODE
  kvkit node rm [--force] NODE...`;

/** `kvkit node ...` (argv after 'node') → exit code; docker's columns and words. */
export async function run(argv: string[], ctx: NetworkCliContext): Promise<number> {
  const [command, ...rest] = argv;
  return runCommand(ctx, USAGE, async (open) => {
    switch (command) {
      case 'ls':
      case 'list': {
        const { values } = parseArgs({
          args: rest,
          options: { format: { type: 'string' }, store: { type: 'string' } },
        });
        const nodes = await (await open()).listNodes();
        if (values.format === 'json') {
          for (const n of nodes) ctx.stdout(JSON.stringify(dockerNodeLine(n)));
          return 0;
        }
        ctx.stdout(
          formatTable(
            ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY'],
            nodes.map((n) => [shortId(n.id), n.hostname, capital(n.state), capital(n.availability)]),
          ),
        );
        return 0;
      }
      case 'inspect':
        return inspectEach(rest, ctx, open, 'node inspect', async (net, name) =>
          dockerNode(await net.inspectNode(name)),
        );
      case 'update': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            availability: { type: 'string' },
            'label-add': { type: 'string', multiple: true, default: [] },
            'label-rm': { type: 'string', multiple: true, default: [] },
            store: { type: 'string' },
          },
        });
        if (positionals.length !== 1) throw new CliUsageError('node update needs exactly one NODE');
        const net = await open();
        const labels = values['label-add'].length + values['label-rm'].length > 0;
        let next: Record<string, string> | undefined;
        if (labels) {
          next = {
            ...(await net.inspectNode(positionals[0])).labels,
            ...parsePairs(values['label-add'], '--label-add'),
          };
          for (const k of values['label-rm']) delete next[k];
        }
        await net.updateNode(positionals[0], {
          ...(values.availability !== undefined
            ? { availability: values.availability as NodeAvailability }
            : {}),
          ...(next ? { labels: next } : {}),
        });
        ctx.stdout(positionals[0]);
        return 0;
      }
      case 'rm':
      case 'remove': {
        const force = rest.includes('--force') || rest.includes('-f');
        const names = rest.filter((a) => a !== '--force' && a !== '-f');
        return removeEach(names, ctx, open, 'node rm', (net, name) => net.removeNode(name, { force }));
      }
      default:
        throw new CliUsageError(command ? `unknown command "node ${command}"` : 'node needs a command');
    }
  });
}

function capital(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function dockerNodeLine(n: Node): Record<string, string> {
  return { ID: n.id, Hostname: n.hostname, Status: capital(n.state), Availability: capital(n.availability) };
}

/** A node as `docker node inspect` prints it (the parts kvkit models). */
function dockerNode(n: Node): Record<string, unknown> {
  return {
    ID: n.id,
    CreatedAt: n.createdAt,
    Spec: { Labels: n.labels, Role: 'worker', Availability: n.availability },
    Description: { Hostname: n.hostname },
    Status: { State: n.state, Message: n.message, Addr: n.addr, Since: n.stateSince },
    HeartbeatPeriodMs: n.heartbeatPeriodMs,
  };
}
