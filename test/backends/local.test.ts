import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { runConformance } from '../../src/conformance/index.js';
import { createStore } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kvkit-local-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
runConformance({ name: 'local', open: () => createStore(`local://${dir}`) });
