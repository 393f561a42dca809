import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processExecutor } from '../../src/index.js';
import type { AssignedTask } from '../../src/swarm/wire.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function task(command: string[]): AssignedTask {
  return {
    id: 'task1',
    serviceId: 'svc1',
    service: 'web',
    slot: 2,
    desiredState: 'running',
    command,
    networks: [{ networkId: 'n1', network: 'mh_net', addresses: ['10.9.0.5/24'] }],
  };
}
const node = (script: string) => [process.execPath, '-e', script];

describe('process executor', () => {
  it('exit code 0 is a finished task', async () => {
    const exit = await processExecutor().start(task(node('process.exit(0)'))).exited;
    expect(exit).toMatchObject({ stopped: false, exitCode: 0 });
  });

  it('a non-zero exit code is reported with the code', async () => {
    const exit = await processExecutor().start(task(node('process.exit(7)'))).exited;
    expect(exit).toMatchObject({ stopped: false, exitCode: 7, message: 'exit code 7' });
  });

  it('a command that cannot be started ends with the reason', async () => {
    const exit = await processExecutor().start(task(['/nonexistent/kvkit-test-binary'])).exited;
    expect(exit.exitCode).toBeNull();
    expect(exit.message).toMatch(/cannot start .*ENOENT/);
  });

  it('the task sees its id, slot, service and addresses in its environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-exec-'));
    dirs.push(dir);
    const out = join(dir, 'env.json');
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('KVKIT_TASK') || k === 'KVKIT_SERVICE'))))`;
    await processExecutor().start(task(node(script))).exited;
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({
      KVKIT_TASK_ID: 'task1',
      KVKIT_TASK_SLOT: '2',
      KVKIT_SERVICE: 'web',
      KVKIT_TASK_ADDRESSES: 'mh_net=10.9.0.5/24',
    });
  });

  it('stop sends SIGTERM, and a process that exits on it is stopped', async () => {
    const ready = readyFile();
    const execution = processExecutor().start(
      task(
        node(`process.on('SIGTERM', () => process.exit(0)); ${touch(ready)}; setInterval(() => {}, 1000)`),
      ),
    );
    await untilExists(ready);
    const exit = await execution.stop(60_000);
    expect(exit).toMatchObject({ stopped: true, exitCode: 0 });
  });

  it('stop sends SIGKILL after the grace period to a process that ignores SIGTERM', async () => {
    const ready = readyFile();
    const execution = processExecutor().start(
      task(node(`process.on('SIGTERM', () => {}); ${touch(ready)}; setInterval(() => {}, 1000)`)),
    );
    await untilExists(ready);
    const exit = await execution.stop(200);
    expect(exit).toMatchObject({ stopped: true, exitCode: null, message: 'stopped' });
  });
});

function readyFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvkit-exec-'));
  dirs.push(dir);
  return join(dir, 'ready');
}
const touch = (file: string) => `require('fs').writeFileSync(${JSON.stringify(file)}, '')`;
async function untilExists(file: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`the child never wrote ${file}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
