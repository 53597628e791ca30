import { ERRORS_DOC } from '../protocol/brief.js';
import { HeraldClientError } from './errors.js';
import type { FetchLike } from './request.js';

// The browser bundle's redirect guard (the build maps redirect.ts to this file). A browser's
// fetch with `redirect: 'manual'` answers every redirect with an `opaqueredirect` response that
// hides where it leads, so redirect.ts's following by hand never gets a hop to follow there:
// every redirect is refused, which is what that code does in a browser, without the rest of it.

/**
 * Fetches `url` without following redirects: a redirect (a browser's `opaqueredirect`, or a
 * redirect status with a `Location` where a runtime shows it) is refused, so nothing the caller
 * gave for the origin of `url` reaches another.
 *
 * @param fetchStream - the fetch to call
 * @param url - the caller's URL
 * @param init - the caller's request
 * @returns the response, which is not a redirect, and `url`
 * @throws HeraldClientError `REDIRECT` (with the redirect response) for a redirect
 */
export async function fetchGuarded(
  fetchStream: FetchLike,
  url: string,
  init: RequestInit,
): Promise<{ response: Response; url: string }> {
  const response = await fetchStream(url, { ...init, redirect: 'manual' });
  if (
    response.type === 'opaqueredirect' ||
    ([301, 302, 303, 307, 308].includes(response.status) && response.headers.has('location'))
  ) {
    response.body?.cancel().catch(() => {});
    throw new HeraldClientError('REDIRECT', `${url} redirected: use the final URL${ERRORS_DOC}`, {
      response,
    });
  }
  return { response, url };
}
