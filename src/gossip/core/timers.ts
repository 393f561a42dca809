/** One scheduled callback; `cancel()` makes it a no-op and lets go of it. */
export interface TimerHandle {
  readonly at: number;
  cancel(): void;
}

interface Timer extends TimerHandle {
  seq: number;
  run: () => void;
  cancelled: boolean;
  /** Still in the heap (not yet run, popped or dropped). */
  queued: boolean;
}

const noop = (): void => {};

/** Below this many cancelled timers the heap is never rebuilt (rebuilding costs O(n)). */
const COMPACT_MIN = 1024;

/**
 * The core's timers on its own virtual clock: a min-heap ordered by (due time, insertion),
 * so runs are deterministic. The driver asks `next()` when to call `tick` again.
 *
 * A cancelled timer stays in the heap until it is due or until cancelled ones are more than
 * half of it, when the heap is rebuilt without them: a suspicion re-armed at every
 * confirmation and refuted within a second leaves one dead timer per step, each due only
 * at the suspicion's long timeout, and at 4,700 members under loss those ran to gigabytes.
 */
export class TimerHeap {
  private heap: Timer[] = [];
  private seq = 0;
  private cancelledCount = 0;

  /** Timers in the heap, cancelled ones not yet dropped included. */
  get size(): number {
    return this.heap.length;
  }

  /** Timers that will still run. */
  get live(): number {
    return this.heap.length - this.cancelledCount;
  }

  schedule(at: number, run: () => void): TimerHandle {
    const owner = this;
    const timer: Timer = {
      at,
      seq: this.seq++,
      run,
      cancelled: false,
      queued: true,
      cancel() {
        if (this.cancelled) return;
        this.cancelled = true;
        this.run = noop;
        if (this.queued) owner.onCancel();
      },
    };
    const heap = this.heap;
    heap.push(timer);
    this.siftUp(heap.length - 1);
    return timer;
  }

  /** Due time of the earliest live timer, or Infinity. */
  next(): number {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop();
    return this.heap.length > 0 ? this.heap[0].at : Number.POSITIVE_INFINITY;
  }

  /** Runs every timer due at or before `now`, in order (timers they schedule for `now` run too). */
  runDue(now: number): void {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > now) return;
      this.pop();
      if (!top.cancelled) top.run();
    }
  }

  private onCancel(): void {
    this.cancelledCount++;
    if (this.cancelledCount >= COMPACT_MIN && this.cancelledCount * 2 > this.heap.length) this.compact();
  }

  /** Drops every cancelled timer: a sorted array is a valid min-heap. */
  private compact(): void {
    for (const t of this.heap) if (t.cancelled) t.queued = false;
    this.heap = this.heap.filter((t) => t.queued).sort((a, b) => (before(a, b) ? -1 : 1));
    this.cancelledCount = 0;
  }

  private pop(): void {
    const heap = this.heap;
    const first = heap[0];
    first.queued = false;
    if (first.cancelled) this.cancelledCount--;
    const last = heap.pop() as Timer;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left], heap[smallest])) smallest = left;
      if (right < heap.length && before(heap[right], heap[smallest])) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
      i = smallest;
    }
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
