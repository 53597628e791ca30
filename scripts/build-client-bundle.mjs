// Builds the browser bundle of herald/client: src/client/index.ts → dist/client.browser.js
// (ESM, minified, platform browser) with its types (dist/client.browser.d.ts, the same API as
// herald/client), and reports its size minified and minified + gzip; and the shared mode's
// worker script beside it: src/client/shared-worker.ts → dist/client.shared-worker.js
// (standalone, no imports), the bundle's default `workerUrl`; and the hub's dashboard page:
// src/server/dashboard/ui/ (index.html, app.ts, app.css) → dist/server/dashboard/dashboard.html,
// through the page builder tsc compiled to dist/ just before (see src/server/dashboard/page-build.ts).
//
//   node scripts/build-client-bundle.mjs            writes dist/client.browser.js (and the rest)
//   node scripts/build-client-bundle.mjs --check    builds in memory, only reports sizes
//
// It also reports what an application ships when a bundler tree-shakes the bundle down to the
// names it imports (CLIENT_SHAPES: EventSource alone, EventSource + subscribe, everything).
//
// The package's build runs it after tsc; tests import buildClientBundle() to serve the bundle
// from memory, and measureClientShapes() to hold the sizes to their budget.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Where the bundle is written. */
export const BUNDLE_PATH = join(root, 'dist', 'client.browser.js');

/** The shared mode's worker script, beside the bundle (the bundle's default `workerUrl`). */
export const SHARED_WORKER_PATH = join(root, 'dist', 'client.shared-worker.js');

/** The source of the shared mode's worker script. */
export const SHARED_WORKER_ENTRY = join(root, 'src', 'client', 'shared-worker.ts');

/**
 * The bundle's type declarations, written next to it: the bundle is herald/client's API, whose
 * declarations tsc writes to dist/client/index.d.ts.
 */
export const BROWSER_TYPES = `// The types of client.browser.js: the bundle of herald/client.
export * from './client/index.js';
`;

/**
 * Writes {@link BROWSER_TYPES} as `client.browser.d.ts` in `distDir`.
 *
 * @param {string} [distDir]
 */
export async function writeBrowserTypes(distDir = dirname(BUNDLE_PATH)) {
  await mkdir(distDir, { recursive: true });
  await writeFile(join(distDir, 'client.browser.d.ts'), BROWSER_TYPES);
}

/**
 * Modules of src/client that have a smaller browser version beside them (`name.browser.ts`),
 * which the browser bundle uses instead: code that only runs outside browsers is left out.
 */
const BROWSER_VARIANTS = ['redirect', 'runtime'];

/** An esbuild plugin that resolves each of {@link BROWSER_VARIANTS} to its browser version. */
const browserVariants = {
  name: 'herald-browser-variants',
  setup(builder) {
    const filter = new RegExp(`^\\./(${BROWSER_VARIANTS.join('|')})\\.js$`);
    builder.onResolve({ filter }, ({ path, resolveDir }) =>
      resolveDir === join(root, 'src', 'client')
        ? { path: join(resolveDir, path.replace(/\.js$/, '.browser.ts')) }
        : undefined,
    );
  },
};

/** esbuild's options for a browser bundle: ESM, minified, tree-shaken. */
const BROWSER_OPTIONS = {
  plugins: [browserVariants],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  treeShaking: true,
  legalComments: 'none',
  // Internal properties of the connection engine's configuration (src/client/connection.ts) and
  // its watchdog get short names: none is part of the API, nor crosses to the shared worker (a
  // separate build). Names users pass or read must never be listed here.
  mangleProps: /^(decide|explain|guard|onTooLarge|kick)$/,
  // The bundle's shared mode starts the worker script next to it (see src/client/shared.ts).
  define: {
    HERALD_SHARED_WORKER_FILE: JSON.stringify('./client.shared-worker.js'),
    // Brief error messages, with a pointer to the docs (see src/protocol/brief.ts).
    HERALD_BRIEF_MESSAGES: 'true',
  },
  write: false,
  logLevel: 'silent',
};

/** Size of `bytes`, minified (as they are) and gzipped at level 9. */
function sizes(bytes) {
  return { minBytes: bytes.byteLength, gzipBytes: gzipSync(bytes, { level: 9 }).byteLength };
}

