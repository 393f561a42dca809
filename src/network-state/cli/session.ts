import { KVError } from '../../store/errors.js';
import type { Store } from '../../store/types.js';
import { type NetworkState, openNetworkState } from '../network-state.js';
import { CliUsageError } from './table.js';

/** What the CLI modules get from kvkit's main (a subset of src/cli/context.ts's CliContext). */
export interface NetworkCliContext {
  openStore: () => Promise<Store>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  signal?: AbortSignal;
}

/**
 * Runs a command with network state opened on the selected store, closing both afterwards, and
 * turns errors into docker-style exit codes: 2 with the usage for a bad command line, 1 with
 * `Error: CODE: message` for a KVError.
 */
export async function runCommand(
  ctx: NetworkCliContext,
  usage: string,
  command: (open: () => Promise<NetworkState>) => Promise<number>,
): Promise<number> {
  let store: Store | null = null;
  let net: NetworkState | null = null;
  try {
    return await command(async () => {
      store = await ctx.openStore();
      net = await openNetworkState(store);
      return net;
    });
  } catch (err) {
    if (err instanceof CliUsageError) {
      ctx.stderr(`${err.message}\n\n${usage}`);
      return 2;
    }
    if (err instanceof KVError) {
      ctx.stderr(`Error: ${err.code}: ${err.message}`);
      return 1;
    }
    if ((err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) {
      ctx.stderr(`${(err as Error).message}\n\n${usage}`);
      return 2;
    }
    throw err;
  } finally {
    await (net as NetworkState | null)?.close();
    await (store as Store | null)?.close();
  }
}
