/**
 * Node discovery and leadership on a real server (etcd, Consul, ZooKeeper): the same behaviours
 * the unit tests check on memory, local and raft, with TTLs at the backend's declared floor.
 * Used by test/integration/discovery-*.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, nextWithin, readUntil, text } from '../../src/conformance/helpers.js';
import { type BackendName, createStore, openDiscovery, type Store } from '../../src/index.js';
import { type RunningServer, requireDocker, type ServerKind, startServer } from '../integration/servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const docker = await requireDocker();

/**
 * A describe block with one real server for the file and the shared discovery behaviours on
 * it; `extra` adds backend-specific tests (given the server and a store opener).
 */
export function describeDiscoveryOn(
  kind: ServerKind,
  backend: BackendName,
  expiryWithinMs: (ttlMs: number) => number,
  extra?: (server: () => RunningServer, open: () => Promise<Store>) => void,
): void {
  describe.skipIf(!docker)(`discovery on ${kind}`, () => {
    let server: RunningServer | undefined;
    const running = () => {
      if (!server) throw new Error(`${kind} is not running`);
      return server;
    };
    const open = (): Promise<Store> => createStore({ backend, endpoints: [running().endpoint] });
    beforeAll(async () => {
      server = await startServer(kind);
    }, 300_000);
    afterAll(async () => {
      await server?.close();
    }, 60_000);
    discoveryOnBackend({ open, expiryWithinMs });
    extra?.(running, open);
  });
}

export interface BackendSuiteOptions {
  /** A new store on the server (another "process"); the suite closes what it opens. */
  open: () => Promise<Store>;
  /** How long past the TTL expiry may take on this backend (Consul: up to 2 × TTL). */
  expiryWithinMs: (ttlMs: number) => number;
}

/**
 * The TTL of registrations and campaigns that must stay alive while the test looks at them: a
 * starved machine can miss a 2 s lease's keep-alives, and these tests end by a clean leave.
 */
const LIVE_TTL_MS = 20_000;

export function discoveryOnBackend(o: BackendSuiteOptions): void {
  const ttlOf = (store: Store, atLeastMs: number) => Math.max(store.capabilities.ttl?.minMs ?? 0, atLeastMs);

  it('register writes docker/nodes/<addr> with the address; close deletes it at once', async () => {
    await using store = await o.open();
    const disco = openDiscovery(store);
    const reg = await disco.register('10.1.0.1:2375', { heartbeatMs: 500, ttlMs: ttlOf(store, LIVE_TTL_MS) });
    expect(text(await store.get('docker/nodes/10.1.0.1:2375'))).toBe('10.1.0.1:2375');
    expect(await disco.listNodes()).toEqual(['10.1.0.1:2375']);
    await reg.close();
    expect(await store.exists('docker/nodes/10.1.0.1:2375')).toBe(false);
    await disco.close();
  });

  it('a registration whose process stops disappears once its TTL passes', async () => {
    await using observer = await o.open();
    const dying = await o.open();
    const ttlMs = ttlOf(dying, 2000);
    await openDiscovery(dying).register('10.1.0.2:2375', { heartbeatMs: 500, ttlMs });
    const disco = openDiscovery(observer);
    expect(await disco.listNodes()).toEqual(['10.1.0.2:2375']);
    await dying.close(); // no clean leave
    const gone = await eventually(
      async () => (await disco.listNodes()).length === 0,
      o.expiryWithinMs(ttlMs),
    );
    expect(gone).toBe(true);
  });

  it('watchNodes yields the list at once and after each change', async () => {
    await using store = await o.open();
    await using disco = openDiscovery(store);
    const stop = new AbortController();
    const lists = disco.watchNodes({ signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(lists, 20_000)).value).toEqual([]);
    const reg = await disco.register('10.1.0.3:2375', { heartbeatMs: 500, ttlMs: ttlOf(store, LIVE_TTL_MS) });
    await readUntil(lists, (l) => l.length === 1, 20_000);
    await reg.close();
    await readUntil(lists, (l) => l.length === 0, 20_000);
    stop.abort();
  });

  it('a second candidate is elected once the leader resigns; follow sees each leader', async () => {
    await using store = await o.open();
    await using disco = openDiscovery(store);
    const watch = new AbortController();
    const leaders = disco.follow('swarm/leader', { signal: watch.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(leaders, 20_000)).value).toBe(null);
    const ttlMs = ttlOf(store, LIVE_TTL_MS);
    const first = new AbortController();
    const a = disco.campaign('swarm/leader', 'a', { ttlMs, signal: first.signal })[Symbol.asyncIterator]();
    await readUntil(a, (s) => s, 20_000);
    await readUntil(leaders, (v) => v === 'a', 20_000);
    const second = new AbortController();
    const b = disco.campaign('swarm/leader', 'b', { ttlMs, signal: second.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(b, 20_000)).value).toBe(false);
    const elected = readUntil(b, (s) => s, 20_000);
    first.abort();
    await elected;
    await readUntil(leaders, (v) => v === 'b', 20_000);
    second.abort();
    await readUntil(leaders, (v) => v === null, 20_000);
    watch.abort();
  });

  it('a leader whose process stops is replaced once its TTL passes', async () => {
    await using store = await o.open();
    const dying = await o.open();
    const ttlMs = ttlOf(dying, 2000);
    const a = openDiscovery(dying).campaign('swarm/leader2', 'a', { ttlMs })[Symbol.asyncIterator]();
    await readUntil(a, (s) => s, 20_000);
    const stop = new AbortController();
    await using disco = openDiscovery(store);
    const b = disco.campaign('swarm/leader2', 'b', { ttlMs, signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(b, 20_000)).value).toBe(false);
    await dying.close();
    expect((await nextWithin(b, o.expiryWithinMs(ttlMs))).value).toBe(true);
    stop.abort();
  });
}
