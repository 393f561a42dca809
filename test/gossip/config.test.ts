import { describe, expect, it } from 'vitest';
import {
  GOSSIP_DEFAULTS,
  pushPullScaleMs,
  resolveConfig,
  retransmitLimit,
  suspicionTimeoutMs,
} from '../../src/gossip/core/config.js';
import { suspicionTimeoutFor } from '../../src/gossip/core/suspicion.js';

describe('gossip defaults and formulas (memberlist LAN, NetworkDB)', () => {
  it('uses memberlist LAN defaults: probe 1 s, timeout 500 ms, 3 indirect, gossip to 3 every 200 ms', () => {
    expect(GOSSIP_DEFAULTS).toMatchObject({
      probeIntervalMs: 1000,
      probeTimeoutMs: 500,
      indirectChecks: 3,
      gossipIntervalMs: 200,
      gossipNodes: 3,
      suspicionMult: 4,
      suspicionMaxTimeoutMult: 6,
      awarenessMaxMultiplier: 8,
      pushPullIntervalMs: 30_000,
      tombstoneLifetimeMs: 30 * 60_000,
      bulkSyncIntervalMs: 30_000,
      packetBudgetBytes: 1371,
    });
  });

  it('suspects for 4·log10(N) s, at least 4 s: 12 s at N = 1,000', () => {
    expect(suspicionTimeoutMs(4, 1000, 1000)).toBe(12_000);
    expect(suspicionTimeoutMs(4, 100, 1000)).toBe(8_000);
    expect(suspicionTimeoutMs(4, 3, 1000)).toBe(4_000);
  });

  it('starts a suspicion 6× longer and shortens it to the minimum as confirmations arrive (Lifeguard)', () => {
    const min = 12_000;
    const max = 6 * min;
    expect(suspicionTimeoutFor(0, 2, min, max)).toBe(max);
    expect(suspicionTimeoutFor(1, 2, min, max)).toBeLessThan(max);
    expect(suspicionTimeoutFor(1, 2, min, max)).toBeGreaterThan(min);
    expect(suspicionTimeoutFor(2, 2, min, max)).toBe(min);
    expect(suspicionTimeoutFor(0, 0, min, max)).toBe(min);
  });

  it('retransmits 4·⌈log10(N+1)⌉ times and scales push-pull above 32 members', () => {
    expect(retransmitLimit(4, 100)).toBe(12);
    expect(retransmitLimit(4, 4700)).toBe(16);
    expect(pushPullScaleMs(30_000, 32)).toBe(30_000);
    expect(pushPullScaleMs(30_000, 1000)).toBe(180_000);
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => resolveConfig({ probeTimeoutMs: 2000 })).toThrow(RangeError);
    expect(() => resolveConfig({ gossipNodes: -1 })).toThrow(RangeError);
    expect(() => resolveConfig({ packetBudgetBytes: 100 })).toThrow(RangeError);
  });
});
