/** One scheduled callback; `cancel()` makes it a no-op (it stays in the heap until due). */
export interface TimerHandle {
  readonly at: number;
  cancel(): void;
}

interface Timer extends TimerHandle {
  seq: number;
  run: () => void;
  cancelled: boolean;
}

/**
 * The core's timers on its own virtual clock: a min-heap ordered by (due time, insertion),
 * so runs are deterministic. The driver asks `next()` when to call `tick` again.
 */
export class TimerHeap {
  private heap: Timer[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  schedule(at: number, run: () => void): TimerHandle {
    const timer: Timer = {
      at,
      seq: this.seq++,
      run,
      cancelled: false,
      cancel() {
        this.cancelled = true;
      },
    };
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
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

  private pop(): void {
    const heap = this.heap;
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
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
