/**
 * Runs `kvkit raft ...` in a child process for the multi-process tests, exactly as the CLI
 * entry point does (SIGINT/SIGTERM abort the context signal), without depending on how
 * src/cli/main.ts dispatches command groups.
 */
import '../../src/backends/index.js';
import type { CliContext } from '../../src/cli/context.js';
import { run } from '../../src/cli/raft.js';
import { createStore } from '../../src/store/create-store.js';

const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
const ctx: CliContext = {
  openStore: () => createStore(process.env.KVKIT_STORE ?? 'raft://127.0.0.1:7101'),
  stdout: (t) => process.stdout.write(`${t}\n`),
  stderr: (t) => process.stderr.write(`${t}\n`),
  signal: stop.signal,
};
run(process.argv.slice(2), ctx).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `kvkit: ${(err as { code?: string })?.code ?? 'ERROR'}: ${(err as Error)?.message ?? err}\n`,
    );
    process.exitCode = 1;
  },
);
