import { InvalidArgumentError, isKVError } from '../store/errors.js';
import { text } from '../store/values.js';
import {
  DELETE,
  isConflict,
  listRecords,
  readRecord,
  UNCHANGED,
  updateRecord,
  type Versioned,
} from './cas.js';
import type { Context } from './context.js';
import { NodeNotDownError, NodeNotFoundError } from './errors.js';
import { newId } from './ids.js';
import { NODE_AVAILABILITIES, type Node, type NodeAvailability, type UpdateNodeOptions } from './types.js';

/** A hostname as docker takes it: RFC 1123 labels with `_` tolerated, at most 253 characters. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/;
const MAX_LABELS = 64;
const MAX_LABEL_VALUE_CHARS = 256;
const NODE_ID = /^[a-z0-9]{1,64}$/;

export function checkHostname(hostname: unknown): string {
  if (typeof hostname !== 'string' || !HOSTNAME.test(hostname)) {
    throw new InvalidArgumentError(
      `invalid hostname ${JSON.stringify(hostname)}: use DNS labels of letters, digits, '-' and '_' (at most 253 characters)`,
    );
  }
  return hostname;
}

/** Node labels: at most 64, names docker-like, values printable and at most 256 characters. */
export function checkLabels(labels: unknown): Record<string, string> {
  if (labels === undefined) return {};
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw new InvalidArgumentError('labels must be an object of strings');
  }
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > MAX_LABELS)
    throw new InvalidArgumentError(`at most ${MAX_LABELS} labels, got ${entries.length}`);
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!LABEL_NAME.test(name)) throw new InvalidArgumentError(`invalid label name ${JSON.stringify(name)}`);
    if (typeof value !== 'string' || value.length > MAX_LABEL_VALUE_CHARS || hasControlCharacter(value)) {
      throw new InvalidArgumentError(
        `invalid value for label ${name}: a string of at most ${MAX_LABEL_VALUE_CHARS} printable characters`,
      );
    }
    out[name] = value;
  }
  return out;
}

export function checkAvailability(availability: unknown): NodeAvailability {
  if (!NODE_AVAILABILITIES.includes(availability as NodeAvailability)) {
    throw new InvalidArgumentError(
      `invalid availability ${JSON.stringify(availability)}: use ${NODE_AVAILABILITIES.join(', ')}`,
    );
  }
  return availability as NodeAvailability;
}

export function listNodes(ctx: Context): Promise<Versioned<Node>[]> {
  return listRecords<Node>(ctx.store, ctx.layout.nodes);
}

/**
 * A node by id, hostname or unique id prefix (docker's order); NODE_NOT_FOUND otherwise, also
 * when a hostname or prefix names several nodes.
 */
export async function findNode(ctx: Context, idOrHostname: string): Promise<Versioned<Node>> {
  if (typeof idOrHostname !== 'string' || idOrHostname === '')
    throw new NodeNotFoundError(String(idOrHostname));
  if (NODE_ID.test(idOrHostname)) {
    const byId = await readRecord<Node>(ctx.store, ctx.layout.node(idOrHostname));
    if (byId) return byId;
  }
  const nodes = await listNodes(ctx);
  for (const matches of [
    nodes.filter((n) => n.value.hostname === idOrHostname),
    nodes.filter((n) => n.value.id.startsWith(idOrHostname)),
  ]) {
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) {
      throw new NodeNotFoundError(idOrHostname, `is ambiguous (${matches.length} matches found)`);
    }
  }
  throw new NodeNotFoundError(idOrHostname);
}

export async function updateNode(ctx: Context, idOrHostname: string, opts: UpdateNodeOptions): Promise<Node> {
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('updateNode needs options');
  const availability = opts.availability === undefined ? undefined : checkAvailability(opts.availability);
  const labels = opts.labels === undefined ? undefined : checkLabels(opts.labels);
  const found = await findNode(ctx, idOrHostname);
  const next = await updateRecord<Node>(ctx.store, found.pair.key, (current) => {
    if (current?.id !== found.value.id) throw new NodeNotFoundError(idOrHostname);
    return { ...current, ...(availability ? { availability } : {}), ...(labels ? { labels } : {}) };
  });
  await ctx.bump();
  return next as Node;
}

/**
 * Removes a node record. A node that is not down is refused unless forced (docker's rule): its
 * agent would still be running tasks. The manager then orphans and replaces its tasks.
 */
