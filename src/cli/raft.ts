import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { RaftClientStore } from '../backends/raft/index.js';
import type { ReplicaMember, ReplicaStatus } from '../raft/replica.js';
import { CLIENT_CERT_NAME } from '../raft/runtime/certs.js';
import { loadTlsDir, type RaftNode, startRaftNode, writeClusterCertificates } from '../raft-node/index.js';
import { createStore, parseStoreUrl } from '../store/create-store.js';
import { whenAborted } from '../store/signals.js';
import type { Store } from '../store/types.js';
import { runManager } from '../swarm/manager.js';
import { formatColumns } from './columns.js';
import { type CliContext, DEFAULT_STORE_URL } from './context.js';
import { UsageError } from './kv.js';

const usage = `kvkit raft start --id ID --data-dir DIR --peer-addr HOST:PORT [--client-addr HOST:PORT]
                  (--initial-cluster ID=HOST:PORT,... | --join HOST:PORT[,...]) [--tls-dir DIR | --insecure]
                  [--max-value-bytes N] [--tick-ms MS] [--snapshot-every N] [--keep-entries N]
                  [--metrics-addr HOST:PORT] [--no-manager]
         (a Swarm manager runs inside the node unless --no-manager; without --tls-dir a node listens only on loopback unless --insecure is given)
       kvkit raft status|members [--json] [--store raft://HOST:PORT,...] [--tls-dir DIR]
       kvkit raft remove ID [--store raft://...] [--tls-dir DIR]
       kvkit raft certs --out DIR --nodes ID,ID,... [--hosts HOST,...] [--days N]`;

/** The client address a started node listens on unless told otherwise. */
export const DEFAULT_CLIENT_ADDR = '127.0.0.1:7101';

/**
 * `kvkit raft ...`: run a node, inspect and change a cluster through its client port, make
 * TLS certificates. `start` runs until SIGINT/SIGTERM (ctx.signal), then closes cleanly.
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest, ctx);
    case 'status':
    case 'members':
    case 'remove':
      return admin(command, rest, ctx);
    case 'certs':
      return certs(rest, ctx);
    default:
      throw new UsageError(usage);
  }
}

async function start(args: string[], ctx: CliContext): Promise<number> {
  const { values } = usageOnError(() =>
    parseArgs({
      args,
      allowPositionals: true,
      options: {
        id: { type: 'string' },
        'data-dir': { type: 'string' },
        'peer-addr': { type: 'string' },
        'client-addr': { type: 'string' },
        'initial-cluster': { type: 'string' },
        join: { type: 'string' },
        'tls-dir': { type: 'string' },
        insecure: { type: 'boolean' },
        'max-value-bytes': { type: 'string' },
        'tick-ms': { type: 'string' },
        'snapshot-every': { type: 'string' },
        'keep-entries': { type: 'string' },
        'metrics-addr': { type: 'string' },
        'no-manager': { type: 'boolean' },
        store: { type: 'string' },
      },
    }),
  );
  const id = values.id;
  const dataDir = values['data-dir'];
  const peerAddr = values['peer-addr'];
  if (!id || !dataDir || !peerAddr) throw new UsageError(usage);
  if (values['initial-cluster'] && values.join)
    throw new UsageError('give --initial-cluster or --join, not both');
  let fatal: unknown = null;
  const stopped = new AbortController();
  const options: Parameters<typeof startRaftNode>[0] = {
    id,
    dataDir,
    peerAddr,
    clientAddr: values['client-addr'] ?? DEFAULT_CLIENT_ADDR,
    initialCluster: values['initial-cluster'],
    join: values.join,
    tls: values['tls-dir'] ? loadTlsDir(values['tls-dir'], id) : undefined,
    insecure: values.insecure === true,
    maxValueBytes: values['max-value-bytes']
      ? positiveInt(values['max-value-bytes'], '--max-value-bytes')
      : undefined,
    logger: (line) => ctx.stderr(line),
    timing: values['tick-ms'] ? { tickMs: positiveInt(values['tick-ms'], '--tick-ms') } : undefined,
    snapshotEvery: values['snapshot-every']
      ? positiveInt(values['snapshot-every'], '--snapshot-every')
      : undefined,
    keepEntries: values['keep-entries'] ? positiveInt(values['keep-entries'], '--keep-entries') : undefined,
    metricsAddr: values['metrics-addr'],
    onFatal: (err) => {
      fatal = err;
      stopped.abort();
    },
  };
  const faultControl =
    process.env.KVKIT_RAFT_FAULT_CONTROL === 'stdin' ? controlFaults(id, ctx, () => stopped.abort()) : null;
  const node: RaftNode = await startRaftNode(options).catch((err: unknown) => {
    faultControl?.close(); // stdin must not keep a process alive whose node never started
    throw err;
  });
  const metrics = node.metricsAddr ? `, metrics http://${node.metricsAddr}/metrics` : '';
  ctx.stderr(`[${id}] started: peer ${node.peerAddr}, client ${node.clientAddr ?? '-'}${metrics}`);
  faultControl?.attach(node);
  // The Swarm manager inside every node (issue 14); one acts at a time, through a Store lock.
  const managerStop = new AbortController();
  const manager =
    values['no-manager'] === true
      ? null
      : runManager(node.store, {
          signal: managerStop.signal,
          onError: (err) => ctx.stderr(`[${id}] manager: ${(err as Error)?.message ?? String(err)}`),
          onActing: (acting) => ctx.stderr(`[${id}] manager ${acting ? 'acting' : 'standing by'}`),
        }).catch((err: unknown) =>
          ctx.stderr(`[${id}] manager stopped: ${(err as Error)?.message ?? String(err)}`),
        );
  try {
    await Promise.race([whenAborted(ctx.signal), whenAborted(stopped.signal)]);
  } finally {
    faultControl?.close();
    managerStop.abort();
    await manager;
    await node.close();
  }
  ctx.stderr(`[${id}] stopped`);
  return fatal === null ? 0 : 1;
}

/**
 * Test builds only (KVKIT_RAFT_FAULT_CONTROL=stdin): network faults driven by lines on
 * stdin — `block ID...`, `unblock ID...`, `isolate`, `heal` — answered on stderr. Stdin is the
 * test's pipe, so its end means the test process is gone (it closed the pipe, or died): the node
 * then stops, and exits anyway 10 s later, so a failed test never leaves a node process behind.
 */
