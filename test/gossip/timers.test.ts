import { describe, expect, it } from 'vitest';
import { TimerHeap } from '../../src/gossip/core/timers.js';

describe('gossip core timers', () => {
  it('runs timers in due order, ties in the order they were scheduled, and skips cancelled ones', () => {
    const heap = new TimerHeap();
    const ran: string[] = [];
    heap.schedule(30, () => ran.push('c'));
    heap.schedule(10, () => ran.push('a1'));
    const gone = heap.schedule(20, () => ran.push('x'));
    heap.schedule(10, () => ran.push('a2'));
    gone.cancel();
    expect(heap.next()).toBe(10);
    heap.runDue(25);
    expect(ran).toEqual(['a1', 'a2']);
    heap.runDue(100);
    expect(ran).toEqual(['a1', 'a2', 'c']);
    expect(heap.next()).toBe(Number.POSITIVE_INFINITY);
  });

  it('does not keep cancelled timers: re-arming one timer a million times holds a bounded heap', () => {
    const heap = new TimerHeap();
    let fired = 0;
    let handle = heap.schedule(1e9, () => fired++);
    let largest = 0;
    for (let i = 0; i < 1_000_000; i++) {
      handle.cancel();
      handle = heap.schedule(1e9 + i, () => fired++);
      largest = Math.max(largest, heap.size);
    }
    expect(largest).toBeLessThan(4096);
    expect(heap.live).toBe(1);
    heap.runDue(2e9);
    expect(fired).toBe(1);
  });

  it('keeps its count right when a timer is cancelled after it ran or twice, and order across a rebuild', () => {
    const heap = new TimerHeap();
    const ran: number[] = [];
    const early = heap.schedule(1, () => ran.push(-1));
    heap.runDue(1);
    early.cancel();
    early.cancel();
    const handles = Array.from({ length: 5000 }, (_, i) => heap.schedule(10 + (i % 100), () => ran.push(i)));
    for (let i = 0; i < handles.length; i++) if (i % 5 !== 0) handles[i].cancel();
    expect(heap.live).toBe(1000);
    expect(heap.size).toBeLessThan(5000);
    heap.runDue(1000);
    const expected = Array.from({ length: 5000 }, (_, i) => i)
      .filter((i) => i % 5 === 0)
      .sort((a, b) => (a % 100) - (b % 100) || a - b);
    expect(ran).toEqual([-1, ...expected]);
    expect(heap.size).toBe(0);
    expect(heap.live).toBe(0);
  });
});
