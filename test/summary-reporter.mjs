// A second reporter for `node --test` (test/run.mjs adds it after the spec reporter): what a
// long log buries, in a few lines that test/run.mjs prints at the end of the run:
//   - every failed test, with its file and the first line of its error;
//   - the slowest test files (the sum of their top-level tests), which is where CI time goes.
// The runner ends as soon as the last test does (--test-force-exit), before a reporter's last
// words reach stdout, so the summary is kept up to date in a file (HERALD_TEST_SUMMARY) after
// each top-level test, and test/run.mjs prints that file once the runner has exited.
// Plain JavaScript, so that every Node the suite runs on loads it without a loader.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';

/** How many of the slowest files are listed. */
const SLOWEST = 12;

/** The first line of a failed test's error, without the runner's wrapping. */
function firstLine(error) {
  const cause = error?.cause ?? error;
  const text = cause instanceof Error ? cause.message : String(cause ?? 'failed');
  return text.split('\n', 1)[0].slice(0, 300);
}

/** The summary's text. */
function render(perFile, failures) {
  const slowest = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST);
  let out = 'slowest test files:\n';
  for (const [file, ms] of slowest) out += `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${file}\n`;
  return (
    out +
    (failures.length === 0
      ? 'failed tests: none\n'
      : `failed tests (${failures.length}):\n${failures.join('\n')}\n`)
  );
}

/** @param {AsyncIterable<{ type: string, data: any }>} source */
export default async function* summary(source) {
  const path = process.env.HERALD_TEST_SUMMARY;
  const failures = [];
  /** @type {Map<string, number>} milliseconds per file */
  const perFile = new Map();
  for await (const { type, data } of source) {
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    const file = data.file ? relative(process.cwd(), data.file) : '(unknown file)';
    // A failed suite repeats its failed tests: list the tests themselves, and a suite only
    // when it failed on its own (a hook, or a subtest that never ran). A failed `todo` test
    // does not fail the run: not listed either.
    const error = data.details?.error;
    if (type === 'test:fail' && error?.failureType !== 'subtestsFailed' && !data.todo) {
      failures.push(`  ✖ ${file} › ${data.name}: ${firstLine(error)}`);
    }
    if (data.nesting === 0) {
      perFile.set(file, (perFile.get(file) ?? 0) + (data.details?.duration_ms ?? 0));
      if (path) writeFileSync(path, render(perFile, failures));
    }
  }
  if (path) writeFileSync(path, render(perFile, failures));
  else yield `\n${render(perFile, failures)}`;
}
