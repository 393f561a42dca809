import { afterEach, describe, expect, it, vi } from 'vitest';
import { type LockHost, RaftLock } from '../../src/backends/raft/raft-lock.js';
import type { KvCommand, KvResult } from '../../src/raft/kv/index.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** A lock host that grants everything at once and counts the keep-alives it is sent. */
function countingHost(): LockHost & { keepAlives: number } {
  const closing = new AbortController();
  const host = {
    clientId: 'c1',
    closing: closing.signal,
    keepAlives: 0,
    async submit(cmd: KvCommand): Promise<KvResult> {
      if (cmd.op === 'leaseKeepAlive') host.keepAlives++;
      if (cmd.op === 'leaseGrant') return { ok: true, revision: 1, lease: 7 };
      if (cmd.op === 'lockAcquire') return { ok: true, revision: 2, acquired: true };
      return { ok: true, revision: 2 };
    },
    async waitForLock(): Promise<void> {},
    watchLock: () => () => {},
  };
  return host;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RaftLock keep-alives', () => {
  it('refreshes a lock with a 30-day TTL every 10 days, not every millisecond', async () => {
    vi.useFakeTimers();
    const host = countingHost();
    const lock = new RaftLock(host, 'L', new Uint8Array(), 30 * DAY_MS);
    await lock.lock();
    await vi.advanceTimersByTimeAsync(9 * DAY_MS);
    expect(host.keepAlives).toBe(0);
    await vi.advanceTimersByTimeAsync(1 * DAY_MS);
    expect(host.keepAlives).toBe(1);
    await lock.unlock();
  });

  it('refreshes a lock with a 1-year TTL within a third of its TTL', async () => {
    vi.useFakeTimers();
    const host = countingHost();
    const lock = new RaftLock(host, 'L', new Uint8Array(), 365 * DAY_MS);
    await lock.lock();
    await vi.advanceTimersByTimeAsync(DAY_MS);
    expect(host.keepAlives).toBe(0);
    await vi.advanceTimersByTimeAsync(120 * DAY_MS);
    expect(host.keepAlives).toBeGreaterThanOrEqual(1);
    expect(host.keepAlives).toBeLessThanOrEqual(5);
    await lock.unlock();
  });

  it('refreshes a short-TTL lock three times per TTL', async () => {
    vi.useFakeTimers();
    const host = countingHost();
    const lock = new RaftLock(host, 'L', new Uint8Array(), 3000);
    await lock.lock();
    await vi.advanceTimersByTimeAsync(3000);
    expect(host.keepAlives).toBe(3);
    await lock.unlock();
  });
});
