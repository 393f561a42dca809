/**
 * npm run sim -- [--seed N | --seeds N [--start S]] [--nodes 3|5] [--verbose]
 *
 * Runs simulated Raft clusters. `--seed N` replays one run (prints its parameters, stats
 * and, on failure, the fault trace); `--seeds N` runs N seeds from `--start` (default 1)
 * with a progress line, and prints the replay command of every failure. Exit code 1 if
 * any run failed.
 */
import { replayCommand, runSimulation, type SimulationResult } from './simulation.js';

interface CliArgs {
  seed: number | null;
  seeds: number;
  start: number;
  nodes: number[];
  verbose: boolean;
}

function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { seed: null, seeds: 100, start: 1, nodes: [3, 5], verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer`);
      return n;
    };
    switch (flag) {
      case '--seed':
        args.seed = value();
        break;
      case '--seeds':
        args.seeds = value();
        break;
      case '--start':
        args.start = value();
        break;
      case '--nodes': {
        const n = value();
        if (n !== 3 && n !== 5) throw new Error('--nodes must be 3 or 5');
        args.nodes = [n];
        break;
      }
      case '--verbose':
        args.verbose = true;
        break;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  return args;
}

function describeFailure(r: SimulationResult): string {
  return `FAIL seed ${r.seed} (${r.nodes} nodes): ${r.failure}\n  replay: ${r.replay}`;
}

function runOne(seed: number, nodes: number, verbose: boolean): boolean {
  const r = runSimulation({ seed, nodes, keepTrace: verbose });
  console.log(`seed ${seed}, ${nodes} nodes: ${r.ok ? 'ok' : 'FAILED'}`);
  console.log('parameters:', JSON.stringify(r.parameters));
  console.log('stats:', JSON.stringify(r.stats));
  if (r.trace) console.log(`nemesis trace:\n  ${r.trace.join('\n  ')}`);
  if (!r.ok) {
    console.log(describeFailure(r));
    if (r.counterexample) console.log('counterexample:', JSON.stringify(r.counterexample, null, 1));
  }
  return r.ok;
}

function runMany(args: CliArgs): boolean {
  const started = Date.now();
  const failures: SimulationResult[] = [];
  let runs = 0;
  let ops = 0;
  const total = args.seeds * args.nodes.length;
  for (let seed = args.start; seed < args.start + args.seeds; seed++) {
    for (const nodes of args.nodes) {
      const r = runSimulation({ seed, nodes });
      runs++;
      ops += r.stats.ops;
      if (!r.ok) {
        failures.push(r);
        process.stdout.write(`\n${describeFailure(r)}\n`);
      }
      const elapsed = (Date.now() - started) / 1000;
      process.stdout.write(
        `\r${runs}/${total} clusters, ${ops} ops checked, ${failures.length} failed, ${elapsed.toFixed(1)}s`,
      );
    }
  }
  process.stdout.write('\n');
  for (const f of failures) console.log(`failed: ${replayCommand(f.seed, f.nodes)}  # ${f.failure}`);
  return failures.length === 0;
}

try {
  const args = parseArgs(process.argv.slice(2));
  const ok =
    args.seed !== null
      ? args.nodes.every((n) => runOne(args.seed as number, n, args.verbose))
      : runMany(args);
  process.exitCode = ok ? 0 : 1;
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
}
