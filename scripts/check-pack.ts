/**
 * Checks the package a user installs: `npm pack` of a fresh build, installed into a new empty
 * project from the tarball. Installing kvkit alone must not bring keyv or unstorage (optional
 * peers); with them installed next to it, `kvkit/keyv` and `kvkit/unstorage` must import and
 * work (a keyv cache and an unstorage storage on `memory:`), as must `kvkit` itself.
 *
 *   npx tsx scripts/check-pack.ts        (exit code 0 when all holds; about a minute, mostly npm)
 *
 * Everything happens in a temp dir that is removed at the end; packages come from the registry
 * (or npm's cache).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'kvkit-pack-'));

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
}

function check(what: string, ok: boolean): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) process.exitCode = 1;
}

try {
  run('npm', ['run', 'build', '--silent'], ROOT);
  run('npm', ['pack', '--silent', '--pack-destination', work], ROOT);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack made no tarball');
  const app = join(work, 'app');
  run('mkdir', ['-p', app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const npmInstall = ['install', '--no-audit', '--no-fund', '--prefer-offline'];

  run('npm', [...npmInstall, join(work, tarball)], app);
  check('kvkit installs from the tarball', existsSync(join(app, 'node_modules/kvkit/dist/index.js')));
  check('installing kvkit does not pull keyv in', !existsSync(join(app, 'node_modules/keyv')));
  check('installing kvkit does not pull unstorage in', !existsSync(join(app, 'node_modules/unstorage')));

  run('npm', [...npmInstall, 'keyv@^5.5.4', 'unstorage@^1.17.0'], app);
  writeFileSync(
    join(app, 'use.mjs'),
    `import Keyv from 'keyv';
import { createStorage } from 'unstorage';
import { createStore } from 'kvkit';
import { KeyvKvkit } from 'kvkit/keyv';
import kvkitDriver from 'kvkit/unstorage';

const store = await createStore('memory://shared');
const keyv = new Keyv({ store: new KeyvKvkit('memory://shared'), namespace: 'cache' });
await keyv.set('user:1', { name: 'ada' }, 60000);
const cached = await keyv.get('user:1');
const storage = createStorage({ driver: kvkitDriver({ url: 'memory://shared', base: 'nitro' }) });
await storage.setItem('a:b', { ok: true });
const item = await storage.getItem('a:b');
const raw = JSON.parse(new TextDecoder().decode((await store.get('nitro/a/b')).value));
console.log(JSON.stringify({ cached, item, raw }));
await storage.dispose();
await keyv.disconnect();
await store.close();
`,
  );
  const out = run('node', ['use.mjs'], app).trim();
  check(
    'kvkit/keyv and kvkit/unstorage import and work in a clean project',
    out === JSON.stringify({ cached: { name: 'ada' }, item: { ok: true }, raw: { ok: true } }),
  );
} catch (err) {
  const e = err as { message?: string; stderr?: string };
  console.log(`FAIL ${e.message ?? err}\n${e.stderr ?? ''}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
