/**
 * The Swarm agent (swarmkit agent/): registers its node, heartbeats, learns its assignments by
 * watching one key, and takes each task through accepted → preparing → ready → starting →
 * running, reporting exit as complete or failed.
 *
 * Heartbeats and reports go through the process's BeatWriter: every agent of this process on one
 * store shares a few small records (`<prefix>/agents/<sender>`, at most 256 nodes each), rewritten
 * every period and whenever a task changes state. Only the acting manager watches that directory.
 */
import { resilientWatch } from '../discovery/resilient-watch.js';
import { AgentGossip, type AgentGossipOptions, checkAgentGossipOptions } from '../gossip/agent-gossip.js';
import type { Gossip } from '../gossip/runtime/gossip.js';
import { Layout } from '../network-state/layout.js';
import { openNetworkState } from '../network-state/network-state.js';
import { isTerminal, type Node, type TaskState } from '../network-state/types.js';
import { InvalidArgumentError } from '../store/errors.js';
import type { KVPair, Store } from '../store/types.js';
import { json } from '../store/values.js';
import { type BeatWriter, beatWriterFor } from './beat-writer.js';
import {
  type Execution,
  type Executor,
  type ExecutorName,
  noneExecutor,
  processExecutor,
} from './executors.js';
import { DEFAULT_HEARTBEAT_PERIOD_MS } from './manager.js';
import {
  type AssignedTask,
  decodeAssignment,
  MAX_HEARTBEAT_MS,
  MIN_HEARTBEAT_MS,
  type NodeReport,
  type TaskReport,
} from './wire.js';

export interface AgentOptions {
  hostname: string;
  labels?: Record<string, string>;
  /** `none` (default), `process`, or an Executor of your own. */
  executor?: ExecutorName | Executor;
  /** Default 5000 (swarmkit's). */
  heartbeatPeriodMs?: number;
  /** Network state's prefix. Default `kvkit/network`. */
  prefix?: string;
  /** The address the node advertises. Default `127.0.0.1`. */
  addr?: string;
  /** How long a stopped process gets between SIGTERM and SIGKILL (ms). Default 10000 (docker's). */
  stopGraceMs?: number;
  /** Closes the agent when aborted. */
  signal?: AbortSignal;
  /** Store errors the agent carries on after. */
  onError?: (err: unknown) => void;
  /**
   * Called (synchronously) whenever the set of running tasks changed: the hook for gossip, which
   * will announce per network what runs on this node.
   */
  onRunningTasks?: (tasks: readonly AgentTask[]) => void;
  /**
   * Join the gossip cluster (Docker's NetworkDB on 7946): a member named after the node id, on
   * each network the node runs tasks on, with one `endpoint_table` entry per running task and
   * network (what `kvkit dns serve --gossip` answers from). Off when omitted.
   */
  gossip?: AgentGossipOptions;
}

/** One task as the agent sees it. */
export interface AgentTask {
  id: string;
  serviceId: string;
  service: string;
  slot: number;
  state: TaskState;
  networks: AssignedTask['networks'];
}

export interface Agent extends AsyncDisposable {
  readonly nodeId: string;
  readonly hostname: string;
  /** Its gossip member (with the `gossip` option), else null. */
  readonly gossip: Gossip | null;
  /** The tasks it holds now. */
  tasks(): AgentTask[];
  /** Stops every task, tells the manager it left (the node is marked down at once), and stops. */
  close(): Promise<void>;
}

/** Registers a node and runs it until close() (or the signal). */
export async function startAgent(store: Store, opts: AgentOptions): Promise<Agent> {
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('startAgent needs options');
  const periodMs = opts.heartbeatPeriodMs ?? DEFAULT_HEARTBEAT_PERIOD_MS;
  if (!Number.isInteger(periodMs) || periodMs < MIN_HEARTBEAT_MS || periodMs > MAX_HEARTBEAT_MS) {
    throw new InvalidArgumentError(
      `invalid heartbeatPeriodMs ${String(periodMs)}: a whole number from ${MIN_HEARTBEAT_MS} to ${MAX_HEARTBEAT_MS}`,
    );
  }
  const executor = resolveExecutor(opts.executor);
  const gossipOpts = opts.gossip === undefined ? undefined : checkAgentGossipOptions(opts.gossip);
  const layout = new Layout(opts.prefix ?? 'kvkit/network');
  const net = await openNetworkState(store, { prefix: layout.root });
  let node: Node;
  try {
    node = await net.registerNode({
      hostname: opts.hostname,
      addr: opts.addr ?? '127.0.0.1',
      labels: opts.labels ?? {},
      heartbeatPeriodMs: periodMs,
    });
  } finally {
    await net.close();
  }
  const agent = new RunningAgent(store, layout, node, executor, periodMs, opts);
  agent.start();
  if (gossipOpts) {
    try {
      await agent.startGossip(gossipOpts);
    } catch (err) {
      await agent.close();
      throw err;
    }
  }
  return agent;
}

