import { Backoff } from '../store/backoff.js';
import { isKVError } from '../store/errors.js';
import { anySignal, sleep, whenAborted } from '../store/signals.js';
import type { Context } from './context.js';
import { newId } from './ids.js';
import type { AllocationResult } from './types.js';

export interface AllocatorHooks {
  /** One serialized pass (shared with `allocate()`). */
  pass(): Promise<AllocationResult>;
  reconcile(): Promise<unknown>;
  /** Called with an error a pass or the watch hit; the loop carries on after a backoff. */
  onError?(err: unknown): void;
}

/**
 * The long-running allocator: waits to lead through the store's lock, reconciles, then runs a
 * pass whenever the events key changes (and every retryIntervalMs), until `signal` aborts. If
 * leadership is lost it goes back to waiting. Leading only avoids duplicate work: every pass is
 * safe without it.
 */
export async function runAllocatorLoop(
  ctx: Context,
  hooks: AllocatorHooks,
  signal: AbortSignal,
): Promise<void> {
  const backoff = new Backoff({ initialMs: 50, maxMs: 2000 });
  while (!signal.aborted) {
    const locker = ctx.store.newLock(ctx.layout.leader, { value: newId(12), ttl: ctx.settings.leaderTtlMs });
    let lost: AbortSignal;
    try {
      lost = await locker.lock({ signal });
    } catch (err) {
      if (signal.aborted || isKVError(err, 'CLOSED')) return;
      hooks.onError?.(err);
      await sleep(backoff.nextDelayMs(), signal).catch(() => undefined);
      continue;
    }
    backoff.reset();
    const leading = anySignal(signal, lost);
    try {
      await lead(ctx, hooks, leading);
    } catch (err) {
      if (isKVError(err, 'CLOSED')) return;
      throw err;
    } finally {
      if (!lost.aborted) await locker.unlock().catch(() => undefined);
    }
  }
}

async function lead(ctx: Context, hooks: AllocatorHooks, leading: AbortSignal): Promise<void> {
  let dirty = true;
  let wake: (() => void) | null = null;
  const poke = () => {
    dirty = true;
    wake?.();
  };
  const stopped = whenAborted(leading);
  const timer = setInterval(poke, ctx.settings.retryIntervalMs);
  timer.unref();
  const watching = watchEvents(ctx, hooks, leading, poke);
  const backoff = new Backoff({ initialMs: 50, maxMs: 2000 });
  try {
    // Reconcile before the first pass; if that fails, try again before each pass until it works.
    let reconciled = false;
    while (!leading.aborted) {
      if (!reconciled) reconciled = await guarded(hooks, () => hooks.reconcile());
      if (!dirty) {
        await Promise.race([new Promise<void>((resolve) => (wake = resolve)), stopped]);
        wake = null;
        continue;
      }
      dirty = false;
      if (await guarded(hooks, () => hooks.pass())) {
        backoff.reset();
      } else {
        dirty = true;
        await sleep(backoff.nextDelayMs(), leading).catch(() => undefined);
      }
    }
  } finally {
    clearInterval(timer);
    await watching;
  }
}

/** Pokes the loop on every change of the events directory; restarts the watch if it fails. */
async function watchEvents(
  ctx: Context,
  hooks: AllocatorHooks,
  leading: AbortSignal,
  poke: () => void,
): Promise<void> {
  const backoff = new Backoff({ initialMs: 50, maxMs: 2000 });
  while (!leading.aborted) {
    try {
      for await (const _ of ctx.store.watchTree(ctx.layout.events, { signal: leading })) {
        backoff.reset();
        poke();
      }
      if (leading.aborted) return;
    } catch (err) {
      if (leading.aborted || isKVError(err, 'CLOSED')) return;
      hooks.onError?.(err);
    }
    await sleep(backoff.nextDelayMs(), leading).catch(() => undefined);
  }
}

async function guarded(hooks: AllocatorHooks, work: () => Promise<unknown>): Promise<boolean> {
  try {
    await work();
    return true;
  } catch (err) {
    if (isKVError(err, 'CLOSED')) throw err;
    hooks.onError?.(err);
    return false;
  }
}
