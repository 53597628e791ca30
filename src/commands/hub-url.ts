/**
 * Where `herald publish` and `herald tail` find the hub, and their token: `--url` / `--token`,
 * else `HERALD_URL` / `HERALD_TOKEN`, else `http://localhost:8080` and no token.
 * @packageDocumentation
 */

import { HeraldConfigError } from '../server/config.js';

/** The Mercure endpoint's path, added to a URL given without one. */
export const MERCURE_PATH = '/.well-known/mercure';

/** Where to reach the hub. */
export interface HubTarget {
  /** The Mercure endpoint: `…/.well-known/mercure`. */
  url: URL;
  /** A bearer token, or `undefined` (anonymous). */
  token: string | undefined;
}

/**
 * Reads `--url` (or `HERALD_URL`; default `http://localhost:8080`) and `--token` (or
 * `HERALD_TOKEN`). A URL without a path (`http://localhost:8080`) means the hub's Mercure
 * endpoint, `…/.well-known/mercure`; a URL with one is used as given.
 * @param url - the `--url` value
 * @param token - the `--token` value
 * @param env - the environment
 * @throws {@link HeraldConfigError} `INVALID_VALUE` for a URL that is not http(s)
 */
export function hubTarget(
  url: string | undefined,
  token: string | undefined,
  env: NodeJS.ProcessEnv,
): HubTarget {
  const text = url ?? env.HERALD_URL ?? 'http://localhost:8080';
  const source = url !== undefined ? '--url' : env.HERALD_URL !== undefined ? 'HERALD_URL' : '';
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new HeraldConfigError(
      'INVALID_VALUE',
      `${source}: "${text}" is not a URL; give the hub's, e.g. http://localhost:8080`,
      source,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new HeraldConfigError(
      'INVALID_VALUE',
      `${source}: the hub's URL must be http: or https: (got ${parsed.protocol})`,
      source,
    );
  }
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = MERCURE_PATH;
  const bearer = token ?? env.HERALD_TOKEN;
  return { url: parsed, token: bearer === '' ? undefined : bearer };
}
