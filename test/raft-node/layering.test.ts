/**
 * The Raft layers as docs/raft-runtime.md draws them, read from the source: every import
 * points down (src/raft → src/backends/raft → src/raft-node), and the driver the node and the
 * simulator share takes its time from the clock it is given (no wall clock, timers or I/O in
 * anything it loads).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(SRC, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(SRC, join(e.parentPath, e.name)));
}

/** Relative imports of a file (src-relative paths), type-only ones left out when `valuesOnly`. */
function importsOf(file: string, valuesOnly = false): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const found: string[] = [];
  const statement = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/g;
  for (const m of text.matchAll(statement)) {
    if (valuesOnly && m[2]) continue;
    found.push(m[3]);
  }
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g)) found.push(m[1]); // for its effects
  for (const m of text.matchAll(/import\(\s*'([^']+)'\s*\)/g)) found.push(m[1]); // loaded lazily
  return found.map((spec) =>
    spec.startsWith('.') ? relative(SRC, resolve(SRC, dirname(file), spec)).replace(/\.js$/, '.ts') : spec,
  );
}

/** Node modules that compute and do no I/O (a CRC, bytes), which the driver may load. */
const COMPUTE_ONLY = new Set(['node:zlib', 'node:buffer']);

const under = (dir: string) => (path: string) => path.startsWith(`${dir}/`);

describe('the Raft layers', () => {
  it('src/raft imports nothing from the backends, the node layer, metrics or the CLI', () => {
    for (const file of sourceFiles('raft')) {
      const up = importsOf(file).filter(
        (p) => ['backends', 'raft-node', 'metrics', 'cli'].some((d) => under(d)(p)) || p === 'index.ts',
      );
      expect(up, file).toEqual([]);
    }
  });

  it('src/backends/raft imports nothing from the node layer or metrics', () => {
    for (const file of sourceFiles('backends/raft')) {
      const up = importsOf(file).filter((p) => under('raft-node')(p) || under('metrics')(p));
      expect(up, file).toEqual([]);
    }
  });

  it('the driver and everything it loads read no wall clock, set no timer and load no I/O module', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const p of importsOf(file, true)) if (p.endsWith('.ts')) visit(p);
    };
    visit('raft/runtime/driver.ts');
    expect(seen.size).toBeGreaterThan(5);
    for (const file of seen) {
      const text = readFileSync(join(SRC, file), 'utf8');
      expect(
        text.match(/Date\.now|new Date\(|performance\.now|set(Timeout|Interval|Immediate)\(/g),
        file,
      ).toBe(null);
      expect(
        importsOf(file).filter((p) => p.startsWith('node:') && !COMPUTE_ONLY.has(p)),
        file,
      ).toEqual([]);
    }
  });
});
