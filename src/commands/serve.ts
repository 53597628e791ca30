/**
 * What `herald serve` tells the terminal once it listens. In dev mode a person reads stdout, so
 * the banner (URL, dashboard, notices, the dev tokens) goes there. Otherwise stdout is the JSON
 * log stream (`herald serve | jq` must parse every line): the server logs `herald hub listening`
 * there, each notice becomes a warning line, and the human banner goes to stderr.
 * @packageDocumentation
 */

import type { ServerConfig } from '../server/config.js';
import { HUB_URL_PLACEHOLDER } from '../server/config.js';
import type { Logger } from '../server/logger.js';

/** Where the banner and the log lines go: the process's streams, or a test's. */
export interface AnnounceOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * Writes the startup banner: `Herald hub listening on <url>`, the dashboard's address, and the
 * configuration's notices (with the real URL in place of {@link HUB_URL_PLACEHOLDER}). On stdout
 * in dev mode; otherwise on stderr, with each notice also logged through `logger` as a warning
 * (`notice: true`), a JSON line on stdout.
 *
 * @param url - the URL the hub listens on
 * @param config - the configuration it runs with (`dev`, `dashboard`)
 * @param notices - what `loadConfig` had to say
 * @param logger - the hub's logger (JSON lines on stdout)
 * @param output - where to write; default the process's streams
 */
export function announce(
  url: string,
  config: Pick<ServerConfig, 'dev' | 'dashboard'>,
  notices: readonly string[],
  logger: Logger,
  output: AnnounceOutput = process,
): void {
  const resolved = notices.map((notice) => notice.replaceAll(HUB_URL_PLACEHOLDER, url));
  let banner = `Herald hub listening on ${url}\n`;
  if (config.dashboard) banner += `Dashboard: ${url}/\n`;
  for (const notice of resolved) banner += `\n${notice}\n`;
  if (config.dev) {
    output.stdout.write(banner);
    return;
  }
  // The server logged `herald hub listening` (url, limits) already; the notices join it as
  // warnings, so that whoever reads only the JSON stream still sees them.
  for (const notice of resolved) logger.warn({ notice: true }, notice);
  output.stderr.write(banner);
}
