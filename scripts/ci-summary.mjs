// Sums vitest JSON reports into the one line CI reads: `tests: N passed, M failed[, K skipped]`.
// Arguments are `report.json:exitcode` pairs. A report that is missing or unreadable (the runner
// crashed), or a step that failed although its report shows no failed test (a sanitizer or leak
// check after the tests), counts as one failure.
// An argument `step:NAME:exitcode` is a step without a report (the fuzzer): one test, passed
// when the exit code is 0, failed otherwise. An argument `junit:FILE:exitcode` is ctest's JUnit
// report (scripts/test-native.sh --junit): its testsuite's tests/failures/skipped counts.
import { readFileSync } from 'node:fs';

/** tests/failures/skipped of ctest's one <testsuite>, or undefined when the file is unreadable. */
function junitCounts(file) {
  let xml;
  try {
    xml = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const suite = /<testsuite\b([^>]*)>/.exec(xml);
  if (!suite) return undefined;
  const attr = (name) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(suite[1])?.[1] ?? NaN);
  const counts = { tests: attr('tests'), failures: attr('failures'), skipped: attr('skipped') + attr('disabled') };
  return Object.values(counts).every(Number.isFinite) ? counts : undefined;
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('step:')) {
    const [, name, rc] = arg.split(':');
    if (rc !== undefined && rc !== '' && Number(rc) === 0) {
      passed += 1;
    } else {
      console.error(`ci: step ${name} exited ${rc}`);
      failed += 1;
    }
    continue;
  }
  if (arg.startsWith('junit:')) {
    const at = arg.lastIndexOf(':');
    const file = arg.slice('junit:'.length, at);
    const code = Number(arg.slice(at + 1));
    const c = junitCounts(file);
    if (!c || c.tests === 0) {
      console.error(`ci: no readable native test report at ${file}`);
      failed += 1;
      continue;
    }
    passed += c.tests - c.failures - c.skipped;
    failed += c.failures;
    skipped += c.skipped;
    if (code !== 0 && c.failures === 0) {
      console.error(`ci: ${file} shows no failed test but its step exited ${code}`);
      failed += 1;
    }
    continue;
  }
  const at = arg.lastIndexOf(':');
  const file = arg.slice(0, at);
  const code = Number(arg.slice(at + 1));
  try {
    const r = JSON.parse(readFileSync(file, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests + (r.numTodoTests ?? 0);
    const suiteFailures = r.numFailedTestSuites > 0 && r.numFailedTests === 0 ? r.numFailedTestSuites : 0;
    failed += suiteFailures;
    if (code !== 0 && r.numFailedTests === 0 && suiteFailures === 0) {
      console.error(`ci: ${file} shows no failed test but its step exited ${code}`);
      failed += 1;
    }
  } catch {
    console.error(`ci: no readable test report at ${file}`);
    failed += 1;
  }
}
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
