import { readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freeLoopbackPorts } from '../../src/raft-node/local-cluster.js';

const ephemeralLow = (): number => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
};

describe('freeLoopbackPorts', () => {
  it('hands out distinct bindable ports below the ephemeral range, which no port-0 bind or connect takes', async () => {
    const low = ephemeralLow();
    const ports = await freeLoopbackPorts(8);
    expect(new Set(ports).size).toBe(8);
    for (const port of ports) {
      if (low - 10_000 >= 1000) {
        expect(port).toBeGreaterThanOrEqual(10_000);
        expect(port).toBeLessThan(low);
      }
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    }
    // What took a killed node's port on CI: the local end of an outgoing connection. Those come
    // from the ephemeral range, so they never land on a port handed out here.
    const target = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const { port } = target.address() as { port: number };
    const client = new Socket();
    await new Promise<void>((resolve, reject) => {
      client.once('error', reject);
      client.connect(port, '127.0.0.1', resolve);
    });
    expect(ports).not.toContain(client.localPort);
    if (low - 10_000 >= 1000) expect(client.localPort).toBeGreaterThanOrEqual(low);
    client.destroy();
    await new Promise((resolve) => target.close(resolve));
  });
});