export async function removeNode(ctx: Context, idOrHostname: string, force = false): Promise<void> {
  const found = await findNode(ctx, idOrHostname);
  await updateRecord<Node>(ctx.store, found.pair.key, (current) => {
    if (current?.id !== found.value.id) return UNCHANGED;
    if (current.state !== 'down' && !force) throw new NodeNotDownError(idOrHostname);
    return DELETE;
  });
  // The record is gone (keys are ids): so is its hostname entry. A crash in between leaves an
  // entry that registration skips and reconciliation deletes.
  await ctx.store.delete(ctx.layout.hostnameNode(found.value.hostname, found.value.id)).catch((err) => {
    if (!isKVError(err, 'KEY_NOT_FOUND')) throw err;
  });
  await ctx.bump();
}

export interface RegisterNodeOptions {
  hostname: string;
  addr: string;
  labels: Record<string, string>;
  heartbeatPeriodMs: number;
}

/**
 * What an agent does when it starts: a node that is `down` with the same hostname is taken
 * over (a restarted worker comes back as itself, with its id; the manager marks it ready on its
 * first heartbeat); otherwise a new node is created `ready`.
 *
 * Cost: it reads only its hostname's entries (`hostnames/<hostname>/`, usually none or one), so
 * a join storm of N agents is O(N) reads, not N listings of every node (O(N²): the limiter of
 * issue 18's first 500-node runs). The entry is written before the node record, so every node
 * this writes has one; reconciliation adds those of nodes written before the index existed.
 */
export async function registerNode(ctx: Context, opts: RegisterNodeOptions): Promise<Node> {
  const hostname = checkHostname(opts.hostname);
  const labels = checkLabels(opts.labels);
  const now = new Date().toISOString();
  for (const id of await hostnameEntries(ctx, hostname)) {
    const taken = await updateRecord<Node>(ctx.store, ctx.layout.node(id), (current) =>
      current?.hostname === hostname && current.state === 'down'
        ? { ...current, addr: opts.addr, labels, heartbeatPeriodMs: opts.heartbeatPeriodMs }
        : UNCHANGED,
    );
    if (taken?.hostname === hostname && taken.state === 'down') return taken;
  }
  const node: Node = {
    id: newId(),
    hostname,
    addr: opts.addr,
    labels,
    availability: 'active',
    state: 'ready',
    message: '',
    heartbeatPeriodMs: opts.heartbeatPeriodMs,
    createdAt: now,
    stateSince: now,
  };
  await ctx.store.put(ctx.layout.hostnameNode(hostname, node.id), now);
  await ctx.store.atomicPut(ctx.layout.node(node.id), JSON.stringify(node), null);
  // No bump: a new node unblocks no allocation (the manager's own watch of nodes sees it).
  return node;
}

/** Node ids under one hostname's entries. */
async function hostnameEntries(ctx: Context, hostname: string): Promise<string[]> {
  const dir = `${ctx.layout.hostnameNodes(hostname)}/`;
  return (await ctx.store.list(ctx.layout.hostnameNodes(hostname)))
    .filter((p) => p.key.startsWith(dir) && !p.key.slice(dir.length).includes('/'))
    .map((p) => p.key.slice(dir.length));
}

/**
 * Makes the hostname entries agree with the node records: adds the missing ones (nodes written
 * before the index, or by a crashed remover's peer) and deletes those whose node is gone, once
 * older than `staleAfterMs` (a registration writes its entry just before its node). Returns how
 * many entries it changed.
 */
export async function reconcileHostnames(
  ctx: Context,
  staleAfterMs: number,
  nowMs = Date.now(),
): Promise<number> {
  const entries = await ctx.store.list(ctx.layout.hostnames);
  const nodes = await listNodes(ctx);
  const ids = new Set(nodes.map((n) => n.value.id));
  const indexed = new Set<string>();
  let changed = 0;
  const base = `${ctx.layout.hostnames}/`;
  for (const pair of entries) {
    const rest = pair.key.startsWith(base) ? pair.key.slice(base.length) : pair.key;
    const id = rest.slice(rest.lastIndexOf('/') + 1);
    if (ids.has(id)) {
      indexed.add(id);
      continue;
    }
    const writtenMs = Date.parse(text(pair));
    if (Number.isFinite(writtenMs) && nowMs - writtenMs < staleAfterMs) continue;
    await ctx.store.atomicDelete(pair.key, pair).catch((err) => {
      if (!isConflict(err)) throw err;
    });
    changed++;
  }
  for (const { value: node } of nodes) {
    if (indexed.has(node.id)) continue;
    await ctx.store.put(ctx.layout.hostnameNode(node.hostname, node.id), node.createdAt);
    changed++;
  }
  return changed;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
