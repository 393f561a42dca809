import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { queryGossipMember, startGossip } from '../gossip/index.js';
import { whenAborted } from '../store/signals.js';
import { formatColumns } from './columns.js';
import type { CliContext } from './context.js';
import { UsageError } from './kv.js';

const usage = `kvkit gossip members|networks [--member HOST:PORT] [--keys-file FILE] [--json]
       kvkit gossip entries NETWORK [--table TABLE] [--member HOST:PORT] [--keys-file FILE] [--json]
       kvkit gossip run --name NAME --bind HOST:PORT [--join HOST:PORT,...] [--network NET,...]
                        [--advertise HOST:PORT] [--keys-file FILE]

--member is any gossip member (default $KVKIT_GOSSIP_MEMBER, then 127.0.0.1:7946); the query
travels on its TCP port, sealed with the keys of --keys-file (default $KVKIT_GOSSIP_KEYS_FILE):
one key a line, base64 or hex, 16 or 32 bytes, primary first.`;

/**
 * `kvkit gossip ...`: what a gossip member sees (members, networks with their statistics,
 * a network's entries), asked over the member's own port; and `run`, one member in the
 * foreground until SIGINT/SIGTERM (then it leaves the cluster).
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = usageOnError(() =>
    parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        member: { type: 'string' },
        'keys-file': { type: 'string' },
        json: { type: 'boolean' },
        table: { type: 'string' },
        name: { type: 'string' },
        bind: { type: 'string' },
        join: { type: 'string' },
        network: { type: 'string' },
        advertise: { type: 'string' },
        store: { type: 'string' },
      },
    }),
  );
  const keysFile = values['keys-file'] ?? process.env.KVKIT_GOSSIP_KEYS_FILE;
  const keys = keysFile ? readKeys(keysFile) : undefined;
  const member = values.member ?? process.env.KVKIT_GOSSIP_MEMBER ?? '127.0.0.1:7946';
  switch (command) {
    case 'members': {
      const list = (await queryGossipMember(member, { what: 'members', keys })) as {
        name: string;
        addr: string;
        state: string;
        incarnation: number;
      }[];
      if (values.json) ctx.stdout(JSON.stringify(list, null, 2));
      else {
        ctx.stdout(
          formatColumns([
            ['NAME', 'ADDRESS', 'STATE', 'INCARNATION'],
            ...list.map((m) => [m.name, m.addr, m.state, String(m.incarnation)]),
          ]),
        );
      }
      return 0;
    }
    case 'networks': {
      const list = (await queryGossipMember(member, { what: 'networks', keys })) as Record<string, unknown>[];
      if (values.json) ctx.stdout(JSON.stringify(list, null, 2));
      else {
        const columns = [
          'network',
          'joined',
          'members',
          'entries',
          'hidden',
          'tombstones',
          'queued',
          'syncs',
        ];
        ctx.stdout(
          formatColumns([
            columns.map((c) => c.toUpperCase()),
            ...list.map((s) => columns.map((c) => String(s[c]))),
          ]),
        );
      }
      return 0;
    }
    case 'entries': {
      const [network] = positionals;
      if (!network) throw new UsageError(usage);
      const list = (await queryGossipMember(member, {
        what: 'entries',
        network,
        table: values.table,
        keys,
      })) as {
        table: string;
        key: string;
        owner: string;
        value: string;
      }[];
      if (values.json) ctx.stdout(JSON.stringify(list, null, 2));
      else {
        ctx.stdout(
          formatColumns([
            ['TABLE', 'KEY', 'OWNER', 'VALUE'],
            ...list.map((e) => [e.table, e.key, e.owner, printable(e.value)]),
          ]),
        );
      }
      return 0;
    }
    case 'run':
      return runMember(values, keys, ctx);
    default:
      throw new UsageError(usage);
  }
}

async function runMember(
  values: { name?: string; bind?: string; join?: string; network?: string; advertise?: string },
  keys: Uint8Array[] | undefined,
  ctx: CliContext,
): Promise<number> {
  if (!values.name || !values.bind) throw new UsageError(usage);
  const g = await startGossip({
    name: values.name,
    bind: values.bind,
    join: values.join ? values.join.split(',').filter(Boolean) : undefined,
    advertise: values.advertise,
    keys,
    signal: ctx.signal,
    logger: (line) => ctx.stderr(line),
  });
  for (const network of (values.network ?? '').split(',').filter(Boolean)) await g.joinNetwork(network);
  ctx.stdout(`gossip member ${g.name} on ${g.address.host}:${g.address.port}`);
  await whenAborted(ctx.signal);
  // The abort made the member leave; wait for it to finish.
  await g.leave();
  return 0;
}

/** Keys, one a line (base64 or hex), primary first; the file's content is never printed. */
export function readKeys(file: string): Uint8Array[] {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) throw new UsageError(`${file} holds no keys`);
  return lines.map((line, i) => {
    const bytes =
      /^[0-9a-fA-F]+$/.test(line) && (line.length === 32 || line.length === 64)
        ? Buffer.from(line, 'hex')
        : Buffer.from(line, 'base64');
    if (bytes.byteLength !== 16 && bytes.byteLength !== 32) {
      throw new UsageError(`${file}: key on line ${i + 1} is not 16 or 32 bytes (base64 or hex)`);
    }
    return new Uint8Array(bytes);
  });
}

function printable(b64: string): string {
  const bytes = Buffer.from(b64, 'base64');
  const text = bytes.toString('utf8');
  return /^[\x20-\x7e]*$/.test(text) ? text : `base64:${b64}`;
}

function usageOnError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${usage}`);
  }
}
