/**
 * No password or token of etcd, Consul or ZooKeeper ever shows in an error: every connect-error
 * path (nothing listening, a host that never answers, a host that answers garbage) and every
 * refused login (wrong password, unknown ACL token, wrong digest) rejects with a typed error in
 * whose message, stack, own properties and cause chain (as util.inspect prints it to a log) the
 * secret appears nowhere (expectNoSecrets, src/conformance/secrets.ts).
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure } from '../../src/conformance/helpers.js';
import { expectNoSecrets } from '../../src/conformance/secrets.js';
import { createStore, type Store } from '../../src/index.js';
import { type RunningCluster, startCluster } from './clusters.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1 is set on purpose.
const dockerAvailable = await requireDocker();

/** Distinct, so a leak of one is not mistaken for another. */
const PASSWORD = 'pw-Hunter2-do-not-log';
const TOKEN = 'f6c1e2d4-token-do-not-log';
const ROOT_TOKEN = 'root-token-consul-acl';

const servers: Server[] = [];
const sockets = new Set<Socket>();
function listen(onConnection: (socket: Socket) => void): Promise<string> {
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // the client hangs up as it likes
    onConnection(socket);
  });
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(`127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
    });
  });
}

/** Three kinds of wrong host on loopback: nothing listening, silent, and garbage. */
const wrongHosts: Record<string, string> = {};
beforeAll(async () => {
  const closed = await listen(() => {});
  servers.pop()?.close();
  wrongHosts.refused = closed;
  wrongHosts.silent = await listen(() => {});
  wrongHosts.garbage = await listen((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 500 Oops\r\ncontent-length: 7\r\n\r\ngarbage\x00\xff'));
  });
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('connect errors carry no secret', () => {
  const urls: [string, (endpoint: string) => string][] = [
    ['etcd user:pass@', (e) => `etcd://root:${PASSWORD}@${e}?connectTimeoutMs=1500`],
    ['etcd ?password=', (e) => `etcd://${e}?username=root&password=${PASSWORD}&connectTimeoutMs=1500`],
    ['consul ?token=', (e) => `consul://${e}?token=${TOKEN}&connectTimeoutMs=1500`],
    ['zk user:pass@', (e) => `zk://alice:${PASSWORD}@${e}?connectTimeoutMs=1500`],
  ];
  for (const [name, url] of urls) {
    for (const host of ['refused', 'silent', 'garbage']) {
      it(`${name} on a ${host} host rejects with NOT_REACHABLE and no secret`, async () => {
        const err = await failure(() => createStore(url(wrongHosts[host])));
        expect(err.code).toBe('NOT_REACHABLE');
        expectNoSecrets(err, [PASSWORD, TOKEN]);
      });
    }
  }
});

describe.skipIf(!dockerAvailable)('refused logins carry no secret', () => {
  const stores: Store[] = [];
  afterAll(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
  });
  const open = async (url: string) => {
    const store = await createStore(url);
    stores.push(store);
    return store;
  };

  describe('etcd with auth enabled', () => {
    let etcd: RunningServer | undefined;
    const etcdctl = async (...args: string[]) => {
      const { exitCode, output } = await (etcd as RunningServer).exec(['etcdctl', ...args]);
      expect(exitCode, output).toBe(0);
    };
    beforeAll(async () => {
      etcd = await startServer('etcd');
      await etcdctl('user', 'add', 'root', `--new-user-password=${PASSWORD}`);
      await etcdctl('role', 'add', 'root');
      await etcdctl('user', 'grant-role', 'root', 'root');
      await etcdctl('auth', 'enable');
    }, 300_000);
    afterAll(async () => {
      await etcd?.close();
    });

    it('rejects a wrong password with PERMISSION_DENIED naming neither password', async () => {
      const wrong = `${PASSWORD}-wrong`;
      const err = await failure(() => createStore(`etcd://root:${wrong}@${etcd?.endpoint}`));
      expect(err.code).toBe('PERMISSION_DENIED');
      expectNoSecrets(err, [PASSWORD, wrong]);
    });

    it('serves the right password, and its refusals of a user without rights name no secret', async () => {
      const root = await open(`etcd://root:${PASSWORD}@${etcd?.endpoint}`);
      await root.put('secrets/k', 'v');
      await etcdctl('--user', `root:${PASSWORD}`, 'user', 'add', 'nobody', `--new-user-password=${TOKEN}`);
      const nobody = await open(`etcd://nobody:${TOKEN}@${etcd?.endpoint}`);
      const err = await failure(() => nobody.get('secrets/k'));
      expect(err.code).toBe('PERMISSION_DENIED');
      expectNoSecrets(err, [PASSWORD, TOKEN]);
    });
  });

  describe('consul with ACLs (default deny)', () => {
    let consul: RunningCluster | undefined;
    beforeAll(async () => {
      consul = await startCluster('consul', {
        size: 1,
        extra: ['-hcl', `acl { enabled = true default_policy = "deny" tokens { master = "${ROOT_TOKEN}" } }`],
      });
    }, 300_000);
    afterAll(async () => {
      await consul?.close();
    });

    it('rejects an unknown token with PERMISSION_DENIED and no secret', async () => {
      const store = await open(`consul://${consul?.endpoints[0]}?token=${TOKEN}`);
      for (const call of [() => store.put('secrets/k', 'v'), () => store.get('secrets/k')]) {
        const err = await failure(call);
        expect(err.code).toBe('PERMISSION_DENIED');
        expectNoSecrets(err, [TOKEN, ROOT_TOKEN]);
      }
    });

    it('serves the right token', async () => {
      const store = await open(`consul://${consul?.endpoints[0]}?token=${ROOT_TOKEN}`);
      await store.put('secrets/k', 'v');
      expect(new TextDecoder().decode((await store.get('secrets/k')).value)).toBe('v');
    });
  });

  describe('zookeeper with a digest ACL', () => {
    let zk: RunningServer | undefined;
    beforeAll(async () => {
      zk = await startServer('zookeeper');
      const digest = createHash('sha1').update(`alice:${PASSWORD}`).digest('base64');
      const made = await zk.exec([
        'zkCli.sh',
        '-server',
        '127.0.0.1:2181',
        'create',
        '/secrets',
        'for alice only',
        `digest:alice:${digest}:cdrwa`,
      ]);
      expect(made.exitCode, made.output).toBe(0);
    }, 300_000);
    afterAll(async () => {
      await zk?.close();
    });

    it('rejects a wrong password on a protected znode with PERMISSION_DENIED and no secret', async () => {
      const wrong = `${PASSWORD}-wrong`;
      const store = await open(`zk://alice:${wrong}@${zk?.endpoint}`);
      for (const call of [() => store.get('secrets'), () => store.put('secrets', 'x')]) {
        const err = await failure(call);
        expect(err.code).toBe('PERMISSION_DENIED');
        expectNoSecrets(err, [PASSWORD, wrong]);
      }
      const right = await open(`zk://alice:${PASSWORD}@${zk?.endpoint}`);
      expect(new TextDecoder().decode((await right.get('secrets')).value)).toBe('for alice only');
    });
  });
});
