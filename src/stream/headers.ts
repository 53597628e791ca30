import { HeraldStreamError } from './errors.js';
import type { HeaderValue } from './types.js';

/** The one media type of an event stream, with the charset the HTML standard mandates. */
export const EVENT_STREAM_CONTENT_TYPE = 'text/event-stream; charset=utf-8';

// RFC 9113 §8.2.2: "An endpoint MUST NOT generate an HTTP/2 message containing
// connection-specific header fields" — a response carrying one is malformed.
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

/** Which wire the headers are for. @internal */
export interface HeaderTarget {
  /** `false` for HTTP/2, or unknown (a Fetch `Response`): connection-specific headers are left out. */
  readonly allowConnectionHeaders: boolean;
  /** Add `Connection: keep-alive` (HTTP/1.1 when the client did not ask to close). */
  readonly keepAlive: boolean;
}

/**
 * The response headers of an event stream, as `[name, value]` pairs with unique names
 * (case-insensitively), defaults first, then `extra` replacing or adding.
 *
 * - `Cache-Control: no-cache, no-transform`: nothing may cache the stream, and `no-transform`
 *   tells compression middleware and proxies not to re-encode (and so buffer) it.
 * - `X-Accel-Buffering: no`: nginx passes each chunk through instead of buffering the response.
 * - `Connection: keep-alive` on HTTP/1.1 only.
 *
 * @throws HeraldStreamError when `extra` sets a different `Content-Type`
 * @internal
 */
export function eventStreamHeaders(
  target: HeaderTarget,
  extra: Readonly<Record<string, HeaderValue>> | undefined,
): Array<[string, HeaderValue]> {
  const headers = new Map<string, [string, HeaderValue]>([
    ['content-type', ['Content-Type', EVENT_STREAM_CONTENT_TYPE]],
    ['cache-control', ['Cache-Control', 'no-cache, no-transform']],
    ['x-accel-buffering', ['X-Accel-Buffering', 'no']],
  ]);
  if (target.keepAlive && target.allowConnectionHeaders) {
    headers.set('connection', ['Connection', 'keep-alive']);
  }
  if (extra !== undefined) {
    for (const name of Object.keys(extra)) {
      const value = extra[name];
      if (value === undefined) continue;
      const lower = name.toLowerCase();
      if (lower === 'content-type') {
        if (String(value).toLowerCase().replace(/\s+/g, '') === 'text/event-stream;charset=utf-8') {
          continue;
        }
        throw new HeraldStreamError(
          'INVALID_OPTION',
          `headers must not change Content-Type (got ${JSON.stringify(value)}): an event stream is always ${EVENT_STREAM_CONTENT_TYPE}; remove it from the headers option`,
          'headers',
        );
      }
      if (!target.allowConnectionHeaders && CONNECTION_SPECIFIC.has(lower)) continue;
      headers.set(lower, [name, value]);
    }
  }
  return [...headers.values()];
}