function resolveExecutor(executor: AgentOptions['executor']): Executor {
  if (executor === undefined || executor === 'none') return noneExecutor;
  if (executor === 'process') return processExecutor();
  if (typeof executor === 'object' && executor !== null && typeof executor.start === 'function')
    return executor;
  throw new InvalidArgumentError(`invalid executor ${JSON.stringify(executor)}: use none or process`);
}

interface Held {
  task: AssignedTask;
  state: TaskState;
  message: string;
  exitCode?: number;
  execution?: Execution;
  /** The step in progress (preparing, starting, stopping), so two are never run at once. */
  busy?: Promise<void>;
}

function agentTask(h: Held): AgentTask {
  return {
    id: h.task.id,
    serviceId: h.task.serviceId,
    service: h.task.service,
    slot: h.task.slot,
    state: h.state,
    networks: h.task.networks,
  };
}

class RunningAgent implements Agent {
  readonly nodeId: string;
  readonly hostname: string;
  readonly #store: Store;
  readonly #layout: Layout;
  readonly #executor: Executor;
  readonly #opts: AgentOptions;
  readonly #stop = new AbortController();
  readonly #held = new Map<string, Held>();
  #watching: Promise<void> = Promise.resolve();
  readonly #beats: BeatWriter;
  #closed: Promise<void> | null = null;
  #runningKey = '';
  #publishedKey = '';
  #gossip: AgentGossip | null = null;

  constructor(
    store: Store,
    layout: Layout,
    node: Node,
    executor: Executor,
    periodMs: number,
    opts: AgentOptions,
  ) {
    this.#store = store;
    this.#layout = layout;
    this.nodeId = node.id;
    this.hostname = node.hostname;
    this.#executor = executor;
    this.#opts = opts;
    this.#beats = beatWriterFor(store, layout, periodMs);
  }

  start(): void {
    this.#opts.signal?.addEventListener('abort', () => void this.close(), { once: true });
    this.#beats.join(this.nodeId, {
      report: () => this.#nodeReport(),
      onError: (err) => {
        if (!this.#stop.signal.aborted) this.#opts.onError?.(err);
      },
    });
    this.#watching = this.#watchAssignments().catch((err) => this.#opts.onError?.(err));
    if (this.#opts.signal?.aborted) void this.close(); // stopped before it started: no listener fires
  }

  get gossip(): Gossip | null {
    return this.#gossip?.gossip ?? null;
  }

