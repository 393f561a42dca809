/**
 * The Swarm manager: allocator, scheduler, dispatcher and orchestrator as one loop under one
 * Store lock (swarmkit runs them all on the Raft leader). The lock only avoids duplicate work:
 * every write is a compare-and-swap against the version the pass read, so two managers acting at
 * once (a lock lost while a pass runs) cost retries, never a wrong record.
 *
 * One pass, run whenever a watched directory changed or a timer (heartbeat deadline, restart
 * delay) is due:
 * 1. heartbeats: every agent record written since the last pass is a beat of its nodes (timers in
 *    memory, HeartbeatMonitor); nodes whose time ran out, or whose agent left, are marked down, a
 *    down node heard from again is ready — only these changes are written;
 * 2. allocation of new tasks and services (network state's allocator);
 * 3. per slot: the agents' reports applied, then the orchestrator's plan (replacement, restart
 *    delay, scale-down, removal), then the scheduler's placement of pending tasks — each slot
 *    that changed is written once;
 * 4. the dispatcher's assignment records, one per node whose list changed.
 */

import { type GossipKeyRotation, keepGossipKeys } from '../gossip/store-keyring.js';
import { isConflict, type Versioned } from '../network-state/cas.js';
import { forEachLimit, WRITE_CONCURRENCY } from '../network-state/concurrency.js';
import { type Constraint, parseConstraints } from '../network-state/constraints.js';
import { newId } from '../network-state/ids.js';
import { Layout } from '../network-state/layout.js';
import { type NetworkState, openNetworkState } from '../network-state/network-state.js';
import {
  type NetworkRecord,
  type ServiceRecord,
  type TaskRecord,
  tasksOfSlot,
} from '../network-state/records.js';
import { isTerminal, type Node, type Task } from '../network-state/types.js';
import { Backoff } from '../store/backoff.js';
import { InvalidArgumentError, isKVError } from '../store/errors.js';
import { anySignal } from '../store/signals.js';
import type { Store } from '../store/types.js';
import { text } from '../store/values.js';
import { assignmentsByNode, EMPTY_ASSIGNMENT } from './dispatcher.js';
import { HeartbeatMonitor } from './heartbeat-monitor.js';
import { applyReports, DEFAULT_ORPHAN_AFTER_MS, planSlot } from './orchestrator.js';
import { type PendingGroup, schedule } from './scheduler.js';
import { ManagerView } from './view.js';
import { MAX_HEARTBEAT_MS, MIN_HEARTBEAT_MS, type TaskReport } from './wire.js';

/** swarmkit's default heartbeat period (ms). */
export const DEFAULT_HEARTBEAT_PERIOD_MS = 5000;

export interface ManagerOptions {
  signal?: AbortSignal;
  /** The heartbeat period assumed for a node whose agent did not say (ms). Default 5000. */
  heartbeatPeriodMs?: number;
  /** Network state's prefix. Default `kvkit/network`. */
  prefix?: string;
  /** How long a crashed manager keeps the lock (ms). Default 10000. */
  lockTtlMs?: number;
  /** A replaced task whose node stays down this long is `orphaned` (ms). Default 24 h (swarmkit's). */
  orphanAfterMs?: number;
  /** Errors the loop carries on after (store outages, lost races); default: none reported. */
  onError?: (err: unknown) => void;
  /** Called when this manager starts acting (holds the lock) and when it stops. */
  onActing?: (acting: boolean) => void;
  /** The gossip keyring the acting manager keeps in the Store (default: rotated every 12 h); false: none. */
  gossipKeys?: GossipKeyRotation | false;
}

/**
 * Runs a manager until `signal` aborts: waits for the manager lock, then acts until it loses it
 * (and waits again). Any number may run on one store; exactly one acts at a time.
 */
export async function runManager(store: Store, opts: ManagerOptions = {}): Promise<void> {
  const signal = opts.signal ?? new AbortController().signal;
  const periodMs = checkPeriod(opts.heartbeatPeriodMs ?? DEFAULT_HEARTBEAT_PERIOD_MS);
  const layout = new Layout(opts.prefix ?? 'kvkit/network');
  const net = await openNetworkState(store, { prefix: layout.root });
  const onError = opts.onError ?? (() => {});
  const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
  try {
    while (!signal.aborted) {
      const locker = store.newLock(layout.managerLeader, { value: newId(12), ttl: opts.lockTtlMs ?? 10_000 });
      let lost: AbortSignal;
      try {
        lost = await locker.lock({ signal });
      } catch (err) {
        if (signal.aborted || isKVError(err, 'CLOSED')) return;
        onError(err);
        await backoff.wait(signal).catch(() => undefined);
        continue;
      }
      backoff.reset();
      const acting = anySignal(signal, lost);
      opts.onActing?.(true);
      const keys =
        opts.gossipKeys === false
          ? null
          : keepGossipKeys(store, { ...opts.gossipKeys, prefix: layout.root, signal: acting, onError });
      try {
        await act(store, net, layout, acting, {
          periodMs,
          orphanAfterMs: opts.orphanAfterMs ?? DEFAULT_ORPHAN_AFTER_MS,
          onError,
        });
      } catch (err) {
        if (isKVError(err, 'CLOSED')) return;
        onError(err);
      } finally {
        opts.onActing?.(false);
        await keys;
        if (!lost.aborted) await locker.unlock().catch(() => undefined);
      }
    }
  } finally {
    await net.close();
  }
}

