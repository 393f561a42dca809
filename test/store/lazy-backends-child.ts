// Opens one store in a fresh process and prints the packages that were loaded to do it.
// Run by test/store/lazy-backends.test.ts.

import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

const [url] = process.argv.slice(2);
const resolved: string[] = [];
const { port1, port2 } = new MessageChannel();
port1.on('message', (resolvedUrl: string) => resolved.push(resolvedUrl));
const hook = `let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`, {
  data: { port: port2 },
  transferList: [port2],
});

const { createStore } = await import('../../src/store/index.js');
await import('../../src/backends/index.js');
const store = await createStore(url);
await store.put('k', 'v');
await store.close();
await new Promise((resolve) => setTimeout(resolve, 200));
port1.close();
const packages = new Set(
  resolved.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []),
);
process.stdout.write(`${JSON.stringify([...packages].sort())}\n`);
