import type { KVPair, Store } from '../store/types.js';

/**
 * Settles as `promise` does, or rejects with "`what` within `ms` ms" if it has not settled by
 * then: a generous deadline against a hang, never a measure of speed.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the iterator's next value, failing with a clear message after `ms`. */
export function nextWithin<T>(
  iter: AsyncIterator<T>,
  ms: number,
  what = 'watch',
): Promise<IteratorResult<T>> {
  return within(iter.next(), ms, `${what} yielded nothing`);
}

/** Reads states from a watch until `done(state)` holds; returns every state seen. */
export async function readUntil<T>(
  iter: AsyncIterator<T>,
  done: (state: T) => boolean,
  ms: number,
): Promise<T[]> {
  const seen: T[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0)
      throw new Error(`watch did not reach the expected state within ${ms} ms; saw ${seen.length}`);
    const r = await nextWithin(iter, left);
    if (r.done) throw new Error('watch ended before reaching the expected state');
    seen.push(r.value);
    if (done(r.value)) return seen;
  }
}

/** Polls `check` until true or the deadline passes; returns whether it became true. */
export async function eventually(check: () => Promise<boolean>, ms: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await delay(everyMs);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function text(pair: KVPair | null): string | null {
  return pair === null ? null : new TextDecoder().decode(pair.value);
}

/** Counter increment by compare-and-swap, retried on conflict. */
export async function casIncrement(store: Store, key: string): Promise<void> {
  for (;;) {
    let current: KVPair | null = null;
    try {
      current = await store.get(key);
    } catch (err) {
      if ((err as { code?: string }).code !== 'KEY_NOT_FOUND') throw err;
    }
    const next = String(current ? Number(text(current)) + 1 : 1);
    try {
      await store.atomicPut(key, next, current);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'KEY_MODIFIED' && code !== 'KEY_EXISTS') throw err;
    }
  }
}

/** Expects `action` to fail with a KVError of `code`; returns the error. */
export async function failure(action: () => unknown): Promise<{ code?: string; message: string }> {
  try {
    await action();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
