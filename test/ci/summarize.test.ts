import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `.ci/summarize.mjs` writes CI's closing line. It is fed real vitest JSON reports: one vitest
 * run over test/ci/fixtures (a file whose beforeAll throws, a file that does not load, a file
 * that passes with one test skipped on purpose), split per file where a test needs one case.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const SUMMARIZE = join(ROOT, '.ci', 'summarize.mjs');
const FIXTURES = join(import.meta.dirname, 'fixtures');
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');

interface Report {
  success: boolean;
  testResults: { name: string }[];
  [field: string]: unknown;
}

let dir: string;
let report: Report;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvkit-summarize-'));
  const out = join(dir, 'fixtures.json');
  const run = spawnSync(
    process.execPath,
    [VITEST, 'run', '--root', FIXTURES, '--reporter=json', `--outputFile.json=${out}`],
    { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, CI: 'true' } },
  );
  expect(run.status, `vitest on the fixtures should fail:\n${run.stderr}`).toBe(1);
  report = JSON.parse(readFileSync(out, 'utf8'));
}, 150_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The report restricted to the fixture files whose names contain `part`, with `success` as given. */
function reportOf(part: string, success: boolean): Report {
  return { ...report, success, testResults: report.testResults.filter((f) => f.name.includes(part)) };
}

function summarize(...reports: (Report | string)[]): { status: number | null; lines: string[] } {
  return summarizeWith([], ...reports);
}

function summarizeWith(
  flags: string[],
  ...reports: (Report | string)[]
): { status: number | null; lines: string[] } {
  const paths = reports.map((r, i) => {
    if (typeof r === 'string') return r;
    const path = join(dir, `report-${i}-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(r));
    return path;
  });
  const run = spawnSync(process.execPath, [SUMMARIZE, ...flags, ...paths], { cwd: ROOT, encoding: 'utf8' });
  return { status: run.status, lines: run.stdout.trimEnd().split('\n') };
}

describe('.ci/summarize.mjs', () => {
  it('counts the tests of a file whose beforeAll threw as failed, though vitest marked them skipped', () => {
    const only = reportOf('before-all-fails', false);
    expect(only.testResults).toHaveLength(1);
    const { status, lines } = summarize(only);
    expect(lines.at(-1)).toBe('0 passed, 2 failed');
    expect(status).not.toBe(0);
  });

  it('counts a file that did not load as one failure', () => {
    const { status, lines } = summarize(reportOf('does-not-load', false));
    expect(lines.at(-1)).toBe('0 passed, 1 failed');
    expect(lines.join('\n')).toContain('this file fails while it loads');
    expect(status).not.toBe(0);
  });

  it('fails when vitest says success is false, even if every counted test passed', () => {
    const { status, lines } = summarize(reportOf('passes', false));
    expect(lines.at(-1)).toBe('1 passed, 1 failed, 1 skipped');
    expect(status).not.toBe(0);
  });

  it('sums the whole fixture run into one line that is not green', () => {
    const { status, lines } = summarize(report);
    expect(lines.at(-1)).toBe('1 passed, 3 failed, 1 skipped');
    expect(status).not.toBe(0);
  });

  it('passes a green report, listing tests skipped on purpose', () => {
    const { status, lines } = summarize(reportOf('passes', true));
    expect(lines.at(-1)).toBe('1 passed, 0 failed, 1 skipped');
    expect(status).toBe(0);
  });

  it('fails when the test runner exited non-zero, though its report shows no failure', () => {
    const { status, lines } = summarizeWith(['--runner-status', '1'], reportOf('passes', true));
    expect(lines.at(-1)).toBe('1 passed, 1 failed, 1 skipped');
    expect(status).not.toBe(0);
  });

  it('fails when a report is missing (the runner did not finish)', () => {
    const { status, lines } = summarize(reportOf('passes', true), join(dir, 'never-written.json'));
    expect(lines.at(-1)).toBe('1 passed, 1 failed, 1 skipped');
    expect(status).not.toBe(0);
  });
});
