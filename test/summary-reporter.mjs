// A second reporter for `node --test` (test/run.mjs adds it after the spec reporter): when the
// run ends it prints what a long log buries, in a few lines at its end:
//   - every failed test, with its file and the first line of its error;
//   - the slowest test files (the sum of their top-level tests), which is where CI time goes.
// Plain JavaScript, so that every Node the suite runs on loads it without a loader.
import { relative } from 'node:path';

/** How many of the slowest files are listed. */
const SLOWEST = 12;

/** The first line of a failed test's error, without the runner's wrapping. */
function firstLine(error) {
  const cause = error?.cause ?? error;
  const text = cause instanceof Error ? cause.message : String(cause ?? 'failed');
  return text.split('\n', 1)[0].slice(0, 300);
}

/** @param {AsyncIterable<{ type: string, data: any }>} source */
export default async function* summary(source) {
  const failures = [];
  /** @type {Map<string, number>} milliseconds per file */
  const perFile = new Map();
  for await (const { type, data } of source) {
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    const file = data.file ? relative(process.cwd(), data.file) : '(unknown file)';
    if (data.nesting === 0) {
      perFile.set(file, (perFile.get(file) ?? 0) + (data.details?.duration_ms ?? 0));
    }
    // A failed suite repeats its failed tests: list the tests themselves, and a suite only
    // when it failed on its own (a hook, or a subtest that never ran).
    const error = data.details?.error;
    // A failed `todo` test is reported, but does not fail the run: not listed either.
    if (type === 'test:fail' && error?.failureType !== 'subtestsFailed' && !data.todo) {
      failures.push(`  ✖ ${file} › ${data.name}: ${firstLine(error)}`);
    }
  }
  const slowest = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST);
  let out = `\nslowest test files:\n`;
  for (const [file, ms] of slowest) out += `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${file}\n`;
  out +=
    failures.length === 0
      ? 'failed tests: none\n'
      : `failed tests (${failures.length}):\n${failures.join('\n')}\n`;
  yield out;
}
