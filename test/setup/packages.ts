/**
 * vitest globalSetup of the unit project: the Debian packages tests run for real (dig, dnsmasq,
 * dnsperf, redis-server, redis-cli), installed when missing and running as root
 * (scripts/install-test-packages.sh; one `command -v` per tool when all are there).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'install-test-packages.sh');

export default function setup(): void {
  const run = spawnSync(SCRIPT, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000 });
  if (run.status !== 0) {
    throw new Error(
      `scripts/install-test-packages.sh failed (${run.error?.message ?? `exit ${run.status}`})`,
    );
  }
}