  async startGossip(opts: AgentGossipOptions): Promise<void> {
    const onError = (err: unknown) => {
      if (!this.#stop.signal.aborted) this.#opts.onError?.(err);
    };
    this.#gossip = await AgentGossip.start(this.nodeId, opts, onError, {
      store: this.#store,
      prefix: this.#layout.root,
    });
    this.#publishedKey = '';
    this.#publish();
  }

  tasks(): AgentTask[] {
    return [...this.#held.values()].map(agentTask);
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#stop.abort();
    await this.#watching;
    const grace = this.#opts.stopGraceMs ?? 10_000;
    await Promise.all(
      [...this.#held.values()].map(async (h) => {
        await h.busy;
        if (!isTerminal(h.state)) await this.#shutdown(h, grace);
      }),
    );
    this.#publish();
    await this.#gossip?.leave().catch((err) => this.#opts.onError?.(err));
    await this.#beats.leave(this.nodeId);
  }

  async #watchAssignments(): Promise<void> {
    const lists = resilientWatch(
      (signal) => this.#store.watch(this.#layout.assignment(this.nodeId), { signal }),
      (pair: KVPair | null) => pair,
      {
        signal: this.#stop.signal,
        onError: this.#opts.onError,
        same: (a, b) => a?.lastIndex === b?.lastIndex,
      },
    );
    for await (const pair of lists) {
      let tasks: AssignedTask[] | null = [];
      if (pair) {
        try {
          tasks = decodeAssignment(json<unknown>(pair));
        } catch {
          tasks = null;
        }
      }
      if (tasks === null) continue; // a damaged record is ignored, never trusted
      this.#assign(tasks);
    }
  }

  /** Takes a new assignment list: starts, holds or stops each task as its desired state says. */
  #assign(tasks: AssignedTask[]): void {
    const seen = new Set<string>();
    for (const task of tasks) {
      seen.add(task.id);
      let held = this.#held.get(task.id);
      if (!held) {
        held = { task, state: 'assigned', message: '' };
        this.#held.set(task.id, held);
      } else {
        held.task = task;
      }
      this.#advance(held);
    }
    for (const [id, held] of this.#held) {
      if (seen.has(id)) continue;
      // No longer assigned: stop it if it runs, then forget it (the manager has its last state).
      held.task = { ...held.task, desiredState: 'shutdown' };
      void this.#step(held, async () => {
        if (!isTerminal(held.state)) await this.#shutdown(held, this.#opts.stopGraceMs ?? 10_000);
        this.#held.delete(id);
        this.#changed();
      });
    }
    this.#publish();
  }

  /** Moves a task as far as its desired state allows, one step at a time. */
  #advance(held: Held): void {
    void this.#step(held, async () => {
      const desired = held.task.desiredState;
      if (isTerminal(held.state)) return;
      if (desired === 'shutdown') {
        await this.#shutdown(held, this.#opts.stopGraceMs ?? 10_000);
        return;
      }
      if (held.state === 'assigned') {
        this.#set(held, 'accepted', '');
        this.#set(held, 'preparing', '');
        this.#set(held, 'ready', '');
      }
      if (desired === 'running' && held.state === 'ready') {
        this.#set(held, 'starting', '');
        const execution = this.#executor.start(held.task);
        held.execution = execution;
        this.#set(held, 'running', 'started');
        void execution.exited.then((exit) => {
          if (exit.stopped || isTerminal(held.state)) return;
          this.#set(
            held,
            exit.exitCode === 0 ? 'complete' : 'failed',
            exit.message,
            exit.exitCode ?? undefined,
          );
        });
      }
    });
  }

  #step(held: Held, work: () => Promise<void>): Promise<void> {
    const next = (held.busy ?? Promise.resolve()).then(work).catch((err) => this.#opts.onError?.(err));
    held.busy = next;
    return next;
  }

  async #shutdown(held: Held, graceMs: number): Promise<void> {
    if (held.execution) {
      const exit = await held.execution.stop(graceMs);
      if (isTerminal(held.state)) return;
      this.#set(held, 'shutdown', exit.message, exit.exitCode ?? undefined);
    } else {
      this.#set(held, 'shutdown', 'shut down before it started');
    }
  }

  #set(held: Held, state: TaskState, message: string, exitCode?: number): void {
    held.state = state;
    held.message = message;
    if (exitCode !== undefined) held.exitCode = exitCode;
    this.#changed();
  }

  #changed(): void {
    this.#beats.changed(this.nodeId);
    this.#publish();
    const hook = this.#opts.onRunningTasks;
    if (!hook) return;
    const running = this.tasks().filter((t) => t.state === 'running');
    const key = running.map((t) => t.id).join(',');
    if (key === this.#runningKey) return;
    this.#runningKey = key;
    hook(running);
  }

  /**
   * Tells gossip the tasks that may be in DNS: running and not told to shut down (the same rule
   * as the Store's DNS records: a task scaled away leaves DNS before it stops, as moby does).
   */
  #publish(): void {
    const gossip = this.#gossip;
    if (!gossip) return;
    const tasks = [...this.#held.values()]
      .filter((h) => h.state === 'running' && h.task.desiredState !== 'shutdown')
      .map(agentTask);
    const key = tasks.map((t) => t.id).join(',');
    if (key === this.#publishedKey) return;
    this.#publishedKey = key;
    gossip.update(tasks);
  }

  /** What this node's heartbeat says about its tasks. */
  #nodeReport(): NodeReport {
    const tasks = new Map<string, TaskReport>();
    for (const held of this.#held.values()) {
      if (held.state === 'assigned') continue;
      tasks.set(held.task.id, {
        state: held.state,
        message: held.message,
        ...(held.exitCode !== undefined ? { exitCode: held.exitCode } : {}),
      });
    }
    return { tasks };
  }
}
