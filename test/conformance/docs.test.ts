import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const doc = readFileSync(join(root, 'docs/conformance.md'), 'utf8');
const suiteFile = 'src/conformance/index.ts';

/** The test names a source file declares: the string literal opening each `it(`. */
function testNames(file: string): string[] {
  const source = readFileSync(join(root, file), 'utf8');
  return [...source.matchAll(/\bit(?:\.\w+(?:\([^)]*\))?)?\(\s*(['"`])((?:(?!\1).)*)\1/g)].map((m) => m[2]);
}

/** The test cell of every row of the tables whose second column is headed `test`. */
function citedTests(): { file: string; name: string }[] {
  const cited: { file: string; name: string }[] = [];
  let inTestTable = false;
  let header = '';
  for (const line of doc.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length !== 4) {
      inTestTable = false;
      header = '';
      continue;
    }
    if (cells[1].startsWith('---')) {
      inTestTable = header === 'test';
      continue;
    }
    if (!inTestTable) {
      header = cells[2];
      continue;
    }
    let file = suiteFile;
    for (const part of cells[2].split(';').map((p) => p.trim())) {
      const withFile = /^`([^`]+)`: (.*)$/.exec(part);
      if (withFile) file = withFile[1];
      cited.push({ file, name: withFile ? withFile[2] : part });
    }
  }
  return cited;
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

describe('docs/conformance.md', () => {
  it('cites only tests that exist, each in the file it names', () => {
    const cited = citedTests();
    expect(cited.length).toBeGreaterThan(50);
    const missing = cited.filter(
      ({ file, name }) => !existsSync(join(root, file)) || !testNames(file).includes(name),
    );
    expect(missing).toEqual([]);
  });

  it('names every rule of the conformance suite', () => {
    const cited = new Set(
      citedTests()
        .filter((c) => c.file === suiteFile)
        .map((c) => c.name),
    );
    expect(testNames(suiteFile).filter((name) => !cited.has(name))).toEqual([]);
  });

  it('lists every test file that runs the suite, and only files that exist', () => {
    const listed = [...doc.matchAll(/`(test\/[^`]+\.test\.ts)`/g)].map((m) => m[1]);
    for (const file of listed)
      expect({ file, exists: existsSync(join(root, file)) }).toEqual({ file, exists: true });
    const running = filesUnder('test').filter((f) =>
      readFileSync(join(root, f), 'utf8').includes('runConformance('),
    );
    expect(running.filter((f) => !listed.includes(f))).toEqual([]);
  });
});
