import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLOCK_EVERY_MS, createKvStateMachine, LeaseExpiryClock } from '../../src/raft/kv/index.js';
import { DirectReplica } from './direct-replica.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('LeaseExpiryClock', () => {
  it('proposes the leader wall clock when it leads and every 30 s after, so idle sessions expire', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date', 'performance'] });
    vi.setSystemTime(1_700_000_000_000);
    const sm = createKvStateMachine();
    const clock = new LeaseExpiryClock(new DirectReplica(sm), sm);
    try {
      await vi.advanceTimersByTimeAsync(0);
      expect(sm.clockMs).toBe(1_700_000_000_000);
      await vi.advanceTimersByTimeAsync(CLOCK_EVERY_MS + 100);
      expect(sm.clockMs).toBeGreaterThanOrEqual(1_700_000_000_000 + CLOCK_EVERY_MS);
    } finally {
      clock.close();
    }
  });
});
