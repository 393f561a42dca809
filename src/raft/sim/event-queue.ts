/**
 * Virtual time: a priority queue of callbacks ordered by (time, insertion order), so a run
 * is a pure function of its seed.
 */
interface ScheduledEvent {
  time: number;
  seq: number;
  run: () => void;
}

export class EventQueue {
  /** Current virtual time in milliseconds. */
  now = 0;
  private heap: ScheduledEvent[] = [];
  private seq = 0;

  /** Runs `run` after `delayMs` of virtual time (0: after everything already due now). */
  schedule(delayMs: number, run: () => void): void {
    this.push({ time: this.now + Math.max(0, delayMs), seq: this.seq++, run });
  }

  /** Pops and runs the next event if it is due by `until`. Returns false when none is. */
  runNext(until: number): boolean {
    const next = this.heap[0];
    if (next === undefined || next.time > until) return false;
    this.pop();
    this.now = next.time;
    next.run();
    return true;
  }

  private push(event: ScheduledEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop() as ScheduledEvent;
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

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
