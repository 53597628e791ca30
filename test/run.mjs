// Runs the test suite with `node --test` (TypeScript through tsx), on the machine's Node or on
// another Node binary, with or without the browser tests.
//
//   node test/run.mjs                           every file of test/unit, test/integration, test/e2e
//   node test/run.mjs --node 26                 the same on Node 26 (test/runtimes/node_modules)
//   node test/run.mjs --node /path/to/node      … or on any Node binary
//   node test/run.mjs --no-browser              browser tests skipped (HERALD_TEST_BROWSERS=off)
//   node test/run.mjs test/unit/parse.test.ts   only these files
//
// Plain JavaScript, so it starts on any Node without a loader. The Node it runs the tests on
// also runs every process a test spawns (they use process.execPath).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The folders `npm test` runs, in this order. */
const SUITE_DIRS = ['test/unit', 'test/integration', 'test/e2e'];

const USAGE = `usage: node test/run.mjs [--node <22|24|26|path>] [--no-browser] [files…]`;

/** Every `*.test.ts` file of `dir`, sorted (what the shell's glob gave before). */
function testFiles(dir) {
  return readdirSync(join(ROOT, dir))
    .filter((name) => name.endsWith('.test.ts'))
    .sort()
    .map((name) => `${dir}/${name}`);
}

/**
 * The Node binary `spec` names: a major version installed by `npm run test:runtimes:install`
 * (test/runtimes/node_modules/node<major>/bin/node), or a path.
 */
function resolveNode(spec) {
  if (/^\d+$/.test(spec)) {
    const path = join(ROOT, 'test', 'runtimes', 'node_modules', `node${spec}`, 'bin', 'node');
    if (!existsSync(path)) {
      throw new Error(
        `--node ${spec}: ${relative(ROOT, path)} is missing; install the test runtimes with: npm run test:runtimes:install (Node ${spec} must be listed in test/runtimes/package.json)`,
      );
    }
    return path;
  }
  if (!existsSync(spec)) throw new Error(`--node ${spec}: no such file`);
  return spec;
}

function parseArgs(argv) {
  const options = { node: process.execPath, browser: true, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--node') {
      const value = argv[++i];
      if (value === undefined) throw new Error(`--node needs a value\n${USAGE}`);
      options.node = resolveNode(value);
    } else if (arg.startsWith('--node=')) options.node = resolveNode(arg.slice('--node='.length));
    else if (arg === '--no-browser') options.browser = false;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}\n${USAGE}`);
    else options.files.push(arg);
  }
  return options;
}

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (error) {
  console.error(error.message);
  process.exit(2);
}

const files = options.files.length > 0 ? options.files : SUITE_DIRS.flatMap(testFiles);
const env = { ...process.env };
// Read by test/helpers/chromium.ts: every browser test is skipped, with this as the reason.
if (!options.browser) env.HERALD_TEST_BROWSERS = 'off';

const version = execFileSync(options.node, ['--version'], { encoding: 'utf8' }).trim();
console.log(
  `node ${version} (${options.node}): ${files.length} test files${options.browser ? '' : ', browser tests off'}`,
);
// The spec reporter as it runs, and test/summary-reporter.mjs, whose few lines (the failed
// tests, the slowest files) are printed at the end, where a CI log's tail shows them.
const summaryFile = join(mkdtempSync(join(tmpdir(), 'herald-test-')), 'summary.txt');
env.HERALD_TEST_SUMMARY = summaryFile;
const reporters = [
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  `--test-reporter=${join(ROOT, 'test', 'summary-reporter.mjs')}`,
  '--test-reporter-destination=stdout',
];
const child = spawn(
  options.node,
  // --test-force-exit: a file whose tests have all finished ends, even if something it opened
  // (a client reconnecting to a server a failed test left behind) would keep it alive; without
  // it, one failure could hold the whole run until CI's timeout.
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-force-exit',
    ...reporters,
    ...files,
  ],
  {
    cwd: ROOT,
    env,
    stdio: 'inherit',
  },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (existsSync(summaryFile)) console.log(`\n${readFileSync(summaryFile, 'utf8')}`);
  rmSync(dirname(summaryFile), { recursive: true, force: true });
  if (signal === null) process.exit(code ?? 1);
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});
