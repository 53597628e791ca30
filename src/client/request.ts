import { inBrowser } from './runtime.js';

/**
 * A `fetch`-compatible function: the global `fetch`, undici's, a test double, or a wrapper that
 * adds a dispatcher or a proxy.
 */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

const encoder = /* @__PURE__ */ new TextEncoder();

/**
 * `value` as a byte string of its UTF-8 encoding, one character per byte, the form `Headers`
 * accept. The HTML standard sends the `Last-Event-ID` header as the last event ID string
 * "encoded as UTF-8"; passing the string itself would send Latin-1 or be refused.
 *
 * @param value - any string
 */
export function utf8HeaderValue(value: string): string {
  let bytes = '';
  for (const byte of encoder.encode(value)) bytes += String.fromCharCode(byte);
  return bytes;
}

/**
 * The request headers of one attempt: `extra` (the caller's), then `Accept: text/event-stream`,
 * and `Last-Event-ID` only when the last event ID is not empty.
 *
 * In a browser `Cache-Control: no-cache` is not set by hand: the request's cache mode `no-store`
 * makes fetch add it (with `Pragma: no-cache`), as Fetch's HTTP-network-or-cache fetch
 * prescribes, and keeps a cross-origin request free of a header that would need a CORS
 * preflight. Elsewhere it is set here unless the caller set it: Deno's and Bun's fetch ignore
 * the cache mode (Node's adds the header, and does not add it twice), and there is no CORS.
 *
 * @param lastEventId - the last event ID string
 * @param extra - more headers
 */
export function streamHeaders(
  lastEventId: string,
  extra?: ConstructorParameters<typeof Headers>[0],
): Headers {
  const headers = new Headers(extra);
  // "User agents may set (`Accept`, `text/event-stream`) in request's header list."
  headers.set('accept', 'text/event-stream');
  headers.delete('last-event-id');
  // "If the EventSource object's last event ID string is not the empty string, then: Let
  // lastEventIDValue be the EventSource object's last event ID string, encoded as UTF-8. Set
  // (`Last-Event-ID`, lastEventIDValue) in request's header list."
  if (lastEventId !== '') headers.set('last-event-id', utf8HeaderValue(lastEventId));
  if (!inBrowser && !headers.has('cache-control')) headers.set('cache-control', 'no-cache');
  return headers;
}

/**
 * Resolves `url` as the `EventSource` constructor does: against the document's base URL in a
 * page, the worker's location in a worker; elsewhere (Node) it must be absolute.
 *
 * @param url - the URL as given
 * @throws TypeError when it is not a valid URL
 */
export function resolveUrl(url: string | URL): URL {
  const scope = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
  return new URL(String(url), scope.document?.baseURI ?? scope.location?.href);
}

/** Calls the global `fetch` as a function (a method call on another object is refused). */
export const globalFetch: FetchLike = (url, init) => fetch(url, init);