/**
 * The shapes applications import, by name: what each imports from the bundle (`null`: every
 * export).
 */
export const CLIENT_SHAPES = [
  { name: '`EventSource` alone', imports: ['EventSource'] },
  { name: '`EventSource` + `subscribe`', imports: ['EventSource', 'subscribe'] },
  { name: 'the whole bundle', imports: null },
];

/**
 * What an application that imports `EventSource` and `subscribe` may ship, in bytes min + gzip:
 * today's size, so that it can only shrink. Lower it as the bundle shrinks, down to the goal.
 */
export const EVENT_SOURCE_SUBSCRIBE_BUDGET = 5780;

/** What an application that imports `EventSource` and `subscribe` should ship: 4 KB min + gzip. */
export const EVENT_SOURCE_SUBSCRIBE_GOAL = 4096;

/**
 * Measures each of {@link CLIENT_SHAPES}: esbuild bundles a tiny entry that imports only those
 * names from the client's entry point (what a bundler does with an application that imports
 * them from the browser bundle), minified and tree-shaken for browsers.
 *
 * @returns {Promise<{ name: string, imports: string[] | null, minBytes: number, gzipBytes: number }[]>}
 */
export async function measureClientShapes() {
  const source = JSON.stringify(join(root, 'src', 'client', 'index.ts'));
  const measured = [];
  for (const shape of CLIENT_SHAPES) {
    const contents =
      shape.imports === null
        ? `export * from ${source};`
        : `export { ${shape.imports.join(', ')} } from ${source};`;
    const result = await build({
      ...BROWSER_OPTIONS,
      stdin: { contents, resolveDir: root, loader: 'js', sourcefile: 'app.js' },
    });
    measured.push({ ...shape, ...sizes(result.outputFiles[0].contents) });
  }
  return measured;
}

/**
 * Bundles `entry` for browsers.
 *
 * @param {{ write?: boolean, entry?: string, outfile?: string }} [options]
 * @returns {Promise<{ code: string, minBytes: number, gzipBytes: number }>}
 */
export async function buildClientBundle(options = {}) {
  const {
    write = false,
    entry = join(root, 'src', 'client', 'index.ts'),
    outfile = BUNDLE_PATH,
  } = options;
  const result = await build({ ...BROWSER_OPTIONS, entryPoints: [entry] });
  const bytes = result.outputFiles[0].contents;
  if (write) {
    await mkdir(dirname(outfile), { recursive: true });
    await writeFile(outfile, bytes);
    await writeBrowserTypes(dirname(outfile));
  }
  return { code: new TextDecoder().decode(bytes), ...sizes(bytes) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
  for (const [name, entry, outfile] of [
    ['client.browser.js', undefined, BUNDLE_PATH],
    ['client.shared-worker.js', SHARED_WORKER_ENTRY, SHARED_WORKER_PATH],
  ]) {
    const { minBytes, gzipBytes } = await buildClientBundle({ write: !check, entry, outfile });
    console.log(
      `${check ? '(not written) ' : ''}dist/${name}: ${minBytes} B (${kb(minBytes)}) minified, ${gzipBytes} B (${kb(gzipBytes)}) minified + gzip`,
    );
  }
  console.log('What an application ships, tree-shaken to what it imports:');
  for (const { name, minBytes, gzipBytes } of await measureClientShapes()) {
    console.log(
      `  ${name.replaceAll('`', '')}: ${minBytes} B minified, ${gzipBytes} B (${kb(gzipBytes)}) minified + gzip`,
    );
  }
  if (!check) {
    const dashboard = join(root, 'dist', 'server', 'dashboard');
    const { buildDashboardPage, DASHBOARD_PAGE_FILE } = await import(
      pathToFileURL(join(dashboard, 'page-build.js')).href
    );
    const page = await buildDashboardPage(join(root, 'src', 'server', 'dashboard', 'ui'));
    await writeFile(join(dashboard, DASHBOARD_PAGE_FILE), page);
    console.log(`dist/server/dashboard/${DASHBOARD_PAGE_FILE}: ${Buffer.byteLength(page)} B`);
  }
}
