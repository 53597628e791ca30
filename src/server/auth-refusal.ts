/**
 * Why the hub refuses a caller, in the words clients see: every reason of a 401 or 403 from
 * authentication is written here, with the `WWW-Authenticate` challenge that goes with it
 * (RFC 6750). auth-token.ts and auth-verify.ts decide *that* a request is refused; this file says
 * *why*, and what to do.
 *
 * @packageDocumentation
 */

import { errors } from 'jose';
import type { AuthResult, AuthRole } from './auth-types.js';
import { ASYMMETRIC_ALGORITHMS } from './jwt-keys.js';

/** The name of the cookie browsers send the token in (Mercure). */
export const COOKIE_NAME = 'mercureAuthorization';
/** The query parameter carrying the token (Mercure, for clients that cannot set headers). */
export const QUERY_PARAMETER = 'authorization';

const REALM = 'Bearer realm="herald"';

/** The flags (and variables) that give the key of each role. */
export const KEY_FLAGS: Record<AuthRole, string> = {
  publisher: '--jwt-key or --publisher-jwt-key (HERALD_JWT_KEY / HERALD_PUBLISHER_JWT_KEY)',
  subscriber: '--jwt-key or --subscriber-jwt-key (HERALD_JWT_KEY / HERALD_SUBSCRIBER_JWT_KEY)',
};

/** The name of each role's key setting, as messages give it. */
export const SETTING_NAMES: Record<AuthRole, string> = {
  publisher: 'publisher key (--publisher-jwt-key / --jwt-key)',
  subscriber: 'subscriber key (--subscriber-jwt-key / --jwt-key)',
};

/** The JWKS could not be fetched or read; its message is the underlying problem. */
export class JwksUnavailableError extends Error {}

/**
 * A 401 refusal. RFC 6750 §3: a request without a token gets the bare challenge; a rejected
 * token gets error="invalid_token" (and, optionally, a human-readable error_description).
 *
 * @param reason - what was wrong and what to do
 * @param tokenPresented - whether the request carried a token (it is then `invalid_token`)
 */
export function unauthorized(reason: string, tokenPresented: boolean): AuthResult {
  return {
    ok: false,
    status: 401,
    reason,
    wwwAuthenticate: tokenPresented
      ? `${REALM}, error="invalid_token", error_description="${quoteSafe(reason)}"`
      : REALM,
  };
}

/**
 * A 403 refusal: the token may be fine, but the request may not use it (the cookie's CSRF check).
 *
 * @param reason - what was wrong and what to do
 */
export function forbidden(reason: string): AuthResult {
  return { ok: false, status: 403, reason };
}

/**
 * RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E — printable ASCII
 * without `"` and `\`.
 */
function quoteSafe(text: string): string {
  const safe = text
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/[^\x20-\x7e]/g, '?');
  return safe.length > 300 ? `${safe.slice(0, 297)}...` : safe;
}

function isoDate(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds)
    ? new Date(seconds * 1000).toISOString()
    : String(seconds);
}

