import { describe, expect, it } from 'vitest';
import { SendTicks } from '../../src/backends/redis/send-ticks.js';

describe('SendTicks (the send ticks of a redis connection calls in flight)', () => {
  it('has no oldest tick when nothing is in flight', () => {
    const ticks = new SendTicks();
    expect(ticks.oldest()).toBeUndefined();
    ticks.shift();
    expect(ticks.size).toBe(0);
  });

  it('gives the oldest tick first, one per reply, across wrap-around and growth', () => {
    const ticks = new SendTicks();
    const model: number[] = [];
    let next = 0;
    // Interleave sends and replies so the ring wraps, then outgrows its first 64 slots.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round * 3; i++) {
        ticks.push(next);
        model.push(next++);
      }
      for (let i = 0; i < round * 2; i++) {
        expect(ticks.oldest()).toBe(model[0]);
        ticks.shift();
        model.shift();
      }
      expect(ticks.size).toBe(model.length);
    }
    while (model.length > 0) {
      expect(ticks.oldest()).toBe(model.shift());
      ticks.shift();
    }
    expect(ticks.oldest()).toBeUndefined();
  });
});
