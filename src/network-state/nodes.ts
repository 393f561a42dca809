import { InvalidArgumentError } from '../store/errors.js';
import { DELETE, listRecords, readRecord, UNCHANGED, updateRecord, type Versioned } from './cas.js';
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
 */
export async function registerNode(ctx: Context, opts: RegisterNodeOptions): Promise<Node> {
  const hostname = checkHostname(opts.hostname);
  const labels = checkLabels(opts.labels);
  const now = new Date().toISOString();
  for (const existing of await listNodes(ctx)) {
    if (existing.value.hostname !== hostname || existing.value.state !== 'down') continue;
    const taken = await updateRecord<Node>(ctx.store, existing.pair.key, (current) =>
      current?.id === existing.value.id && current.state === 'down'
        ? { ...current, addr: opts.addr, labels, heartbeatPeriodMs: opts.heartbeatPeriodMs }
        : UNCHANGED,
    );
    if (taken?.id === existing.value.id && taken.state === 'down') return taken;
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
  await ctx.store.atomicPut(ctx.layout.node(node.id), JSON.stringify(node), null);
  await ctx.bump();
  return node;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
