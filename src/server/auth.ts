/**
 * Who is calling the hub: JWT authentication of publishers and subscribers, as Mercure does it
 * (draft-07, the reference hub's 0.24 line). Three steps, one file each:
 *
 * - finding the token (auth-token.ts): the `Authorization: Bearer` header, then the
 *   `authorization` query parameter, then the `mercureAuthorization` cookie, first match wins;
 *   a cookie on an unsafe method only from an allowed origin (origins.ts);
 * - verifying it (auth-verify.ts): publisher tokens with the publisher key, subscriber tokens
 *   with the subscriber key, each bound to one algorithm, and/or a JWKS URL (asymmetric keys
 *   only); `exp` and `nbf` with a clock tolerance of {@link DEFAULT_CLOCK_TOLERANCE_SECONDS}
 *   seconds; the `mercure` claim shape-checked;
 * - saying why a request is refused (auth-refusal.ts): every reason clients see.
 *
 * What a token may do with which topic (selectors, private updates) is decided by the caller;
 * this module only says who the caller is.
 *
 * @packageDocumentation
 */

import { reasons, unauthorized } from './auth-refusal.js';
import { cookieOrigins, extractToken } from './auth-token.js';
import type { AuthRequest, AuthResult, AuthRole, Identity } from './auth-types.js';
import { type AuthenticatorOptions, createTokenVerifier } from './auth-verify.js';
import type { ServerConfig } from './config.js';
import { identityKey } from './identity-key.js';

export type {
  AuthRequest,
  AuthResult,
  HeraldClaim,
  Identity,
  MercureClaim,
} from './auth-types.js';
export {
  type AuthenticatorOptions,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  HeraldAuthConfigError,
  type HeraldAuthConfigSetting,
  JWKS_FAILURE_BACKOFF_MS,
} from './auth-verify.js';

/** Authenticates the callers of a hub. Create one with {@link createAuthenticator}. */
export interface Authenticator {
  /**
   * Authenticates a publisher. A token is always required; without a publisher key (and no
   * JWKS) every request is refused with a 401 saying how to configure one.
   */
  publisher(req: AuthRequest): Promise<AuthResult>;
  /**
   * Authenticates a subscriber. Without a token: anonymous when anonymous subscribers are
   * allowed, else 401. A token that is present but invalid is always 401 — also when anonymous
   * access is allowed (as Mercure's hub does): a client that meant to authenticate learns its
   * token is wrong instead of silently missing private updates.
   */
  subscriber(req: AuthRequest): Promise<AuthResult>;
  /**
   * Authenticates a dashboard viewer: a token from the same sources, verified with the
   * subscriber key (or the JWKS), and never anonymous. Whether the token carries the dashboard
   * claim ({@link Identity.herald}) is for the caller to check.
   */
  dashboard(req: AuthRequest): Promise<AuthResult>;
  /** Stops using the JWKS (a later token that needs it is refused). Idempotent. */
  close(): void;
}

/**
 * Creates the authenticator of a hub. Keys are loaded and checked now, so a bad key fails at
 * startup, not on the first request.
 *
 * Key choice: publisher tokens verify against `publisherKey`, subscriber tokens against
 * `subscriberKey` (the configuration loader copies a shared `--jwt-key` to both). With a
 * `jwksUrl` too, a token whose header has a `kid` different from the static key's is verified
 * against the JWKS, any other against the static key; with only a `jwksUrl`, every token is.
 * The JWKS is fetched on first use, cached, and fetched again when a token names an unknown
 * `kid` (at most once per cooldown) — that is how key rotation is picked up.
 *
 * @param config - the hub configuration (keys, JWKS URL, anonymous access, allowed origins)
 * @param options - tuning; the defaults suit production
 * @throws HeraldAuthConfigError when a key cannot be used with its algorithm, or the JWKS URL is
 *   not an http(s) URL
 * @throws HeraldOriginError when an allowed origin is not an origin or wildcard (origins.ts)
 */
export function createAuthenticator(
  config: Pick<
    ServerConfig,
    'publisherKey' | 'subscriberKey' | 'jwksUrl' | 'anonymous' | 'publishOrigins' | 'corsOrigins'
  >,
  options: AuthenticatorOptions = {},
): Authenticator {
  const verifier = createTokenVerifier(config, options);
  const origins = cookieOrigins(config);

  async function authenticate(
    req: AuthRequest,
    role: AuthRole,
    dashboard = false,
  ): Promise<AuthResult> {
    if (role === 'publisher' && !verifier.canVerify('publisher')) {
      return unauthorized(reasons.noPublisherKey(), false);
    }
    const extracted = extractToken(req, role, origins);
    if (extracted.kind === 'rejected') return extracted.result;
    if (extracted.kind === 'none') {
      if (dashboard) return unauthorized(reasons.dashboardNeedsToken(), false);
      if (role === 'subscriber' && config.anonymous) return { ok: true, identity: undefined };
      return unauthorized(reasons.tokenNeeded(role), false);
    }
    const verified = await verifier.verify(extracted.token, role);
    if (!verified.ok) return unauthorized(verified.reason, true);
    const { payload } = verified;
    const identity: Identity = {
      claim: verified.claim,
      herald: verified.herald,
      token: extracted.token,
      key: identityKey(payload, extracted.token.split('.')[1] ?? ''),
    };
    if (typeof payload.sub === 'string') identity.subject = payload.sub;
    if (typeof payload.exp === 'number') identity.expiresAt = payload.exp * 1000;
    return { ok: true, identity };
  }

  return {
    publisher: (req) => authenticate(req, 'publisher'),
    subscriber: (req) => authenticate(req, 'subscriber'),
    dashboard: (req) => authenticate(req, 'subscriber', true),
    close: () => verifier.close(),
  };
}
