/**
 * Finding a request's token, as Mercure does: the `Authorization: Bearer` header, then the
 * `authorization` query parameter, then the `mercureAuthorization` cookie; the first source
 * present wins and the others are ignored, even when it is invalid. A cookie on an unsafe method
 * counts only from an allowed origin (the CSRF check, origins.ts).
 *
 * @packageDocumentation
 */

import { COOKIE_NAME, forbidden, QUERY_PARAMETER, reasons, unauthorized } from './auth-refusal.js';
import type { AuthRequest, AuthResult, AuthRole } from './auth-types.js';
import { type OriginPolicy, originPolicy } from './origins.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Where a token came from. */
export type TokenSource = 'header' | 'query' | 'cookie';

/** What a request offers: nothing, a token, or a refusal already (a bad header, CSRF). */
export type ExtractedToken =
  | { kind: 'none' }
  | { kind: 'token'; token: string; source: TokenSource }
  | { kind: 'rejected'; result: AuthResult };

/** Which origins a cookie may come from on an unsafe method. */
export interface CookieOrigins {
  /** The origin may use the cookie. */
  allows(origin: string): boolean;
}

/**
 * The origins a cookie may come from: those of `--publish-origins` (`*` = any), and those of
 * `--cors-origins`, which are trusted with credentials anyway — but a CORS `*` (any origin,
 * without credentials) does not open cookie requests to every site.
 *
 * @param config - the two lists, as configured
 * @throws HeraldOriginError when an entry is not an origin or wildcard
 */
export function cookieOrigins(config: {
  publishOrigins: readonly string[];
  corsOrigins: readonly string[];
}): CookieOrigins {
  const publish: OriginPolicy = originPolicy(config.publishOrigins);
  const cors: OriginPolicy = originPolicy(config.corsOrigins);
  return { allows: (origin) => publish.allows(origin) || cors.allowsListed(origin) };
}

/**
 * Finds the token of a request, first source present wins; applies the cookie's CSRF check.
 *
 * @param req - the request
 * @param role - who is expected (it words the CSRF refusal)
 * @param origins - where a cookie may come from on an unsafe method
 */
export function extractToken(
  req: AuthRequest,
  role: AuthRole,
  origins: CookieOrigins,
): ExtractedToken {
  // Mercure: the Authorization header, then the "authorization" query parameter, then the
  // cookie; when a source is present the later ones are ignored, even if it is invalid.
  const header = firstHeader(req.headers.authorization);
  if (header !== undefined) {
    const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1] === undefined) return rejected(reasons.badAuthorizationHeader());
    return { kind: 'token', token: match[1], source: 'header' };
  }

  const query = queryOf(req.url ?? '');
  const values = query?.getAll(QUERY_PARAMETER) ?? [];
  if (values.length > 0) {
    if (values.length > 1) return rejected(reasons.repeatedQueryParameter(values.length));
    const token = (values[0] ?? '').trim();
    if (token === '') return rejected(reasons.emptyQueryParameter());
    return { kind: 'token', token, source: 'query' };
  }

  const cookie = readCookie(req.headers.cookie, COOKIE_NAME);
  if (cookie === undefined || cookie === '') return { kind: 'none' };

  // Mercure: "CSRF attacks cannot occur when using safe methods"; for a POST the cookie counts
  // only when the request comes from an allowed origin (Origin, else the Referer's origin).
  if (!SAFE_METHODS.has((req.method ?? '').toUpperCase())) {
    const found = requestOrigin(req);
    if (found === undefined) {
      return { kind: 'rejected', result: forbidden(reasons.cookieWithoutOrigin()) };
    }
    if ('badReferer' in found) {
      return { kind: 'rejected', result: forbidden(reasons.refererNotUrl(found.badReferer)) };
    }
    if (!origins.allows(found.origin)) {
      return {
        kind: 'rejected',
        result: forbidden(reasons.cookieOriginNotAllowed(found.origin, role)),
      };
    }
  }
  return { kind: 'token', token: cookie, source: 'cookie' };
}

function rejected(reason: string): ExtractedToken {
  return { kind: 'rejected', result: unauthorized(reason, true) };
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  const lines = Array.isArray(header) ? header : header === undefined ? [] : [header];
  for (const line of lines) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      // The first cookie of that name wins (as Go's Request.Cookie, the reference hub's).
      return value;
    }
  }
  return undefined;
}

function requestOrigin(req: AuthRequest): { origin: string } | { badReferer: string } | undefined {
  const origin = firstHeader(req.headers.origin);
  if (origin !== undefined && origin !== '') return { origin };
  const referer = firstHeader(req.headers.referer);
  if (referer === undefined || referer === '') return undefined;
  try {
    return { origin: new URL(referer).origin };
  } catch {
    return { badReferer: referer };
  }
}

function queryOf(url: string): URLSearchParams | undefined {
  const mark = url.indexOf('?');
  if (mark < 0) return undefined;
  const hash = url.indexOf('#', mark);
  return new URLSearchParams(url.slice(mark + 1, hash < 0 ? undefined : hash));
}
