// Sums the vitest JSON report(s) into the one closing line the CI reader understands:
//   N passed, N failed[, N skipped]
// The line must never read green when something failed, so besides the failed tests it counts:
//  - every test of a file whose suite failed (a throwing beforeAll, a file that did not load)
//    that did not pass, although vitest marks those tests "skipped" and counts 0 failures;
//  - a failed file with no tests at all as one failure;
//  - a report whose own `success` is false (e.g. an unhandled error) as at least one failure;
//  - a missing or unreadable report as one failure;
//  - a test runner that exited non-zero (--runner-status N) with nothing else failed as one failure.
// Exits 1 when anything failed. Usage: node .ci/summarize.mjs [--runner-status N] REPORT.json [...]
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

let passed = 0;
let failed = 0;
let skipped = 0;
let files = 0;
const problems = [];
/** Why each failed test failed, in brief: the tail of a CI log is often all a reader gets. */
const reasons = [];
const MAX_REASON_LINES = 20;
const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');

const args = process.argv.slice(2);
let runnerStatus = 0;
if (args[0] === '--runner-status') {
  runnerStatus = Number(args[1]);
  args.splice(0, 2);
}

for (const file of args) {
  let report;
  try {
    if (!existsSync(file)) throw new Error('the test runner did not finish');
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    problems.push(`no usable report at ${file}: ${error.message}`);
    failed++;
    continue;
  }
  let failedHere = 0;
  for (const suite of report.testResults ?? []) {
    files++;
    const tests = suite.assertionResults ?? [];
    const count = (status) => tests.filter((t) => t.status === status).length;
    passed += count('passed');
    for (const test of tests.filter((t) => t.status === 'failed')) {
      const lines = plain((test.failureMessages ?? []).join('\n'))
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('at '));
      reasons.push(`why: ${test.fullName ?? test.title}`);
      for (const line of lines.slice(0, 6)) reasons.push(`  ${line.slice(0, 400)}`);
    }
    if (suite.status === 'failed') {
      const notPassed = tests.length - count('passed');
      const counted = Math.max(1, notPassed);
      failedHere += counted;
      const name = relative(process.cwd(), suite.name ?? '?');
      const why = suite.message ? `: ${suite.message.split('\n')[0]}` : '';
      problems.push(`FAILED ${name} (${counted} counted as failed)${why}`);
    } else {
      failedHere += count('failed');
      skipped += count('skipped') + count('pending') + count('todo');
    }
  }
  if (report.success === false && failedHere === 0) {
    problems.push(`${file}: vitest reported success: false (e.g. an unhandled error outside any test)`);
    failedHere = 1;
  }
  failed += failedHere;
}
if (runnerStatus !== 0 && failed === 0) {
  problems.push(`the test runner exited with ${runnerStatus} though no report shows a failure`);
  failed = 1;
}
if (passed + failed === 0) {
  problems.push('no test ran');
  failed = 1;
}
for (const line of reasons.slice(0, MAX_REASON_LINES)) console.log(line);
if (reasons.length > MAX_REASON_LINES) console.log(`  (${reasons.length - MAX_REASON_LINES} more lines of reasons in the report)`);
for (const line of problems) console.log(line);
console.log(`${files} test files`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
