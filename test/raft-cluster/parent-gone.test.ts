/**
 * A node process started by a test never outlives it: its stdin is the test's pipe, and when
 * that pipe ends (closed, or its holder died) the node stops. So a test that fails, or a vitest
 * worker that is killed, leaves no node process behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { within } from '../../src/conformance/helpers.js';
import { onFreeLoopbackPorts } from '../../src/raft-node/local-cluster.js';
import { tempDir, waitFor } from '../raft-runtime/support.js';
import { ProcessCluster } from './processes.js';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let cluster: ProcessCluster | null = null;
const spawned: ChildProcess[] = [];
const pids: number[] = [];
const dirs: { remove: () => void }[] = [];
afterEach(async () => {
  await cluster?.close();
  cluster = null;
  for (const child of spawned.splice(0)) child.kill('SIGKILL');
  for (const pid of pids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of dirs.splice(0)) dir.remove();
});

describe('a node process started by a test', () => {
  it('stops cleanly when the test closes its stdin', async () => {
    cluster = await ProcessCluster.start(1);
    const node = cluster.proc('n1');
    node.child.stdin?.end();
    const { code } = await within(node.exited, 60_000, 'the node exited after its stdin closed');
    expect(code).toBe(0);
    expect(node.lines.some((l) => l.includes('stdin closed'))).toBe(true);
    expect(node.lines.at(-1)).toBe('[n1] stopped');
  });

  it('exits when the process that started it is killed with SIGKILL', async () => {
    const dir = tempDir('kvkit-parent-gone-');
    dirs.push(dir);
    const { parent, pid } = await onFreeLoopbackPorts(2, (ports) => startParentOfNode(dir.path, ports));
    expect(alive(pid)).toBe(true);

    parent.kill('SIGKILL');
    await waitFor(() => !alive(pid), 'the orphaned node exited', 60_000);
  });
});

/** A process that starts a node (stdin a pipe, as ProcessCluster does), prints its pid and waits. */
async function startParentOfNode(
  dataDir: string,
  [peer, client]: number[],
): Promise<{ parent: ChildProcess; pid: number }> {
  const args = [
    ...['--import', 'tsx', MAIN, 'raft', 'start', '--id', 'n1', '--data-dir', join(dataDir, `${peer}`)],
    ...['--peer-addr', `127.0.0.1:${peer}`, '--client-addr', `127.0.0.1:${client}`],
    ...['--initial-cluster', `n1=127.0.0.1:${peer}`],
  ];
  const script = `
    import { spawn } from 'node:child_process';
    const node = spawn(process.execPath, ${JSON.stringify(args)}, {
      stdio: ['pipe', 'ignore', 'inherit'],
      env: { ...process.env, KVKIT_RAFT_FAULT_CONTROL: 'stdin' },
    });
    console.log(node.pid);
    node.on('exit', (code) => process.exit(code ?? 1));
    setInterval(() => {}, 1000);
  `;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(parent);
  let out = '';
  let err = '';
  parent.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  parent.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  await waitFor(() => /\] started: peer/.test(err) || parent.exitCode !== null, 'the node started', 60_000);
  if (parent.exitCode !== null) {
    const error = new Error(`the node did not start:\n${err}`);
    throw /ADDRESS_IN_USE/.test(err) ? Object.assign(error, { code: 'ADDRESS_IN_USE' }) : error;
  }
  const pid = Number(out.trim());
  pids.push(pid);
  return { parent, pid };
}
