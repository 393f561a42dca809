/**
 * npm run sim:gossip -- [--seed N [--debug TEXT] | --seeds N [--start S]] [--verbose]
 *
 * Runs simulated gossip clusters. `--seed N` replays one run (its parameters, stats and, on
 * failure or with --verbose, the fault trace); `--seeds N` runs N seeds from `--start`
 * (default 1) and prints the replay command of every failure. `--debug TEXT` prints every
 * core event whose line contains TEXT. Exit code 1 if any failed.
 */
import { type GossipSimulationResult, runGossipSimulation } from './simulation.js';

function parse(argv: string[]): {
  seed: number | null;
  seeds: number;
  start: number;
  verbose: boolean;
  debug: string | null;
} {
  const args = {
    seed: null as number | null,
    seeds: 100,
    start: 1,
    verbose: false,
    debug: null as string | null,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer`);
      return n;
    };
    if (flag === '--seed') args.seed = value();
    else if (flag === '--seeds') args.seeds = value();
    else if (flag === '--start') args.start = value();
    else if (flag === '--verbose') args.verbose = true;
    else if (flag === '--debug') args.debug = argv[++i] ?? '';
    else throw new Error(`unknown argument ${flag}`);
  }
  return args;
}

function describe(r: GossipSimulationResult): string {
  return `FAIL seed ${r.seed}: ${r.failure}\n  replay: ${r.replay}`;
}

try {
  const args = parse(process.argv.slice(2));
  if (args.seed !== null) {
    const pattern = args.debug;
    const debugLog =
      pattern === null ? undefined : (line: string) => line.includes(pattern) && console.log(line);
    const r = runGossipSimulation({ seed: args.seed, keepTrace: args.verbose, debugLog });
    console.log(`seed ${r.seed}: ${r.ok ? 'ok' : 'FAILED'}`);
    console.log('parameters:', JSON.stringify(r.parameters));
    console.log('stats:', JSON.stringify(r.stats));
    if (r.trace) console.log(`trace:\n  ${r.trace.join('\n  ')}`);
    if (!r.ok) console.log(describe(r));
    process.exitCode = r.ok ? 0 : 1;
  } else {
    const started = Date.now();
    const failures: GossipSimulationResult[] = [];
    for (let seed = args.start; seed < args.start + args.seeds; seed++) {
      const r = runGossipSimulation({ seed });
      if (!r.ok) {
        failures.push(r);
        process.stdout.write(`\n${describe(r)}\n`);
      }
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `\r${seed - args.start + 1}/${args.seeds} clusters, ${failures.length} failed, ${elapsed}s`,
      );
    }
    process.stdout.write('\n');
    for (const f of failures) console.log(`failed: ${f.replay}  # ${f.failure}`);
    process.exitCode = failures.length === 0 ? 0 : 1;
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
}
