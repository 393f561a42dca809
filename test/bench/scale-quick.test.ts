/**
 * The scale bench's quick mode as a smoke test (issue 18): 500 simulated nodes in 10 agent
 * processes on a 3-process kvkit Raft cluster, a 1,000-task burst, an agent-process SIGKILL and a
 * Raft-leader SIGKILL. Asserts only that it completes and every task ends running — the times are
 * printed, never judged (the machine is shared). Every child is SIGKILLed in runScale's finally.
 */
import { describe, expect, it } from 'vitest';
import { runScale } from '../../bench/scale/run.js';

describe('bench:scale --quick', () => {
  it('runs every phase on raft and ends with every task running', async () => {
    const lines: string[] = [];
    const record = await runScale({
      store: 'raft',
      pattern: 'kvkit',
      nodes: 500,
      tasks: 1000,
      heartbeatMs: 2000,
      steadyMs: 5000,
      processes: 10,
      phaseTimeoutMs: 240_000,
      restartDelayMs: 1000,
      log: (line) => lines.push(line),
    });
    console.log(`${lines.join('\n')}\n${JSON.stringify(record)}`);
    expect(record.allRunning, record.error ?? lines.join('\n')).toBe(true);
  }, 900_000);
});
