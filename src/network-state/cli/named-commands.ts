import { parseArgs } from 'node:util';
import type { NetworkState } from '../network-state.js';
import type { NetworkCliContext } from './session.js';
import { CliUsageError } from './table.js';

/** Opens network state on the selected store (once, on first use). */
export type OpenNetworkState = () => Promise<NetworkState>;

/** The NAME|ID arguments of `inspect`/`rm`; at least one, else a usage error saying `what`. */
function namesOf(argv: string[], what: string): string[] {
  const { positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { format: { type: 'string' }, store: { type: 'string' } },
  });
  if (positionals.length === 0) throw new CliUsageError(`${what} needs at least one NAME`);
  return positionals;
}

/** `inspect NAME...`: a JSON array of docker-shaped objects, as `docker ... inspect` prints. */
export async function inspectEach(
  argv: string[],
  ctx: NetworkCliContext,
  open: OpenNetworkState,
  what: string,
  read: (net: NetworkState, name: string) => Promise<Record<string, unknown>>,
): Promise<number> {
  const names = namesOf(argv, what);
  const net = await open();
  const found: Record<string, unknown>[] = [];
  for (const name of names) found.push(await read(net, name));
  ctx.stdout(JSON.stringify(found, null, 4));
  return 0;
}

/** `rm NAME...`: removes each in order, printing its name as docker does. */
export async function removeEach(
  argv: string[],
  ctx: NetworkCliContext,
  open: OpenNetworkState,
  what: string,
  remove: (net: NetworkState, name: string) => Promise<unknown>,
): Promise<number> {
  const names = namesOf(argv, what);
  const net = await open();
  for (const name of names) {
    await remove(net, name);
    ctx.stdout(name);
  }
  return 0;
}
