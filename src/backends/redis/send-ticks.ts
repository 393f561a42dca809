/**
 * The sweep ticks at which a connection's calls in flight were sent, oldest first. Redis answers
 * a connection's calls in order, so each reply settles the oldest call and the head is the tick
 * of the call that has waited longest: one number per call, where a timer or a promise per call
 * would cost the hot path (bench/backends/redis.ts).
 */
export class SendTicks {
  #ticks = new Uint32Array(64);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(tick: number): void {
    if (this.#size === this.#ticks.length) this.#grow();
    this.#ticks[(this.#head + this.#size) & (this.#ticks.length - 1)] = tick;
    this.#size++;
  }

  /** Drops the oldest (a reply came). */
  shift(): void {
    if (this.#size === 0) return;
    this.#head = (this.#head + 1) & (this.#ticks.length - 1);
    this.#size--;
  }

  /** The tick of the oldest call in flight; undefined when none is. */
  oldest(): number | undefined {
    return this.#size === 0 ? undefined : this.#ticks[this.#head];
  }

  #grow(): void {
    const grown = new Uint32Array(this.#ticks.length * 2);
    for (let i = 0; i < this.#size; i++) grown[i] = this.#ticks[(this.#head + i) & (this.#ticks.length - 1)];
    this.#ticks = grown;
    this.#head = 0;
  }
}
