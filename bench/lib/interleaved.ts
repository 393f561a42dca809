import { type BenchRow, measure } from './measure.js';

type Measured = Awaited<ReturnType<typeof measure>> & { cpuUs: number };

/** A row with the client CPU each operation cost (user + system, this process): on a loaded
 * machine throughput swings with the neighbours; CPU per operation shows the client's own cost. */
export interface InterleavedRow extends BenchRow {
  cpuUsPerOp: number;
}

/** Passes measured in this process: each numbers its operations apart from all others. */
let passes = 0;

export interface InterleavedOptions {
  subject: string;
  op: string;
  concurrency: number;
  /** Measuring time of each variant in all, split over the rounds (ms). */
  durationMs: number;
  /** Rounds of two passes each, the second in reverse order (a, b, b, a, ...). Default 3. */
  rounds?: number;
}

/**
 * Measures variants of one operation side by side: in rounds of two passes, the order reversed
 * every other pass, so drift on a busy machine (a neighbour's load, a database that grows) falls
 * on all alike; each variant's passes pooled into one row (total operations over total time,
 * latency percentiles averaged).
 */
export async function compareInterleaved(
  options: InterleavedOptions,
  variants: Record<string, (i: number) => Promise<unknown>>,
): Promise<InterleavedRow[]> {
  const rounds = options.rounds ?? 3;
  const slice = { concurrency: options.concurrency, durationMs: options.durationMs / (2 * rounds) };
  const names = Object.keys(variants);
  const measured = new Map<string, Measured[]>(names.map((name) => [name, []]));
  for (let pass = 0; pass < 2 * rounds; pass++) {
    for (const name of pass % 2 === 0 ? names : [...names].reverse()) {
      // Every pass numbers its operations apart, so create-if-absent keys never repeat.
      const offset = ++passes * 1e9;
      const cpu = process.cpuUsage();
      const result = await measure(slice, (i) => variants[name](offset + i));
      const used = process.cpuUsage(cpu);
      measured.get(name)?.push({ ...result, cpuUs: used.user + used.system });
    }
  }
  return names.map((via) => ({
    subject: options.subject,
    op: options.op,
    concurrency: options.concurrency,
    via,
    ...pooled(measured.get(via) ?? []),
  }));
}

function pooled(runs: Measured[]): Omit<InterleavedRow, 'subject' | 'op' | 'concurrency' | 'via'> {
  const ops = runs.reduce((sum, r) => sum + r.ops, 0);
  const secs = runs.reduce((sum, r) => sum + r.ops / r.opsPerSec, 0);
  const mean = (pick: (r: Measured) => number) =>
    Math.round((runs.reduce((sum, r) => sum + pick(r), 0) / runs.length) * 1000) / 1000;
  return {
    ops,
    opsPerSec: Math.round(ops / secs),
    p50Ms: mean((r) => r.p50Ms),
    p99Ms: mean((r) => r.p99Ms),
    // Includes the few warm-up operations measure() does not count.
    cpuUsPerOp: Math.round(runs.reduce((sum, r) => sum + r.cpuUs, 0) / ops),
  };
}
