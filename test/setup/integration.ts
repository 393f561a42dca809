/**
 * vitest globalSetup of the integration project: makes `npm test` self-sufficient on a fresh
 * machine. scripts/test-setup.sh brings up what is missing (Debian packages; as root, a stopped
 * dockerd started or Debian's docker.io installed; server images pulled or built locally) and
 * names the images; where all is there it costs a few docker calls. The variables it prints are
 * set here, so every test worker reads them. Not root and no Docker: fails at once, saying how
 * to get it. KVKIT_SKIP_INTEGRATION=1 skips it all (the integration files then skip too).
 *
 * Every container of this run is labelled with KVKIT_RUN_ID (set here unless `.ci/run` set it),
 * and removed at the end of the run, so a crashed test file leaves none behind and another
 * person's run on the same machine is never touched.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DOCKER_HELP } from '../integration/servers.js';

const SCRIPTS = join(import.meta.dirname, '..', '..', 'scripts');
const SETUP_TIMEOUT_MS = 1_800_000; // a cold machine installs Docker and builds four images
const EXIT_NO_DOCKER = 3;

export default function setup(): (() => void) | undefined {
  if (process.env.KVKIT_SKIP_INTEGRATION === '1') return undefined;
  process.env.KVKIT_RUN_ID ||= `test-${process.pid}-${Date.now().toString(36)}`;
  const run = spawnSync(join(SCRIPTS, 'test-setup.sh'), {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: SETUP_TIMEOUT_MS,
  });
  if (run.status === EXIT_NO_DOCKER) throw new Error(DOCKER_HELP);
  if (run.status !== 0) {
    throw new Error(
      `scripts/test-setup.sh failed (${run.error?.message ?? `exit ${run.status}`}): the integration ` +
        'tests cannot get their servers; its output above says why. See docs/integration.md.',
    );
  }
  for (const line of run.stdout.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
  const runId = process.env.KVKIT_RUN_ID;
  return () => {
    spawnSync(join(SCRIPTS, 'cleanup-containers.sh'), ['--run', runId], {
      stdio: 'inherit',
      timeout: 120_000,
    });
  };
}