function shape(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** The reasons of refusals that need no more than a few facts; one function per case. */
export const reasons = {
  // Finding the token (auth-token.ts).
  badAuthorizationHeader: () =>
    'the Authorization header must be "Bearer <token>"; send the JWT with the Bearer scheme',
  repeatedQueryParameter: (count: number) =>
    `the "${QUERY_PARAMETER}" query parameter is given ${count} times; give one token`,
  emptyQueryParameter: () =>
    `the "${QUERY_PARAMETER}" query parameter is empty; put the JWT in it, or leave it out`,
  cookieWithoutOrigin: () =>
    `a request authenticated by the ${COOKIE_NAME} cookie must carry an Origin or Referer header (CSRF protection); send the token in the Authorization header instead`,
  refererNotUrl: (referer: string) =>
    `the Referer header "${referer}" is not a URL, so the ${COOKIE_NAME} cookie cannot be checked against the allowed origins (CSRF protection); send the token in the Authorization header instead`,
  cookieOriginNotAllowed: (origin: string, role: AuthRole) =>
    `origin ${origin} may not ${role === 'publisher' ? 'publish' : 'call the hub'} with the ${COOKIE_NAME} cookie (CSRF protection); add it to the hub's publish origins or --cors-origins, or send the token in the Authorization header`,

  // No token, or no key to check one with (auth.ts).
  noPublisherKey: () =>
    `no publisher key configured: start the hub with ${KEY_FLAGS.publisher} to accept publishers' tokens`,
  dashboardNeedsToken: () =>
    `the dashboard needs a JWT with the claim {"herald":{"dashboard":true}}, signed with the subscriber key: send "Authorization: Bearer <token>", open the page with ?${QUERY_PARAMETER}=<token>, or set the ${COOKIE_NAME} cookie`,
  tokenNeeded: (role: AuthRole) =>
    role === 'publisher'
      ? `publishing needs a JWT: send "Authorization: Bearer <token>" (or the "${QUERY_PARAMETER}" query parameter, or the ${COOKIE_NAME} cookie)`
      : `subscribing needs a JWT: send "Authorization: Bearer <token>", the "${QUERY_PARAMETER}" query parameter or the ${COOKIE_NAME} cookie (or start the hub with --anonymous)`,

  // The token itself (auth-verify.ts), before its signature is checked.
  notCompactJws: () =>
    'malformed token: a JWT is three base64url parts separated by dots (header.payload.signature); send the token exactly as issued',
  encrypted: () => 'encrypted tokens (JWE) are not supported; send a signed JWT (JWS)',
  noAlg: () => 'malformed token: its header has no "alg"; sign it with a JWS algorithm',
  unsigned: (expected: string | undefined) =>
    `unsigned tokens (alg "none") are never accepted; sign the token with ${expected ?? 'the key of the JWKS'}`,
  notForJwks: (alg: string, role: AuthRole, hasStaticKey: boolean) =>
    `token signed with ${alg}, but keys from the JWKS only verify ${ASYMMETRIC_ALGORITHMS.join(', ')}${hasStaticKey ? ` (tokens for the static ${SETTING_NAMES[role]} must not name another "kid")` : ''}`,
  jwksClosed: () =>
    'the hub is shutting down and no longer verifies tokens with the JWKS; retry later',
  noKey: (role: AuthRole) =>
    `no ${role} key configured, so the hub cannot verify ${role} tokens; start the hub with ${KEY_FLAGS[role]}`,
  wrongAlg: (alg: string, expected: string, role: AuthRole) =>
    `token signed with ${alg} but the hub expects ${expected} (--jwt-alg); sign it with the hub's ${role} key and ${expected}`,

  // The claims of a verified token (auth-verify.ts).
  mercureClaimShape: (name: string, raw: unknown) =>
    `the "${name}" claim must be an object like {"publish":["*"],"subscribe":["…"]}, not ${shape(raw)}; fix the token's claims`,
  selectorsShape: (name: string, field: string, value: unknown) =>
    `"${name}.${field}" must be an array of topic selector strings (e.g. ["*"] or ["https://example.com/books/{id}"]), not ${Array.isArray(value) ? 'an array with non-string items' : shape(value)}; fix the token's claims`,
} as const;

/** What {@link explainVerifyError} needs to know of the attempt that failed. */
export interface VerifyAttempt {
  /** The role whose key was used. */
  role: AuthRole;
  /** The token was verified with the JWKS (not the static key). */
  viaJwks: boolean;
  /** The token header's `kid`, if any. */
  kid: string | undefined;
  /** The token header's `alg`. */
  alg: string;
  /** The JWKS URL (`''` when none). */
  jwksHref: string;
  /** The algorithm of the role's static key, if it has one. */
  keyAlg: string | undefined;
}

/**
 * Says why verifying a token failed, from the error `jose` (or the JWKS fetch) threw.
 *
 * @param error - what verification threw
 * @param attempt - the facts of the attempt
 */
export function explainVerifyError(error: unknown, attempt: VerifyAttempt): string {
  const { role, viaJwks, kid, alg, jwksHref } = attempt;
  if (error instanceof errors.JWTExpired) {
    return `token expired at ${isoDate(error.payload.exp)}; get a fresh token`;
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' && error.reason === 'check_failed') {
      return `token not valid before ${isoDate(error.payload.nbf)} ("nbf"); use it later, or check the clocks of the token issuer and the hub`;
    }
    return `token claim "${error.claim}" is invalid (${error.message}); fix the token's claims`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return viaJwks
      ? `token signature does not verify with key ${kid === undefined ? '' : `"${kid}" `}of the JWKS at ${jwksHref}; sign it with the private key of that JWK`
      : `token signature does not verify with the hub's ${role} key; sign it with the key the hub is started with (${KEY_FLAGS[role]})`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return kid === undefined
      ? `no key of the JWKS at ${jwksHref} fits a ${alg} token without "kid"; put the "kid" of the signing key in the token header`
      : `no key with kid "${kid}" for ${alg} in the JWKS at ${jwksHref} (fetched again, still missing); sign with a key the JWKS publishes`;
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return `several keys of the JWKS at ${jwksHref} fit this token; put the "kid" of the signing key in the token header`;
  }
  if (error instanceof JwksUnavailableError) {
    return `cannot get the signing keys from the JWKS at ${jwksHref} (${error.message}); check the JWKS URL and that its server is up`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return `token signed with ${alg}, which the hub does not accept here; sign it with ${viaJwks ? ASYMMETRIC_ALGORITHMS.join('/') : (attempt.keyAlg ?? 'the configured algorithm')}`;
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return `malformed token (${error.message}); send the token exactly as issued`;
  }
  if (error instanceof errors.JOSENotSupported) {
    return `token uses something the hub does not support (${error.message})`;
  }
  return `token rejected (${error instanceof Error ? error.message : String(error)})`;
}

/**
 * Says why a JWKS fetch failed (logged once per failure, and quoted in refusals).
 *
 * @param error - what the fetch threw
 * @param timeoutMs - the fetch's time bound, named when it ran out
 */
export function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof errors.JWKSTimeout) {
    return `no complete answer within ${timeoutMs} ms (--jwks-timeout)`;
  }
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const code =
      typeof cause === 'object' && cause !== null && 'code' in cause
        ? String((cause as { code: unknown }).code)
        : undefined;
    return code === undefined ? error.message : `${error.message}: ${code}`;
  }
  return String(error);
}
