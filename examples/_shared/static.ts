// Serves an example's page: the files in its `public/` folder, and Herald's browser client at
// `/vendor/herald/client.browser.js`, bundled from the source tree with esbuild when the server
// starts (what `npm run build` writes to dist/client.browser.js), so no build step is needed.
//
// Shared by every example: each server calls `staticFiles(<its public/ folder>)` once and asks
// the handler first for any request its own routes did not answer.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** Where the page imports `herald/client` from. */
export const CLIENT_PATH = '/vendor/herald/client.browser.js';

/** The content type of each file extension served from `public/`. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Bundles `herald/client` (src/client/index.ts) for browsers, in memory. */
async function bundleClient(): Promise<Uint8Array> {
  const entry = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.contents;
}

/**
 * Builds the client bundle, then returns a handler that answers `GET /` (index.html), any
 * other file of `publicDir` by name, and the client bundle. It returns `false` for every other
 * request, for the app's own routes.
 */
export async function staticFiles(
  publicDir: string,
): Promise<(req: IncomingMessage, res: ServerResponse) => Promise<boolean>> {
  const client = await bundleClient();
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === CLIENT_PATH) {
      res.writeHead(200, { 'content-type': TYPES['.js']!, 'cache-control': 'no-cache' });
      res.end(client);
      return true;
    }
    const name = path === '/' ? 'index.html' : path.slice(1);
    // Only plain file names directly in public/: no "..", no sub-folders, no other extensions.
    if (!/^[\w-]+\.(html|js|css|svg|png)$/.test(name)) return false;
    try {
      const body = await readFile(join(publicDir, name));
      res.writeHead(200, { 'content-type': TYPES[extname(name)]!, 'cache-control': 'no-cache' });
      res.end(body);
      return true;
    } catch {
      return false;
    }
  };
}
