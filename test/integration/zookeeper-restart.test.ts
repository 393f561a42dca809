import { describe, expect, it } from 'vitest';
import { delay, eventually, nextWithin, readUntil, text } from '../../src/conformance/helpers.js';
import { createStore, type KVPair } from '../../src/index.js';
import { entriesOf, eventuallyPut, useServer } from './server-fixture.js';
import { requireDocker } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const docker = await requireDocker();

describe.skipIf(!docker)('zookeeper backend across server restarts', () => {
  const zookeeper = useServer('zookeeper', 'zk');
  const open = zookeeper.open;

  it('resumes watch and watchTree after a restart and ends at the true final state', async () => {
    const watcher = await open();
    await watcher.put('restart/k', 'v0');
    await watcher.put('restart/dir/a', 'a0');
    const stop = new AbortController();
    const watch = watcher.watch('restart/k', { signal: stop.signal })[Symbol.asyncIterator]();
    const tree = watcher.watchTree('restart/dir', { signal: stop.signal })[Symbol.asyncIterator]();
    expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe('v0');
    expect(entriesOf((await nextWithin(tree, 10_000)).value as KVPair[])).toEqual(['restart/dir/a=a0']);

    await zookeeper.server().restart();
    // Written by another store at once, while the watching store may still be reconnecting.
    const writer = await open();
    await eventuallyPut(writer, 'restart/k', 'v1');
    await writer.put('restart/k', 'v2');
    await writer.put('restart/dir/b', 'b1');
    await writer.delete('restart/dir/a');

    const seen = await readUntil(watch, (s) => text(s) === 'v2', 60_000);
    const lists = await readUntil(tree, (l) => entriesOf(l).join() === 'restart/dir/b=b1', 60_000);
    stop.abort();
    expect(text(seen.at(-1) ?? null)).toBe('v2');
    expect(entriesOf(lists.at(-1) ?? [])).toEqual(['restart/dir/b=b1']);
  }, 180_000);

  it('resumes a watch on a new session after an outage longer than the session timeout, and the lock is lost', async () => {
    const watcher = await open();
    const writer = await open();
    await watcher.put('outage/k', 'before');
    const lost = await watcher.newLock('outage/lock', { ttl: watcher.capabilities.ttl!.minMs }).lock();
    const stop = new AbortController();
    const watch = watcher.watch('outage/k', { signal: stop.signal })[Symbol.asyncIterator]();
    expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe('before');

    await zookeeper.server().stop();
    await delay(watcher.capabilities.ttl!.minMs + 1000); // the session times out meanwhile
    await zookeeper.server().start();
    await eventuallyPut(writer, 'outage/k', 'after');

    const seen = await readUntil(watch, (s) => text(s) === 'after', 60_000);
    stop.abort();
    expect(text(seen.at(-1) ?? null)).toBe('after');
    expect(text(await watcher.get('outage/k'))).toBe('after');
    expect(lost.aborted).toBe(true);
    // The restarted server gives old sessions a full timeout before it expires them.
    const ttl = watcher.capabilities.ttl!;
    expect(
      await eventually(async () => !(await writer.exists('outage/lock')), 2 * ttl.minMs + ttl.granularityMs),
    ).toBe(true);
  }, 180_000);

  it('answers NOT_REACHABLE, never hangs, while the server is down', async () => {
    const store = await open(1000);
    await store.put('down/k', 'v');
    await zookeeper.server().stop();
    try {
      const hung = () => delay(10_000).then(() => 'hung');
      const opening = createStore({
        backend: 'zk',
        endpoints: [zookeeper.server().endpoint],
        connectTimeoutMs: 1000,
      });
      expect(await Promise.race([opening.catch((e) => e.code), hung()])).toBe('NOT_REACHABLE');
      for (const call of [
        () => store.get('down/k'),
        () => store.put('down/k', 'w'),
        () => store.list('down'),
      ]) {
        expect(
          await Promise.race([
            call().then(
              () => 'answered',
              (e) => e.code,
            ),
            hung(),
          ]),
        ).toBe('NOT_REACHABLE');
      }
    } finally {
      await zookeeper.server().start();
    }
    // Serves again once its session is back (the reconnect backs off up to 2 s: no race on it).
    expect(
      await eventually(async () => text(await store.get('down/k').catch(() => null)) === 'v', 60_000),
    ).toBe(true);
  }, 180_000);
});
