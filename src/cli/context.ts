import type { Store } from '../store/types.js';

/** What every CLI command module gets: how to open the selected store, and where to print. */
export interface CliContext {
  openStore: () => Promise<Store>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Aborts on SIGINT/SIGTERM, so long-running commands (watch, lock) end cleanly. */
  signal: AbortSignal;
}

/** A command group: `kvkit <group> ...argv` → exit code. */
export type CommandModule = { run: (argv: string[], ctx: CliContext) => Promise<number> };

/** The store address when neither --store nor KVKIT_STORE is given: the embedded Raft node's client port. */
export const DEFAULT_STORE_URL = 'raft://127.0.0.1:7101';
