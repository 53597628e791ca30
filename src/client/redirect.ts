import { HeraldClientError } from './errors.js';
import type { FetchLike } from './request.js';

// Redirects followed by hand, so that nothing the caller gave for one origin reaches another:
// fetch's own following keeps every header but `Authorization` on a hop to another origin
// (Fetch, "HTTP-redirect fetch"), and keeps the body on a 307 / 308.

/** Fetch's redirect statuses. */
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

/** Fetch's "request-body-header names", dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-encoding', 'content-language', 'content-location', 'content-type'];

/** Fetch's redirect limit: "If request's redirect count is 20, then return a network error." */
const MAX_REDIRECTS = 20;

/**
 * The request of a hop to another origin than the caller's: the method, `Accept` and
 * `Last-Event-ID` (the stream's own headers), cache mode and signal; no other header, no body,
 * credentials `omit`.
 *
 * @param init - the request of the previous hop
 */
function bare(init: RequestInit): RequestInit {
  const given = new Headers(init.headers);
  const headers = new Headers();
  for (const name of ['accept', 'last-event-id']) {
    const value = given.get(name);
    if (value !== null) headers.set(name, value);
  }
  return {
    method: init.method,
    headers,
    cache: init.cache,
    credentials: 'omit',
    signal: init.signal,
    redirect: 'manual',
  };
}

/**
 * Fetches `url`, following redirects by hand with Fetch's rules (at most 20; a 301 / 302 turns a
 * `POST` into a `GET`, a 303 anything but `GET` / `HEAD`). The caller's request (headers, body,
 * credentials) goes only to the origin of `url`: from the first hop to another origin on, the
 * request is {@link bare}, and a body that would have to follow there fails instead.
 *
 * @param fetchStream - the fetch to call
 * @param url - the caller's URL
 * @param init - the caller's request
 * @returns the response that is not a redirect, and the URL that answered it
 * @throws HeraldClientError `REDIRECT` (with the redirect response) when a redirect cannot be
 *   followed safely: too many, to a scheme other than http(s), a body to another origin, or a
 *   runtime that hides where it leads (a browser's `opaqueredirect`)
 */
export async function fetchGuarded(
  fetchStream: FetchLike,
  url: string,
  init: RequestInit,
): Promise<{ response: Response; url: string }> {
  const home = new URL(url).origin;
  let request: RequestInit = { ...init, redirect: 'manual' };
  let target = url;
  let foreign = false;
  for (let hops = 0; ; hops++) {
    const response = await fetchStream(target, request);
    const location = response.headers.get('location');
    const opaque = response.type === 'opaqueredirect';
    if (!opaque && (!REDIRECT_STATUSES.includes(response.status) || location === null)) {
      return { response, url: target };
    }
    response.body?.cancel().catch(() => {});
    const refuse = (why: string): never => {
      throw new HeraldClientError('REDIRECT', `${target} redirected ${why}`, { response });
    };
    if (opaque) refuse('and this runtime hides where to: use the final URL');
    if (hops === MAX_REDIRECTS) refuse(`more than ${MAX_REDIRECTS} times`);
    let next: URL;
    try {
      next = new URL(location as string, target);
    } catch {
      next = refuse(`to an invalid URL (${location})`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      refuse(`to ${next.protocol}: use http: or https:`);
    }
    const method = (request.method ?? 'GET').toUpperCase();
    // "If one of the following is true: internalResponse's status is 301 or 302 and request's
    // method is `POST`; internalResponse's status is 303 and request's method is not `GET` or
    // `HEAD`, then: Set request's method to `GET` and request's body to null. For each headerName
    // of request-body-header name, delete headerName from request's header list."
    if (
      ((response.status === 301 || response.status === 302) && method === 'POST') ||
      (response.status === 303 && method !== 'GET' && method !== 'HEAD')
    ) {
      const headers = new Headers(request.headers);
      for (const name of BODY_HEADERS) headers.delete(name);
      request = { ...request, method: 'GET', body: undefined, headers };
    }
    if (!foreign && next.origin !== home) {
      if (request.body != null) {
        refuse(`a request with a body to ${next.origin}, where it is not sent: use the final URL`);
      }
      // Once off the caller's origin, the request stays bare, wherever later hops lead (as
      // fetch keeps a header it removed removed).
      foreign = true;
      request = bare(request);
    }
    target = next.href;
  }
}