interface ActSettings {
  periodMs: number;
  orphanAfterMs: number;
  onError: (err: unknown) => void;
}

async function act(
  store: Store,
  net: NetworkState,
  layout: Layout,
  acting: AbortSignal,
  settings: ActSettings,
): Promise<void> {
  const view = new ManagerView(store, layout, acting, settings.onError);
  let dirty = true;
  let wake: (() => void) | null = null;
  view.onChange = () => {
    dirty = true;
    wake?.();
  };
  try {
    await view.loaded();
    if (acting.aborted) return;
    await net.reconcile().catch(settings.onError);
    const manager = new ActingManager(store, net, layout, view, settings);
    await manager.loadAssignments();
    const backoff = new Backoff({ initialMs: 50, maxMs: 2000 });
    let nextAtMs = 0;
    while (!acting.aborted) {
      const now = Date.now();
      if (!dirty && now < nextAtMs) {
        // Bounded: never a timer above 2^31-1 ms; the loop looks again when it fires.
        await sleepUntilPoked(Math.min(nextAtMs - now, 60_000), acting, (poke) => (wake = poke));
        wake = null;
        continue;
      }
      dirty = false;
      try {
        const result = await manager.pass(Date.now());
        if (result.retry) dirty = true;
        nextAtMs = result.nextAtMs;
        backoff.reset();
      } catch (err) {
        if (acting.aborted || isKVError(err, 'CLOSED')) return;
        settings.onError(err);
        dirty = true;
        await backoff.wait(acting).catch(() => undefined);
      }
    }
  } finally {
    await view.closed();
  }
}

/** The state of one acting term: heartbeat timers and what was last dispatched. */
class ActingManager {
  readonly #monitor = new HeartbeatMonitor();
  /** nodeId → the assignment record as last written (or found). */
  readonly #dispatched = new Map<string, string>();
  readonly #constraints = new WeakMap<ServiceRecord, Constraint[]>();

  constructor(
    readonly store: Store,
    readonly net: NetworkState,
    readonly layout: Layout,
    readonly view: ManagerView,
    readonly settings: ActSettings,
  ) {}

  /** What the previous manager dispatched, so an unchanged list is not written again. */
  async loadAssignments(): Promise<void> {
    for (const pair of await this.store.list(this.layout.assignments).catch(() => [])) {
      this.#dispatched.set(pair.key.slice(this.layout.assignments.length + 1), text(pair));
    }
  }

