// The README's main job: put/get/watch/lock on one store, end to end, in a few seconds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../backends/index.js';
import { createStore } from '../store/create-store.js';
import { text } from '../store/values.js';

const dir = mkdtempSync(join(tmpdir(), 'kvkit-demo-'));
const log = (line: string) => console.log(line);

try {
  await using store = await createStore(`local://${dir}`);
  log(`store: local://${dir}  capabilities: ${JSON.stringify(store.capabilities)}`);

  await store.put('demo/config/greeting', 'hello');
  const pair = await store.get('demo/config/greeting');
  log(`get    ${pair.key} = ${text(pair)} (lastIndex ${pair.lastIndex})`);

  const updated = await store.atomicPut('demo/config/greeting', 'hello, kvkit', pair);
  log(`cas    ${updated.key} = ${text(updated)} (lastIndex ${updated.lastIndex})`);

  const stop = new AbortController();
  const seen: string[] = [];
  const watching = (async () => {
    for await (const list of store.watchTree('demo/nodes', { signal: stop.signal })) {
      seen.push(list.map((p) => p.key.split('/').pop()).join(',') || '(none)');
      if (list.length === 3) stop.abort();
    }
  })();
  for (const node of ['n1', 'n2', 'n3'])
    await store.put(`demo/nodes/${node}`, `10.0.0.${node.slice(1)}`, { ttl: 60_000 });
  await watching;
  log(`watch  demo/nodes saw: ${seen.join(' → ')}`);

  await using other = await createStore(`local://${dir}`);
  const lock = store.newLock('demo/leader', { value: 'store-1', ttl: 5_000 });
  await lock.lock();
  log(`lock   demo/leader held by ${text(await other.get('demo/leader'))}`);
  const contender = other.newLock('demo/leader', { value: 'store-2', ttl: 5_000 });
  const handedOver = contender.lock();
  await lock.unlock();
  await handedOver;
  log(`lock   handed over to ${text(await store.get('demo/leader'))}`);
  await contender.unlock();
  log('demo finished: put/get/cas/watch/lock all worked');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
