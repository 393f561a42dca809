/**
 * Executors: what an agent runs for a task (swarmkit agent/exec's Controller, cut to what kvkit
 * needs). `none` starts nothing (the task runs until told to stop: for demos, tests, scale runs);
 * `process` runs the service's command as a child process per task.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { AssignedTask } from './wire.js';

/** How a task's execution ended. `stopped`: it was told to stop (the agent reports `shutdown`). */
export interface Exit {
  stopped: boolean;
  /** The process's exit code; null when it was killed by a signal or never started. */
  exitCode: number | null;
  message: string;
}

export interface Execution {
  /** Resolves once it ended, whatever the reason. */
  readonly exited: Promise<Exit>;
  /** Stops it (SIGTERM, then SIGKILL after `graceMs` for a process); resolves once it ended. */
  stop(graceMs: number): Promise<Exit>;
}

export interface Executor {
  readonly name: string;
  start(task: AssignedTask): Execution;
}

export type ExecutorName = 'none' | 'process';

/** Nothing runs: the task is `running` until it is stopped. */
export const noneExecutor: Executor = {
  name: 'none',
  start(): Execution {
    let end!: (exit: Exit) => void;
    const exited = new Promise<Exit>((resolve) => (end = resolve));
    return {
      exited,
      stop: async () => {
        end({ stopped: true, exitCode: null, message: 'stopped' });
        return exited;
      },
    };
  },
};

export interface ProcessExecutorOptions {
  /** Where the children's stdout/stderr go. Default `ignore`. */
  output?: 'inherit' | 'ignore';
  /** Extra environment for every child (the agent's own environment is the base). */
  env?: Record<string, string>;
}

/** The environment a task's process gets on top of the agent's. */
export function taskEnvironment(task: AssignedTask): Record<string, string> {
  return {
    KVKIT_TASK_ID: task.id,
    KVKIT_TASK_SLOT: String(task.slot),
    KVKIT_SERVICE: task.service,
    // `mh_net=10.9.0.5/24,...`: one entry per address, named by network.
    KVKIT_TASK_ADDRESSES: task.networks.flatMap((n) => n.addresses.map((a) => `${n.network}=${a}`)).join(','),
  };
}

/**
 * The service's command as a child process (argv, no shell). Exit code 0 is `complete`, any
 * other `failed`; a command that cannot be started is `failed` with the reason.
 */
export function processExecutor(opts: ProcessExecutorOptions = {}): Executor {
  return {
    name: 'process',
    start(task: AssignedTask): Execution {
      const command = task.command;
      if (!command || command.length === 0) {
        const exit: Exit = { stopped: false, exitCode: null, message: 'the service has no command' };
        return { exited: Promise.resolve(exit), stop: async () => exit };
      }
      let stopping = false;
      let child: ChildProcess;
      const exited = new Promise<Exit>((resolve) => {
        child = spawn(command[0], command.slice(1), {
          env: { ...process.env, ...opts.env, ...taskEnvironment(task) },
          stdio: ['ignore', opts.output ?? 'ignore', opts.output ?? 'ignore'],
        });
        child.once('error', (err) => {
          // Spawn failures (ENOENT, EACCES) arrive here without an exit event.
          if (child.pid === undefined) {
            resolve({
              stopped: stopping,
              exitCode: null,
              message: `cannot start ${command[0]}: ${err.message}`,
            });
          }
        });
        child.once('exit', (code, signal) => {
          if (stopping) resolve({ stopped: true, exitCode: code, message: 'stopped' });
          else if (code === 0) resolve({ stopped: false, exitCode: 0, message: 'finished' });
          else
            resolve({
              stopped: false,
              exitCode: code,
              message: code === null ? `killed by ${signal}` : `exit code ${code}`,
            });
        });
      });
      return {
        exited,
        async stop(graceMs: number): Promise<Exit> {
          stopping = true;
          if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), Math.min(graceMs, 2 ** 31 - 1));
            try {
              return await exited;
            } finally {
              clearTimeout(timer);
            }
          }
          return exited;
        },
      };
    },
  };
}
