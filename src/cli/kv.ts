import { parseArgs } from 'node:util';
import { whenAborted } from '../store/signals.js';
import { text } from '../store/values.js';
import type { CliContext } from './context.js';

const usage = `kvkit get KEY | put KEY VALUE [--ttl MS] | del KEY | ls [PREFIX] | watch KEY [--tree] | lock KEY [--ttl MS] [--value V]`;

/** The key-value commands, the same on every backend. */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      ttl: { type: 'string' },
      tree: { type: 'boolean' },
      value: { type: 'string' },
      format: { type: 'string' },
      store: { type: 'string' },
    },
  });
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  const json = values.format === 'json';
  const show = (pair: { key: string; value: Uint8Array; lastIndex: number } | null) =>
    pair === null
      ? json
        ? 'null'
        : '(absent)'
      : json
        ? JSON.stringify({ key: pair.key, value: text(pair), lastIndex: pair.lastIndex })
        : `${pair.key} = ${text(pair)}  (index ${pair.lastIndex})`;
  const need = (n: number) => {
    if (positionals.length < n) throw new UsageError(usage);
  };
  const store = await ctx.openStore();
  try {
    switch (command) {
      case 'get':
        need(1);
        ctx.stdout(json ? show(await store.get(positionals[0])) : text(await store.get(positionals[0])));
        return 0;
      case 'put':
        need(2);
        await store.put(positionals[0], positionals[1], { ttl });
        return 0;
      case 'del':
        need(1);
        await store.delete(positionals[0]);
        return 0;
      case 'ls':
        for (const pair of await store.list(positionals[0] ?? '')) ctx.stdout(show(pair));
        return 0;
      case 'watch':
        need(1);
        if (values.tree) {
          for await (const list of store.watchTree(positionals[0], { signal: ctx.signal })) {
            ctx.stdout(
              json
                ? JSON.stringify(list.map((p) => ({ key: p.key, value: text(p), lastIndex: p.lastIndex })))
                : `--- ${list.length} keys`,
            );
            if (!json) for (const pair of list) ctx.stdout(show(pair));
          }
        } else {
          for await (const state of store.watch(positionals[0], { signal: ctx.signal }))
            ctx.stdout(show(state));
        }
        return 0;
      case 'lock': {
        need(1);
        const lock = store.newLock(positionals[0], { ttl, value: values.value });
        const lost = await lock.lock({ signal: ctx.signal });
        ctx.stdout(`locked ${positionals[0]}; Ctrl-C releases it`);
        await Promise.race([whenAborted(ctx.signal), whenAborted(lost)]);
        if (lost.aborted) {
          ctx.stderr(`lost lock ${positionals[0]}`);
          return 1;
        }
        await lock.unlock();
        ctx.stdout(`released ${positionals[0]}`);
        return 0;
      }
      default:
        throw new UsageError(usage);
    }
  } finally {
    await store.close();
  }
}

export class UsageError extends Error {}
