import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * What `import 'kvkit'` costs. Each test runs a fresh Node process (through tsx, on src/) that
 * records every module the ESM loader resolves (a module.register hook), every CommonJS module
 * in require.cache and every native addon in the process report, then does one thing with kvkit.
 */

const run = promisify(execFile);

/** Packages that must load only for the backend or feature that needs them. */
const HEAVY = [
  'lmdb',
  '@lmdb/',
  '@peculiar/x509',
  '@peculiar/asn1',
  'tsyringe',
  'etcd3',
  '@grpc/',
  'consul',
  'node-zookeeper-client',
  'msgpackr',
  '@msgpackr-extract/',
];

interface Loaded {
  packages: string[];
  nativeAddons: string[];
  reflectMetadata: string[];
  result: unknown;
}

/** Runs `body` (an async function body given `kvkit`, the src/index.ts module) in a fresh process. */
async function loadedBy(body: string): Promise<Loaded> {
  const hooks = `let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  port.postMessage(resolved.url);
  return resolved;
}`;
  const script = `
import { register, createRequire } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const urls = new Set();
const { port1, port2 } = new MessageChannel();
const done = 'data:text/javascript,export%20default%201';
let markSeen;
const seen = new Promise((resolve) => { markSeen = resolve; });
port1.on('message', (url) => { urls.add(url); if (url === done) markSeen(); });
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}), {
  data: { port: port2 }, transferList: [port2],
});
const kvkit = await import(${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)});
const result = await (async (kvkit) => { ${body} })(kvkit);
await import(done); // the hook reports in order: once this is seen, everything before it is too
await seen;
port1.close();
for (const file of Object.keys(createRequire(import.meta.url).cache)) urls.add('file://' + file);
const packages = new Set();
for (const url of urls) {
  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(url);
  if (m) packages.add(m[1]);
}
process.stdout.write(JSON.stringify({
  packages: [...packages].sort(),
  nativeAddons: process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node')),
  reflectMetadata: ['getMetadata', 'defineMetadata', 'getOwnMetadata', 'metadata'].filter((f) => f in Reflect),
  result,
}));
`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url).pathname,
    timeout: 60_000,
  });
  return JSON.parse(stdout) as Loaded;
}

function heavyIn(packages: string[]): string[] {
  return packages.filter((p) => HEAVY.some((h) => (h.endsWith('/') ? p.startsWith(h) : p === h)));
}

describe("import { createStore } from 'kvkit'", () => {
  it('with a memory URL loads no native module, no backend client, no x509 stack and no polyfill', async () => {
    const loaded = await loadedBy(`
      const store = await kvkit.createStore('memory:');
      await store.put('a', 'b');
      const pair = await store.get('a');
      await store.close();
      return new TextDecoder().decode(pair.value);
    `);
    expect(loaded.result).toBe('b');
    expect(heavyIn(loaded.packages)).toEqual([]);
    expect(loaded.nativeAddons).toEqual([]);
    expect(loaded.reflectMetadata).toEqual([]);
  });

  it('loads LMDB once a local:// store is opened (the recorder sees what a backend loads)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kvkit-imports-'));
    try {
      const loaded = await loadedBy(`
        const store = await kvkit.createStore(${JSON.stringify(`local://${dir}`)});
        await store.close();
        return null;
      `);
      expect(loaded.packages).toContain('lmdb');
      expect(loaded.nativeAddons.some((f) => f.includes('lmdb'))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loads the x509 stack only to make certificates, and leaves Reflect as it was', async () => {
    const loaded = await loadedBy(`
      const made = await kvkit.generateClusterCertificates({ nodes: ['n1'] });
      return made.certs.n1.cert.startsWith('-----BEGIN CERTIFICATE-----');
    `);
    expect(loaded.result).toBe(true);
    expect(loaded.packages).toContain('@peculiar/x509');
    expect(loaded.reflectMetadata).toEqual([]);
  });
});
