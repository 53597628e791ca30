// The browser bundle of herald/client and the shared mode's worker script, built from the
// sources in memory, for the pages of the browser tests to load from their own origin.
import type { ServerResponse } from 'node:http';
import { buildClientBundle, SHARED_WORKER_ENTRY } from '../../scripts/build-client-bundle.mjs';

/** Answers a request for one of the client files; `false` when `path` names none. */
export type ClientFiles = (path: string, res: ServerResponse) => boolean;

/**
 * Builds `/client.browser.js` (what a page imports) and `/client.shared-worker.js` (the
 * bundle's default worker URL, beside it) and returns the function that serves them.
 */
export async function buildClientFiles(): Promise<ClientFiles> {
  const files = new Map([
    ['/client.browser.js', (await buildClientBundle()).code],
    ['/client.shared-worker.js', (await buildClientBundle({ entry: SHARED_WORKER_ENTRY })).code],
  ]);
  return (path, res) => {
    const code = files.get(path);
    if (code === undefined) return false;
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
    return true;
  };
}