  /** One pass; returns when the next one is due at the latest, and whether a write lost a race. */
  async pass(nowMs: number): Promise<{ nextAtMs: number; retry: boolean }> {
    const { view } = this;
    view.refresh();
    let retry = false;

    // 1. Heartbeats → node state changes.
    const nodes = new Map<string, Versioned<Node>>(view.nodes.entries().map((e) => [e.value.id, e]));
    const changes = new Map<string, { state: Node['state']; message: string }>();
    for (const key of view.takeBeats()) {
      const record = view.agents.get(key)?.value;
      if (!record) continue;
      for (const [nodeId, report] of record.nodes) {
        const node = nodes.get(nodeId)?.value;
        if (!node) continue;
        if (report.left) {
          this.#monitor.forget(nodeId);
          if (node.state !== 'down') changes.set(nodeId, { state: 'down', message: 'agent stopped' });
        } else {
          this.#monitor.beat(nodeId, record.periodMs, nowMs);
          if (node.state === 'down') changes.set(nodeId, { state: 'ready', message: '' });
        }
      }
    }
    for (const nodeId of this.#monitor.expired(nowMs)) {
      if (nodes.get(nodeId)?.value.state === 'ready') {
        changes.set(nodeId, { state: 'down', message: 'heartbeat failure' });
      }
    }
    for (const { value: node } of nodes.values()) {
      if (node.state === 'ready' && !changes.has(node.id)) {
        this.#monitor.expect(node.id, node.heartbeatPeriodMs || this.settings.periodMs, nowMs);
      }
    }
    for (const id of this.#monitor.unknown(new Set(nodes.keys()))) this.#monitor.forget(id);
    if (changes.size > 0) retry = (await this.#writeNodes(nodes, changes, nowMs)) || retry;

    // 2. Allocation (addresses for new tasks, VIPs, removals), when something waits for it.
    if (needsAllocation(view)) await this.net.allocate();

    // 3. Reports, orchestration and scheduling, one write per changed slot.
    const reports = new Map<string, { nodeId: string; report: TaskReport }>();
    for (const { value: record } of view.agents.entries()) {
      for (const [nodeId, node] of record.nodes) {
        for (const [taskId, report] of node.tasks) reports.set(taskId, { nodeId, report });
      }
    }
    const services = new Map(view.services.values().map((s) => [s.id, s]));
    const nodeMap = new Map([...nodes.values()].map((n) => [n.value.id, n.value]));
    const planned = new Map<
      string,
      { entry: Versioned<TaskRecord>; next: TaskRecord | null; release: Task[] }
    >();
    let nextAtMs = nowMs + this.settings.periodMs;
    for (const entry of view.tasks.entries()) {
      const reported = applyReports(entry.value, (id) => reports.get(id), nowMs);
      const base = reported ?? entry.value;
      const plan = planSlot(base, {
        service: services.get(base.serviceId),
        nodes: nodeMap,
        nowMs,
        orphanAfterMs: this.settings.orphanAfterMs,
      });
      if (plan.wakeAtMs !== undefined) nextAtMs = Math.min(nextAtMs, plan.wakeAtMs);
      const next = plan.next !== undefined ? plan.next : reported;
      if (next !== undefined) planned.set(entry.pair.key, { entry, next, release: plan.release });
    }
    const current = (entry: Versioned<TaskRecord>) => {
      const p = planned.get(entry.pair.key);
      return p ? p.next : entry.value;
    };
    this.#schedule(view.tasks.entries(), current, services, [...nodeMap.values()], planned, nowMs);
    const written = new Map<string, TaskRecord | null>();
    const release: Task[] = [];
    await forEachLimit([...planned.values()], WRITE_CONCURRENCY, async ({ entry, next, release: r }) => {
      try {
        if (next === null) await this.store.atomicDelete(entry.pair.key, entry.pair);
        else await this.store.atomicPut(entry.pair.key, JSON.stringify(next), entry.pair);
        written.set(entry.pair.key, next);
        release.push(...r);
      } catch (err) {
        if (!isConflict(err) && !isKVError(err, 'KEY_NOT_FOUND')) throw err;
        retry = true;
      }
    });
    if (release.length > 0) await this.net.releaseTaskAddresses(release);

    // 4. Dispatch: what each node runs, from the records as now committed.
    const records: TaskRecord[] = [];
    for (const entry of view.tasks.entries()) {
      const r = written.has(entry.pair.key) ? written.get(entry.pair.key) : entry.value;
      if (r) records.push(r);
    }
    const networks = new Map<string, NetworkRecord>(view.networks.values().map((n) => [n.id, n]));
    await this.#dispatch(assignmentsByNode(records, services, networks), new Set(nodeMap.keys()));

    const deadline = this.#monitor.nextDeadline();
    if (deadline !== null) nextAtMs = Math.min(nextAtMs, deadline);
    return { nextAtMs, retry };
  }

  /** Places every pending task of the planned slots (swarmkit's scheduler), in memory. */
  #schedule(
    entries: readonly Versioned<TaskRecord>[],
    current: (entry: Versioned<TaskRecord>) => TaskRecord | null,
    services: Map<string, ServiceRecord>,
    nodes: Node[],
    planned: Map<string, { entry: Versioned<TaskRecord>; next: TaskRecord | null; release: Task[] }>,
    nowMs: number,
  ): void {
    const placed: { serviceId: string; nodeId: string }[] = [];
    const pending = new Map<string, { entry: Versioned<TaskRecord>; record: TaskRecord }[]>();
    for (const entry of entries) {
      const record = current(entry);
      if (!record) continue;
      for (const t of tasksOfSlot(record)) {
        if (t.nodeId !== undefined && !isTerminal(t.state) && t.desiredState !== 'shutdown') {
          placed.push({ serviceId: t.serviceId, nodeId: t.nodeId });
        }
      }
      if (record.state === 'pending' && record.nodeId === undefined && record.desiredState !== 'shutdown') {
        if (!services.has(record.serviceId)) continue;
        let list = pending.get(record.serviceId);
        if (!list) pending.set(record.serviceId, (list = []));
        list.push({ entry, record });
      }
    }
    if (pending.size === 0) return;
    const groups: PendingGroup[] = [];
    const byTask = new Map<string, { entry: Versioned<TaskRecord>; record: TaskRecord }>();
    for (const [serviceId, list] of pending) {
      list.sort((a, b) => a.record.slot - b.record.slot);
      for (const item of list) byTask.set(item.record.id, item);
      groups.push({
        serviceId,
        constraints: this.#constraintsOf(services.get(serviceId) as ServiceRecord),
        taskIds: list.map((i) => i.record.id),
      });
    }
    const result = schedule(nodes, placed, groups);
    const iso = new Date(nowMs).toISOString();
    const put = (taskId: string, next: TaskRecord) => {
      const { entry } = byTask.get(taskId) as { entry: Versioned<TaskRecord> };
      const previous = planned.get(entry.pair.key);
      planned.set(entry.pair.key, { entry, next, release: previous?.release ?? [] });
    };
    for (const [taskId, nodeId] of result.assigned) {
      const { record } = byTask.get(taskId) as { record: TaskRecord };
      put(taskId, { ...record, state: 'assigned', nodeId, message: 'scheduled', updatedAt: iso });
    }
    for (const [taskId, message] of result.unschedulable) {
      const { record } = byTask.get(taskId) as { record: TaskRecord };
      if (record.message !== message) put(taskId, { ...record, message, updatedAt: iso });
    }
  }

  #constraintsOf(service: ServiceRecord): Constraint[] {
    let parsed = this.#constraints.get(service);
    if (!parsed) {
      try {
        parsed = parseConstraints(service.constraints ?? []);
      } catch {
        parsed = [{ text: 'invalid', attribute: 'id', label: '', equal: true, value: '' }];
      }
      this.#constraints.set(service, parsed);
    }
    return parsed;
  }

