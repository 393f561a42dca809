import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore } from '../../src/index.js';
import { runMultiProcessScenario } from './multi-process.js';
import { localAvailable } from './stores.js';

// Only where the local (LMDB) backend is registered: the four processes share its file.
describe.runIf(localAvailable)('four processes on one local store', () => {
  it('never hand out an address or VNI twice, survive a SIGKILL, and leave every pool free once all is removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-netstate-mp-'));
    const store = await createStore(`local://${dir}`);
    try {
      const totals = await runMultiProcessScenario({ url: `local://${dir}`, store });
      // Thousands of addresses and dozens of VNIs went through the store concurrently.
      expect(totals.tasks + totals.ipam).toBeGreaterThan(1000);
      expect(totals.vnis).toBeGreaterThan(20);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
