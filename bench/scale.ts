/**
 * Swarm3k on one machine (`npm run bench:scale`, issue 18): N simulated nodes in agent processes
 * (the `none` executor, real Store traffic), a join storm, a steady state, a burst of two services
 * on two overlays, an agent-process SIGKILL and a Raft-leader SIGKILL — on the embedded 3-node
 * Raft store, a 3-member etcd or a 3-member Consul, with the kvkit design or the libkv-era one.
 *
 *   npm run bench:scale -- --quick                       # 500 nodes / 1,000 tasks on raft
 *   npm run bench:scale -- --nodes 4700 --tasks 10000 --store raft --pattern kvkit
 *   npm run bench:scale -- --report                      # only redraw docs/scale.svg and the table in docs/scale.md
 *
 * Options: --nodes N (500), --tasks N (10000; 1000 with --quick), --heartbeat MS (5000; 2000 with
 * --quick), --store raft|etcd|consul, --pattern kvkit|libkv, --steady MS (60000; 10000 with
 * --quick), --processes N (10), --phase-timeout MS (600000; 120000 with --quick: a phase that
 * takes longer is recorded null with the error), --run-timeout MS (none: later phases get what
 * is left of it), --no-record (do not append to
 * bench/results/scale.json). Each run appends one record to bench/results/scale.json (committed)
 * and redraws docs/scale.svg and the table in docs/scale.md from every record there.
 */
import { parseArgs } from 'node:util';
import { printTable } from './lib/measure.js';
import { appendRecord, readRecords, tableRows, writeReport } from './scale/results.js';
import { runScale } from './scale/run.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string' },
    tasks: { type: 'string' },
    heartbeat: { type: 'string' },
    store: { type: 'string', default: 'raft' },
    pattern: { type: 'string', default: 'kvkit' },
    steady: { type: 'string' },
    processes: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-record': { type: 'boolean', default: false },
    'phase-timeout': { type: 'string' },
    'run-timeout': { type: 'string' },
    report: { type: 'boolean', default: false },
  },
});

function int(value: string | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}`);
  return n;
}

if (values.report) {
  console.log(writeReport(readRecords()).join('\n'));
  process.exit(0);
}
const store = values.store as string;
const pattern = values.pattern as string;
if (store !== 'raft' && store !== 'etcd' && store !== 'consul') throw new Error('--store raft|etcd|consul');
if (pattern !== 'kvkit' && pattern !== 'libkv') throw new Error('--pattern kvkit|libkv');
const quick = values.quick === true;
const record = await runScale({
  store,
  pattern,
  nodes: int(values.nodes, 500, 'nodes', 1),
  tasks: int(values.tasks, quick ? 1000 : 10_000, 'tasks', 10),
  heartbeatMs: int(values.heartbeat, quick ? 2000 : 5000, 'heartbeat', 500),
  steadyMs: int(values.steady, quick ? 10_000 : 60_000, 'steady', 1000),
  processes: int(values.processes, 10, 'processes', 2),
  phaseTimeoutMs: int(values['phase-timeout'], quick ? 120_000 : 600_000, 'phase-timeout', 10_000),
  ...(values['run-timeout'] ? { runTimeoutMs: int(values['run-timeout'], 0, 'run-timeout', 60_000) } : {}),
  restartDelayMs: 1000,
});
printTable('scale run', tableRows([record]));
if (record.error) console.log(`error: ${record.error}`);
if (!values['no-record']) {
  const file = appendRecord(record);
  console.log(`\nappended to ${file}; redrawn: ${writeReport(readRecords()).join(', ')}`);
}
process.exit(record.allRunning && !record.error ? 0 : 1);
