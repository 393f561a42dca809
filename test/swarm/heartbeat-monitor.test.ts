import { describe, expect, it } from 'vitest';
import { HeartbeatMonitor } from '../../src/swarm/heartbeat-monitor.js';

describe('heartbeat monitor', () => {
  it('a node heard from is down after 3 missed periods, not before', () => {
    const m = new HeartbeatMonitor();
    m.beat('n', 1000, 0);
    expect(m.expired(2999)).toEqual([]);
    expect(m.expired(3000)).toEqual(['n']);
  });

  it('a node not heard from since the manager changed gets 6 periods', () => {
    const m = new HeartbeatMonitor();
    m.expect('n', 1000, 0);
    expect(m.expired(5999)).toEqual([]);
    expect(m.expired(6000)).toEqual(['n']);
  });

  it('every beat pushes the deadline back', () => {
    const m = new HeartbeatMonitor();
    m.beat('n', 1000, 0);
    m.beat('n', 1000, 2500);
    expect(m.expired(5000)).toEqual([]);
    expect(m.nextDeadline()).toBe(5500);
  });

  it('an expired node is reported once, until it beats again', () => {
    const m = new HeartbeatMonitor();
    m.beat('n', 1000, 0);
    expect(m.expired(3000)).toEqual(['n']);
    expect(m.expired(9000)).toEqual([]);
    expect(m.watching('n')).toBe(false);
  });
});
