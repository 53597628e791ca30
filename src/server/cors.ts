import type { NodeRequest } from '../stream/index.js';
import { type OriginPolicy, originPolicy } from './origins.js';
import { HttpError } from './respond.js';

const ALLOWED_METHODS = 'GET, HEAD, POST, OPTIONS';
const ALLOWED_HEADERS = 'Authorization, Cache-Control, Content-Type, Last-Event-ID';
const EXPOSED_HEADERS = 'Last-Event-ID';

/**
 * CORS for the hub: an allowlist of origins that may call it with credentials (cookies,
 * `Authorization`); `*` allows every origin but then without credentials, as the Fetch standard
 * requires. An origin is never reflected unless the list allows it (origins.ts: exact origins
 * and `scheme://*.domain` wildcards, the same rule as `--publish-origins`).
 */
export class Cors {
  readonly #policy: OriginPolicy;

  /**
   * @param origins - allowed origins (`https://app.example.com`, `https://*.example.com`), or
   *   `['*']`
   * @throws HeraldOriginError when an entry is not an origin or wildcard (see origins.ts)
   */
  constructor(origins: readonly string[]) {
    this.#policy = originPolicy(origins);
  }

  /** The CORS response headers for a request (none when it has no allowed `Origin`). */
  headers(req: NodeRequest): Record<string, string> {
    const origin = req.headers.origin;
    // With an allowlist the answer depends on Origin, so caches must key on it — whatever it is.
    const vary: Record<string, string> = this.#policy.listed ? { vary: 'Origin' } : {};
    if (typeof origin !== 'string') return vary;
    // Fetch: Access-Control-Allow-Origin must be the request's origin as sent (or `*`).
    if (this.#policy.allowsListed(origin)) {
      return {
        'access-control-allow-origin': origin,
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': EXPOSED_HEADERS,
        vary: 'Origin',
      };
    }
    if (this.#policy.any) {
      return {
        ...vary,
        'access-control-allow-origin': '*',
        'access-control-expose-headers': EXPOSED_HEADERS,
      };
    }
    return vary;
  }

  /**
   * The answer to a preflight (`OPTIONS`) request.
   *
   * @throws HttpError 403 when the origin is not allowed, saying how to allow it
   */
  preflight(req: NodeRequest): Record<string, string> {
    const headers = this.headers(req);
    if (headers['access-control-allow-origin'] === undefined) {
      const origin = typeof req.headers.origin === 'string' ? req.headers.origin : '(none)';
      throw new HttpError(
        403,
        `origin ${origin} is not allowed to call this hub; add it with --cors-origins`,
      );
    }
    return {
      ...headers,
      'access-control-allow-methods': ALLOWED_METHODS,
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': '600',
    };
  }
}
