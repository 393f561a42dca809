// Opens a local store in its own process and reports the outcome as one JSON line, so that
// test/backends/local-processes.test.ts sees a crash (SIGBUS, SIGSEGV) as the signal it is.
// Imports only the local backend: it starts once per damaged file.

import { openLocalStore } from '../../src/backends/local/index.js';

const [dir] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);
try {
  const store = await openLocalStore({ backend: 'local', path: dir });
  say(JSON.stringify({ opened: true, keys: (await store.list('')).length }));
  await store.close();
} catch (err) {
  const { code, message } = err as { code?: string; message: string };
  say(JSON.stringify({ opened: false, code, message }));
}
