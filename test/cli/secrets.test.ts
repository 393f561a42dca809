import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, '../../src/cli/main.ts');
const SECRET = 'hunter2';

/** Runs `kvkit ...args` as a real process; its exit code and everything it printed. */
function kvkit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
      env: { ...process.env, KVKIT_STORE: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, out });
    });
  });
}

describe('kvkit never prints a secret of its --store URL', () => {
  // Parse errors, then connect errors (nothing listens on 127.0.0.1:1), on every backend.
  const urls = [
    `etcd://h:1?password=${SECRET}&connectTimeoutMs=x`,
    `etcd://root:${SECRET}@h:1/a/path`,
    `nope://root:${SECRET}@h:1`,
    `etcd://root:${SECRET}@127.0.0.1:1?connectTimeoutMs=500`,
    `consul://127.0.0.1:1?token=${SECRET}&connectTimeoutMs=500`,
    `zk://root:${SECRET}@127.0.0.1:1?connectTimeoutMs=500`,
    `raft://root:${SECRET}@127.0.0.1:1?connectTimeoutMs=500`,
  ];

  it('in its error for a bad or unreachable store, given with --store or KVKIT_STORE', async () => {
    const runs = await Promise.all([
      ...urls.map(async (url) => ({ url, ...(await kvkit(['get', 'k', '--store', url])) })),
      (async () => {
        const url = `etcd://root:${SECRET}@h:1?bogus=1`;
        return { url, ...(await kvkit(['ls'], { KVKIT_STORE: url })) };
      })(),
    ]);
    for (const run of runs) {
      const shown = run.url.replace(SECRET, 'SECRET');
      expect({ url: shown, failed: run.code !== 0 && run.code !== null }).toEqual({
        url: shown,
        failed: true,
      });
      expect({ url: shown, leaked: run.out.includes(SECRET) }).toEqual({ url: shown, leaked: false });
      expect(run.out).toMatch(/kvkit: [A-Z_]+: /);
    }
  }, 180_000);
});
