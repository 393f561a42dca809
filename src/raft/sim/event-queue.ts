/**
 * Virtual time: a priority queue of callbacks ordered by (time, insertion order), so a run
 * is a pure function of its seed.
 */
interface ScheduledEvent {
  time: number;
  seq: number;
  /** Null once cancelled (skipped when due, not counted as an event). */
  run: (() => void) | null;
}

export class EventQueue {
  /** Current virtual time in milliseconds. */
  now = 0;
  private heap: ScheduledEvent[] = [];
  private seq = 0;
  /** Callbacks deferred to the end of the event being run (see `defer`). */
  private deferred: (() => void)[] | null = null;

  /**
   * Runs `run` after `delayMs` of virtual time (0: after everything already due now).
   * Returns a function that cancels it.
   */
  schedule(delayMs: number, run: () => void): () => void {
    const event: ScheduledEvent = { time: this.now + Math.max(0, delayMs), seq: this.seq++, run };
    this.push(event);
    return () => {
      event.run = null;
    };
  }

  /**
   * Runs `run` once the current event is over, as part of it (Node's setImmediate after an
   * I/O callback); outside an event, as the next event now.
   */
  defer(run: () => void): void {
    if (this.deferred) this.deferred.push(run);
    else this.schedule(0, run);
  }

  /** Pops and runs the next event (and what it deferred) if it is due by `until`. False when none is. */
  runNext(until: number): boolean {
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.time > until) return false;
      this.pop();
      if (next.run === null) continue;
      this.now = next.time;
      const deferred: (() => void)[] = [];
      this.deferred = deferred;
      try {
        next.run();
        for (let i = 0; i < deferred.length; i++) deferred[i]();
      } finally {
        this.deferred = null;
      }
      return true;
    }
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