  /** Writes node state changes (each one compare-and-swap); true when one lost a race. */
  async #writeNodes(
    nodes: Map<string, Versioned<Node>>,
    changes: Map<string, { state: Node['state']; message: string }>,
    nowMs: number,
  ): Promise<boolean> {
    let lost = false;
    const iso = new Date(nowMs).toISOString();
    await forEachLimit([...changes], WRITE_CONCURRENCY, async ([nodeId, change]) => {
      const found = nodes.get(nodeId) as Versioned<Node>;
      const next: Node = { ...found.value, state: change.state, message: change.message, stateSince: iso };
      try {
        const pair = await this.store.atomicPut(found.pair.key, JSON.stringify(next), found.pair);
        nodes.set(nodeId, { value: next, pair });
      } catch (err) {
        if (!isConflict(err) && !isKVError(err, 'KEY_NOT_FOUND')) throw err;
        lost = true;
        // Decide again on the next pass, from the record as it is now.
        if (change.state === 'down') this.#monitor.expireAt(nodeId, nowMs);
      }
    });
    return lost;
  }

  async #dispatch(assignments: Map<string, string>, nodeIds: Set<string>): Promise<void> {
    const writes: [string, string | null][] = [];
    for (const nodeId of nodeIds) {
      const encoded = assignments.get(nodeId) ?? EMPTY_ASSIGNMENT;
      if (this.#dispatched.get(nodeId) !== encoded) writes.push([nodeId, encoded]);
    }
    for (const nodeId of this.#dispatched.keys()) if (!nodeIds.has(nodeId)) writes.push([nodeId, null]);
    await forEachLimit(writes, WRITE_CONCURRENCY, async ([nodeId, encoded]) => {
      if (encoded === null) {
        await this.store.delete(this.layout.assignment(nodeId));
        this.#dispatched.delete(nodeId);
      } else {
        await this.store.put(this.layout.assignment(nodeId), encoded);
        this.#dispatched.set(nodeId, encoded);
      }
    });
  }
}

/** True when the allocator has work: a new task, a service or network not settled. */
function needsAllocation(view: ManagerView): boolean {
  if (view.networks.values().some((n) => n.status !== 'ready')) return true;
  if (view.services.values().some((s) => s.status !== 'allocated')) return true;
  return view.tasks.values().some((t) => t.state === 'new' && t.desiredState !== 'shutdown');
}

function checkPeriod(ms: number): number {
  if (!Number.isInteger(ms) || ms < MIN_HEARTBEAT_MS || ms > MAX_HEARTBEAT_MS) {
    throw new InvalidArgumentError(
      `invalid heartbeatPeriodMs ${String(ms)}: a whole number from ${MIN_HEARTBEAT_MS} to ${MAX_HEARTBEAT_MS}`,
    );
  }
  return ms;
}

/** Waits `ms`, or until the poke handed to `setPoke` is called, or until `signal` aborts. */
function sleepUntilPoked(
  ms: number,
  signal: AbortSignal,
  setPoke: (poke: () => void) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    setPoke(done);
    if (signal.aborted) done();
  });
}
