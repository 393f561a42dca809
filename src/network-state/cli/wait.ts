import type { NetworkState } from '../network-state.js';

/** Where a service's allocation ended. */
export interface AllocationOutcome {
  allocated: number;
  total: number;
  /** The messages of tasks still waiting, most common first. */
  reasons: string[];
}

/**
 * Runs allocation passes until every task of the service is allocated or a pass makes no
 * progress (the rest is stuck), calling `progress` after each pass. Passes are safe even while
 * another process runs the allocator.
 */
export async function waitForAllocation(
  net: NetworkState,
  service: string,
  progress: (allocated: number, total: number) => void,
): Promise<AllocationOutcome> {
  for (;;) {
    const pass = await net.allocate();
    const tasks = await net.listTasks({ service });
    const waiting = tasks.filter((t) => t.state === 'new');
    const allocated = tasks.length - waiting.length;
    progress(allocated, tasks.length);
    if (waiting.length === 0 || pass.allocated === 0) {
      const counts = new Map<string, number>();
      for (const t of waiting) counts.set(t.message, (counts.get(t.message) ?? 0) + 1);
      const reasons = [...counts].sort((a, b) => b[1] - a[1]).map(([m]) => m);
      return { allocated, total: tasks.length, reasons };
    }
  }
}
