// Runs the tests of what Herald says works on Deno and Bun — the protocol, the client and
// createEventStreamResponse — under Deno or Bun, from their npm packages in
// test/runtimes/node_modules (`npm run test:runtimes:install`).
//
//   node test/runtimes/run.mjs deno                  the runtime suite under Deno
//   node test/runtimes/run.mjs bun                   … under Bun
//   node test/runtimes/run.mjs bun test/unit/parse.test.ts   only these files
//
// The files are the same node:test files Node runs: both runtimes implement node:test (Deno
// maps it onto `deno test`, Bun onto `bun test`) and load TypeScript themselves. Servers are
// real and run inside the runtime (node:http, createHub). Browser tests are skipped
// (HERALD_TEST_BROWSERS=off); type checking is tsc's job, with Node's types.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

/**
 * Which test files make the runtime suite, by folder: every file whose name matches, except
 * the browser ones (`*-chromium`, `*-firefox`, `*-browsers`). New client tests
 * (`client-*.test.ts`) join by their name.
 */
const SELECTION = [
  // herald/protocol
  ['test/unit', /^(parse|encode|protocol-properties|fuzz-protocol)\.test\.ts$/],
  // herald/client (client-ip is the server's reading of a client address, not herald/client)
  ['test/unit', /^client-(?!ip\.).*\.test\.ts$/],
  ['test/integration', /^client-.*\.test\.ts$/],
  // createEventStreamResponse
  ['test/integration', /^event-stream-fetch\.test\.ts$/],
  // what only a runtime of its own can test (its native server)
  ['test/runtimes', /\.test\.ts$/],
];

/** How each runtime runs node:test files. */
const RUNTIMES = {
  deno: {
    bin: 'deno',
    // --sloppy-imports: the sources import `./x.js` for `./x.ts`, as TypeScript's NodeNext
    // resolution wants; --no-lock: no deno.lock in the checkout.
    args: (files) => [
      'test',
      '--allow-all',
      '--no-check',
      '--sloppy-imports',
      '--no-lock',
      ...files,
    ],
  },
  bun: {
    bin: 'bun',
    // bun test takes a bare name for a filter: paths start with ./. Its default timeout (5 s a
    // test) is shorter than some client tests take on a loaded machine; node:test has none.
    args: (files) => ['test', '--timeout', '60000', ...files.map((file) => `./${file}`)],
  },
};

function selectedFiles() {
  return SELECTION.flatMap(([dir, pattern]) =>
    readdirSync(join(ROOT, dir))
      .filter((name) => pattern.test(name) && !/-(chromium|firefox|browsers)\./.test(name))
      .sort()
      .map((name) => `${dir}/${name}`),
  );
}

const [name, ...files] = process.argv.slice(2);
const runtime = RUNTIMES[name];
if (runtime === undefined) {
  console.error(`usage: node test/runtimes/run.mjs <${Object.keys(RUNTIMES).join('|')}> [files…]`);
  process.exit(2);
}
const bin = join(HERE, 'node_modules', '.bin', runtime.bin);
if (!existsSync(bin)) {
  console.error(
    `${relative(ROOT, bin)} is missing; install the test runtimes with: npm run test:runtimes:install`,
  );
  process.exit(2);
}

const chosen = files.length > 0 ? files : selectedFiles();
// `deno --version` says "deno 2.9.6 (…)", `bun --version` only "1.4.5".
const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).split('\n')[0];
const named = version.startsWith(name) ? version : `${name} ${version}`;
console.log(`${named}: ${chosen.length} test files, browser tests off`);
const child = spawn(bin, runtime.args(chosen), {
  cwd: ROOT,
  env: { ...process.env, HERALD_TEST_BROWSERS: 'off' },
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (signal === null) process.exit(code ?? 1);
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});