function controlFaults(
  id: string,
  ctx: CliContext,
  onParentGone: () => void,
): { attach(node: RaftNode): void; close(): void } {
  let node: RaftNode | null = null;
  let closing = false;
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => {
    if (closing) return;
    ctx.stderr(`[${id}] stdin closed: the test that started this node is gone; stopping`);
    onParentGone();
    setTimeout(() => process.exit(1), 10_000).unref();
  });
  lines.on('line', (line) => {
    const [verb, ...ids] = line.trim().split(/\s+/);
    if (!node) {
      ctx.stderr(`[${id}] faults: not started yet, ignored ${JSON.stringify(line)}`);
      return;
    }
    switch (verb) {
      case 'block':
        node.faults.block(...ids);
        break;
      case 'unblock':
        node.faults.unblock(...ids);
        break;
      case 'isolate':
        node.faults.isolate();
        break;
      case 'heal':
        node.faults.heal();
        break;
      default:
        ctx.stderr(`[${node.id}] faults: unknown command ${JSON.stringify(line)}`);
        return;
    }
    ctx.stderr(`[${node.id}] faults: ${node.faults.describe()}`);
  });
  return {
    attach: (started) => {
      node = started;
    },
    close: () => {
      closing = true;
      lines.close();
    },
  };
}

async function admin(
  command: 'status' | 'members' | 'remove',
  args: string[],
  ctx: CliContext,
): Promise<number> {
  const { values, positionals } = usageOnError(() =>
    parseArgs({
      args,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        'tls-dir': { type: 'string' },
        store: { type: 'string' },
      },
    }),
  );
  if (command === 'remove' && positionals.length !== 1) throw new UsageError(usage);
  const store = await openClusterStore(values.store, values['tls-dir'], ctx);
  try {
    const cluster = (store as Partial<RaftClientStore>).cluster;
    if (!cluster)
      throw new UsageError(`kvkit raft ${command} needs a raft:// store (--store raft://host:port)`);
    switch (command) {
      case 'status': {
        const status = await cluster.status();
        ctx.stdout(values.json ? JSON.stringify(status) : formatStatus(status));
        return 0;
      }
      case 'members': {
        const members = await cluster.members();
        ctx.stdout(values.json ? JSON.stringify(members) : formatMembers(members));
        return 0;
      }
      case 'remove':
        await cluster.removeMember(positionals[0]);
        ctx.stdout(`removed ${positionals[0]}`);
        return 0;
    }
  } finally {
    await store.close();
  }
}

async function certs(args: string[], ctx: CliContext): Promise<number> {
  const { values } = usageOnError(() =>
    parseArgs({
      args,
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        nodes: { type: 'string' },
        hosts: { type: 'string' },
        days: { type: 'string' },
        store: { type: 'string' },
      },
    }),
  );
  if (!values.out || !values.nodes) throw new UsageError(usage);
  const list = (s: string | undefined) =>
    (s ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  const files = await writeClusterCertificates(values.out, {
    nodes: list(values.nodes),
    hosts: list(values.hosts),
    days: values.days ? positiveInt(values.days, '--days') : undefined,
  });
  ctx.stdout(`wrote ${files.length} files to ${values.out}:`);
  for (const f of files) ctx.stdout(`  ${f}`);
  ctx.stdout(
    `start each node with --tls-dir ${values.out}; clients use ca.crt with ${CLIENT_CERT_NAME}.crt/${CLIENT_CERT_NAME}.key`,
  );
  return 0;
}

/** The store named by --store (or KVKIT_STORE, or the default), with TLS from --tls-dir. */
async function openClusterStore(
  url: string | undefined,
  tlsDir: string | undefined,
  ctx: CliContext,
): Promise<Store> {
  if (url === undefined && tlsDir === undefined) return ctx.openStore();
  const options = parseStoreUrl(url ?? process.env.KVKIT_STORE ?? DEFAULT_STORE_URL);
  if (tlsDir) options.tls = loadTlsDir(tlsDir, CLIENT_CERT_NAME);
  return createStore(options);
}

export function formatStatus(s: ReplicaStatus): string {
  return [
    `node     ${s.id}`,
    `role     ${s.role}`,
    `term     ${s.term}`,
    `leader   ${s.leader ?? '(none)'}`,
    `commit   ${s.commitIndex}`,
    `applied  ${s.appliedIndex}`,
  ].join('\n');
}

export function formatMembers(members: ReplicaMember[]): string {
  return formatColumns([
    ['ID', 'ROLE', 'PEER', 'CLIENT'],
    ...members.map((m) => [m.id, m.voter ? 'voter' : 'learner', m.peerAddr, m.clientAddr ?? '-']),
  ]);
}

function usageOnError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${usage}`);
  }
}

function positiveInt(raw: string, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${what} must be a positive integer, got ${raw}`);
  return n;
}
