import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** One measured line of a benchmark table. */
export interface BenchRow {
  /** What was measured, e.g. `etcd`, `raft-embedded`. */
  subject: string;
  /** The operation, e.g. `put`, `get`, `atomicPut`. */
  op: string;
  concurrency: number;
  /** `kvkit` or `raw` (or any other variant compared side by side). */
  via: string;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface MeasureOptions {
  concurrency: number;
  /** Stop after this long (ms). Default 3000. */
  durationMs?: number;
  /** Or after this many operations in total, whichever comes first. */
  maxOps?: number;
  /** Operations run (and discarded) before measuring. Default 2 × concurrency. */
  warmupOps?: number;
}

/**
 * Runs `op` from `concurrency` callers in a closed loop and returns throughput and latency
 * percentiles. `op(i)` receives a unique sequence number so callers can write unique keys.
 */
export async function measure(
  options: MeasureOptions,
  op: (i: number) => Promise<unknown>,
): Promise<Pick<BenchRow, 'ops' | 'opsPerSec' | 'p50Ms' | 'p99Ms'>> {
  const { concurrency, durationMs = 3000, maxOps = Number.POSITIVE_INFINITY } = options;
  let seq = 0;
  const warmup = options.warmupOps ?? concurrency * 2;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (seq < warmup) await op(seq++);
    }),
  );
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + durationMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline && done < maxOps) {
        const t0 = performance.now();
        await op(seq++);
        latencies.push(performance.now() - t0);
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    ops: done,
    opsPerSec: Math.round(done / elapsed),
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
  };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Prints rows as an aligned table. */
export function printTable(title: string, rows: Record<string, unknown>[]): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i])).join('  ');
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) console.log(line(row));
}

/** Writes results as JSON under bench/results/NAME-<timestamp>.json and returns the path. */
export function writeResults(name: string, data: unknown): string {
  const file = join(
    import.meta.dirname,
    '..',
    'results',
    `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/**
 * One line per subject, operation and concurrency with two variants side by side (default
 * `raw` as the baseline and `kvkit` as the candidate) and their throughput ratio.
 */
export function ratioTable(
  rows: BenchRow[],
  baseline = 'raw',
  candidate = 'kvkit',
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const c of rows.filter((r) => r.via === candidate)) {
    const b = rows.find(
      (r) =>
        r.via === baseline && r.subject === c.subject && r.op === c.op && r.concurrency === c.concurrency,
    );
    if (!b) continue;
    out.push({
      subject: c.subject,
      op: c.op,
      concurrency: c.concurrency,
      [`${baseline} ops/s`]: b.opsPerSec,
      [`${candidate} ops/s`]: c.opsPerSec,
      ratio: (c.opsPerSec / b.opsPerSec).toFixed(3),
      [`${baseline} p50 ms`]: b.p50Ms,
      [`${candidate} p50 ms`]: c.p50Ms,
      [`${baseline} p99 ms`]: b.p99Ms,
      [`${candidate} p99 ms`]: c.p99Ms,
    });
  }
  return out;
}
