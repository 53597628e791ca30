// Builds the browser bundle of herald/client: src/client/index.ts → dist/client.browser.js
// (ESM, minified, platform browser) with its types (dist/client.browser.d.ts, the same API as
// herald/client), and reports its size minified and minified + gzip; and the shared mode's
// worker script beside it: src/client/shared-worker.ts → dist/client.shared-worker.js
// (standalone, no imports), the bundle's default `workerUrl`.
//
//   node scripts/build-client-bundle.mjs            writes dist/client.browser.js
//   node scripts/build-client-bundle.mjs --check    builds in memory, only reports sizes
//
// The package's build runs it after tsc; tests import buildClientBundle() to serve the bundle
// from memory.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    // The bundle's shared mode starts the worker script next to it (see src/client/shared.ts).
    define: { HERALD_SHARED_WORKER_FILE: JSON.stringify('./client.shared-worker.js') },
    write: false,
    logLevel: 'silent',
  });
  const bytes = result.outputFiles[0].contents;
  if (write) {
    await mkdir(dirname(outfile), { recursive: true });
    await writeFile(outfile, bytes);
    await writeBrowserTypes(dirname(outfile));
  }
  return {
    code: new TextDecoder().decode(bytes),
    minBytes: bytes.byteLength,
    gzipBytes: gzipSync(bytes, { level: 9 }).byteLength,
  };
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
}
