// A separate process on a local store, driven by test/backends/local-processes.test.ts.

import { casIncrement } from '../../src/conformance/helpers.js';
import { createStore } from '../../src/index.js';

const [dir, job, arg] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);
say(`pid ${process.pid}`);
const store = await createStore(`local://${dir}`);

switch (job) {
  case 'count':
    for (let i = 0; i < Number(arg); i++) await casIncrement(store, 'shared/counter');
    break;
  case 'write-acked':
    for (let i = 0; ; i++) {
      await store.put(`acked/${String(i).padStart(6, '0')}`, `value-${i}`);
      say(`ack ${i}`);
    }
  case 'hold-lock':
    await store.newLock('shared/lock', { value: `pid-${process.pid}`, ttl: Number(arg) }).lock();
    say('locked');
    await new Promise(() => {});
    break;
  case 'open': // opening (and closing) is the whole job
    break;
  case 'put':
    await store.put('shared/watched', arg);
    break;
}
await store.close();
say('done');
