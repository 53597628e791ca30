/**
 * The shapes authentication speaks in: what a token grants ({@link MercureClaim},
 * {@link HeraldClaim}), who the caller is ({@link Identity}), what a request offers
 * ({@link AuthRequest}) and the outcome ({@link AuthResult}). auth.ts re-exports them.
 *
 * @packageDocumentation
 */

import type { IncomingHttpHeaders } from 'node:http';

/** The `mercure` claim of a token: what its bearer may publish and subscribe to. */
export interface MercureClaim {
  /** Topic selectors the bearer may publish to (Mercure: absent = may not publish at all). */
  publish?: string[];
  /** Topic selectors whose private updates the bearer may receive. */
  subscribe?: string[];
  /** Data about the subscriber, shown in the active subscriptions API. */
  payload?: unknown;
}

/**
 * Herald's own claim, `herald` (top level, beside `mercure`): rights that Mercure does not
 * define. Other Mercure hubs ignore it.
 */
export interface HeraldClaim {
  /** `true`: the bearer may open the dashboard (`/` and `/dashboard/stats`). */
  dashboard?: boolean;
}

/** A verified caller. */
export interface Identity {
  /** The token's `mercure` claim (`{}` when the token has none). */
  claim: MercureClaim;
  /** The token's `herald` claim (`{}` when the token has none, or it is not an object). */
  herald: HeraldClaim;
  /** The raw token as it was sent (one of its spellings). Never log it. */
  token: string;
  /**
   * Who the token speaks for, the same for every spelling of it: issuer and subject when it has
   * a `sub`, else its claims in canonical form; hashed (see `identity-key.ts`). The key of the
   * publish rate limit.
   */
  key: string;
  /** The token's `sub` claim, when it is a string. */
  subject?: string;
  /** When the token expires (its `exp`), in ms since the epoch; absent when it has no `exp`. */
  expiresAt?: number;
}

/**
 * The outcome of authenticating a request: an identity (or anonymous), or the HTTP error to
 * answer with. `reason` is a sentence saying what was wrong and what to do.
 */
export type AuthResult =
  | {
      ok: true;
      /** `undefined` = anonymous (no token, and anonymous access is allowed). */
      identity: Identity | undefined;
    }
  | {
      ok: false;
      /** 401: missing or rejected token; 403: a cookie sent from an origin not allowed (CSRF). */
      status: 401 | 403;
      /** What was wrong and what to do; fit for a response body. */
      reason: string;
      /** The `WWW-Authenticate` response header value (RFC 6750), set on every 401. */
      wwwAuthenticate?: string;
    };

/**
 * The parts of a request authentication reads; `node:http`'s `IncomingMessage` and `node:http2`'s
 * compatibility `Http2ServerRequest` both fit.
 */
export interface AuthRequest {
  /** The HTTP method (`undefined` counts as unsafe: the cookie's origin is checked). */
  method?: string | undefined;
  /** The request headers (lower-case names). */
  headers: IncomingHttpHeaders;
  /** The request target: path and query (`/.well-known/mercure?topic=…`). */
  url?: string | undefined;
}

/** Which kind of token is expected: each is verified with its own key. */
export type AuthRole = 'publisher' | 'subscriber';
