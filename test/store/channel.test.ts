import { describe, expect, it } from 'vitest';
import { Channel } from '../../src/store/channel.js';

describe('Channel', () => {
  it('delivers pushed values in order and ends after them', async () => {
    const c = new Channel<number>();
    c.push(1);
    c.push(2);
    c.end();
    const out: number[] = [];
    for await (const v of c) out.push(v);
    expect(out).toEqual([1, 2]);
  });

  it('keeps only the newest unread value when latestOnly', async () => {
    const c = new Channel<number>({ latestOnly: true });
    for (let i = 0; i < 5; i++) c.push(i);
    expect(await c.next()).toEqual({ value: 4, done: false });
  });

  it('resolves a waiting consumer with done when the signal aborts, and calls onEnd once', async () => {
    const stop = new AbortController();
    let ended = 0;
    const c = new Channel<number>({ signal: stop.signal, onEnd: () => ended++ });
    const pending = c.next();
    stop.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    c.end();
    expect(ended).toBe(1);
  });

  it('rejects a waiting consumer when failed', async () => {
    const c = new Channel<number>();
    const pending = c.next();
    c.fail(new Error('boom'));
    await expect(pending).rejects.toThrow('boom');
  });
});
