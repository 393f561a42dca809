#!/usr/bin/env node
import { parseArgs } from 'node:util';
import '../backends/index.js';
import { redactSecrets, secretsInUrl } from '../secrets/redact.js';
import { createStore } from '../store/create-store.js';
import { KVError } from '../store/errors.js';
import { type CliContext, type CommandModule, DEFAULT_STORE_URL } from './context.js';
import { UsageError } from './kv.js';

const groups: Record<string, () => Promise<CommandModule>> = {
  get: () => import('./kv.js'),
  put: () => import('./kv.js'),
  del: () => import('./kv.js'),
  ls: () => import('./kv.js'),
  watch: () => import('./kv.js'),
  lock: () => import('./kv.js'),
  raft: () => import('./raft.js'),
  network: () => import('./network.js'),
  service: () => import('./service.js'),
  discovery: () => import('./discovery.js'),
  dns: () => import('./dns.js'),
  gossip: () => import('./gossip.js'),
  agent: () => import('./agent.js'),
  manager: () => import('./manager.js'),
  node: () => import('./node.js'),
};

const help = `kvkit — one Store API over etcd, Consul, ZooKeeper, LMDB and an embedded Raft cluster

  kvkit get|put|del|ls|watch|lock KEY ...   key-value commands on any store
  kvkit network create|ls|inspect|rm ...   overlay networks, IPAM and VXLAN IDs (docker's words)
  kvkit service create|ls|ps|scale|inspect|rm ...   services and their tasks' addresses
  kvkit raft start|status|members|remove|certs   the embedded Raft cluster
  kvkit discovery register|ls [--watch] ...   node discovery (Docker's docker/nodes keys)
  kvkit dns serve --listen HOST:PORT ...   DNS for services and tasks (Swarm's names)
  kvkit gossip members|networks|entries NET|run ...   the gossip control plane, asked of any member
  kvkit agent start --hostname NAME [--label K=V]...   join the Swarm as a worker and run its tasks
  kvkit manager run   the Swarm manager (scheduler, dispatcher, orchestrator); one acts at a time
  kvkit node ls|inspect|update|rm ...   the Swarm's worker nodes (docker's columns)

Every command takes --store URL (default: $KVKIT_STORE, then ${DEFAULT_STORE_URL}).
Store URLs: memory:  local:///abs/dir  etcd://h:p  consul://h:p  zk://h:p  raft://h:p,h:p`;

/** Secrets every line on stderr is cleaned of: those of the --store URL, once it is known. */
const secrets: string[] = [];
const redact = (text: string): string => redactSecrets(text, secrets);

async function main(argv: string[]): Promise<number> {
  const [group] = argv;
  if (!group || group === '--help' || group === '-h' || group === 'help' || !groups[group]) {
    process.stdout.write(`${help}\n`);
    return group && !['--help', '-h', 'help'].includes(group) ? 2 : 0;
  }
  const { values } = parseArgs({ args: argv, strict: false, options: { store: { type: 'string' } } });
  const url =
    (typeof values.store === 'string' ? values.store : undefined) ??
    process.env.KVKIT_STORE ??
    DEFAULT_STORE_URL;
  secrets.push(...secretsInUrl(url));
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  const ctx: CliContext = {
    openStore: () => createStore(url),
    stdout: (t) => process.stdout.write(`${t}\n`),
    stderr: (t) => process.stderr.write(`${redact(t)}\n`),
    signal: stop.signal,
  };
  const module = await groups[group]();
  const args = ['get', 'put', 'del', 'ls', 'watch', 'lock'].includes(group) ? argv : argv.slice(1);
  return module.run(args, ctx);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Messages are redacted where they are made; this is the last line of defence (a library's error).
    if (err instanceof UsageError) process.stderr.write(`usage: ${redact(err.message)}\n`);
    else if (err instanceof KVError) process.stderr.write(`kvkit: ${err.code}: ${redact(err.message)}\n`);
    else process.stderr.write(`kvkit: ${redact((err as Error)?.stack ?? String(err))}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
