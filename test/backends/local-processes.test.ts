import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nextWithin, readUntil, text } from '../../src/conformance/helpers.js';
import { createStore, type Store } from '../../src/index.js';

const worker = join(import.meta.dirname, 'local-worker.ts');
let dir: string;
const children: ChildProcess[] = [];
const stores: Store[] = [];

function start(
  job: string,
  arg = '',
): {
  child: ChildProcess;
  lines: string[];
  waitFor: (line: string) => Promise<void>;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', worker, dir, job, arg], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines: string[] = [];
  const waiters: { line: string; resolve: () => void }[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const w of waiters.filter((w) => w.line === line)) w.resolve();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = (line: string) =>
    lines.includes(line)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ line, resolve }));
  return { child, lines, waitFor, exited };
}

async function open(): Promise<Store> {
  const store = await createStore(`local://${dir}`);
  stores.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvkit-local-proc-'));
});

afterEach(async () => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(stores.splice(0).map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('local backend across processes', () => {
  it('loses no update when four processes increment one counter by compare-and-swap', async () => {
    const workers = Array.from({ length: 4 }, () => start('count', '50'));
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0, 0]);
    const store = await open();
    expect(text(await store.get('shared/counter'))).toBe('200');
  }, 60_000);

  it('keeps every acknowledged write after the writer is killed with SIGKILL', async () => {
    const writer = start('write-acked');
    await writer.waitFor('ack 200');
    writer.child.kill('SIGKILL');
    await writer.exited;
    const acked = writer.lines.filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4)));
    const store = await open();
    const keys = new Set((await store.list('acked')).map((p) => p.key));
    const missing = acked.filter((i) => !keys.has(`acked/${String(i).padStart(6, '0')}`));
    expect(acked.length).toBeGreaterThan(200);
    expect(missing).toEqual([]);
  }, 60_000);

  it('hands a lock held by a killed process to a waiter in another process after its ttl', async () => {
    const holder = start('hold-lock', '1000');
    await holder.waitFor('locked');
    const store = await open();
    expect(text(await store.get('shared/lock'))).toBe(`pid-${holder.child.pid}`);
    const waiter = store.newLock('shared/lock', { value: 'waiter', ttl: 1000 });
    let acquired = false;
    const acquiring = waiter.lock().then(() => {
      acquired = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(acquired).toBe(false);
    holder.child.kill('SIGKILL');
    await acquiring;
    expect(text(await store.get('shared/lock'))).toBe('waiter');
    await waiter.unlock();
  }, 60_000);

  it("sees another process's writes in a watch (crossProcessWatch)", async () => {
    const store = await open();
    expect(store.capabilities.crossProcessWatch).toBe(true);
    const stop = new AbortController();
    const iter = store.watch('shared/watched', { signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(iter, 5000)).value).toBeNull();
    const writer = start('put', 'from-another-process');
    expect(await writer.exited).toBe(0);
    const seen = await readUntil(iter, (s) => text(s) === 'from-another-process', 10_000);
    stop.abort();
    expect(text(seen.at(-1) ?? null)).toBe('from-another-process');
  }, 60_000);
});
