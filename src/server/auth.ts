/**
 * Who is calling the hub: JWT authentication of publishers and subscribers, as Mercure does it
 * (draft-07, the reference hub's 0.24 line).
 *
 * - Token sources, first match wins and the others are ignored: the `Authorization: Bearer`
 *   header, then the `authorization` query parameter, then the `mercureAuthorization` cookie.
 * - Keys: publisher tokens verify against the publisher key, subscriber tokens against the
 *   subscriber key, each bound to one algorithm; and/or a JWKS URL (asymmetric keys only).
 * - `exp` and `nbf` are enforced with a clock tolerance of {@link DEFAULT_CLOCK_TOLERANCE_SECONDS}
 *   seconds (a token is still accepted up to 5 s after `exp`, and from 5 s before `nbf`), so
 *   small clock differences between the token issuer and the hub do not reject fresh tokens.
 * - The `mercure` claim (`publish` / `subscribe` selector arrays, `payload`) is shape-checked.
 *
 * What a token may do with which topic (selectors, private updates) is decided by the caller;
 * this module only says who the caller is.
 *
 * @packageDocumentation
 */

import type { IncomingHttpHeaders } from 'node:http';
import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  type FlattenedJWSInput,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyResult,
  jwtVerify,
} from 'jose';
import type { ServerConfig } from './config.js';
import { identityKey } from './identity-key.js';
import { boundedFetch, DEFAULT_JWKS_MAX_BYTES, DEFAULT_JWKS_TIMEOUT_MS } from './jwks-fetch.js';
import { ASYMMETRIC_ALGORITHMS, loadVerificationKey, type VerificationKey } from './jwt-keys.js';
import { originPolicy } from './origins.js';

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

/** Tuning of {@link createAuthenticator}; the defaults suit production. */
export interface AuthenticatorOptions {
  /** Leeway for `exp` and `nbf`, in seconds. Default {@link DEFAULT_CLOCK_TOLERANCE_SECONDS}. */
  clockToleranceSeconds?: number;
  /**
   * Least time between two JWKS fetches caused by a token whose `kid` is unknown, in ms
   * (protects the JWKS server from floods of made-up `kid`s). Default 30 000.
   */
  jwksCooldownMs?: number;
  /** How long fetched JWKS keys are used before fetching again, in ms. Default 600 000. */
  jwksCacheMaxAgeMs?: number;
  /** How long a JWKS fetch may take, headers and body, in ms. Default 5000. */
  jwksTimeoutMs?: number;
  /** Largest JWKS response body accepted, in bytes (decoded). Default 1 MiB. */
  jwksMaxBytes?: number;
  /**
   * Called once per failed JWKS fetch (not per token refused because of it) with what went
   * wrong, e.g. to log it. Tokens that need the JWKS are refused with a 401 and the same reason.
   */
  onJwksFailure?: (problem: string) => void;
}

/**
 * After a failed JWKS fetch, tokens that need it are refused with the same reason for this long
 * (at most; less with a shorter cooldown) instead of fetching again for each: a failing JWKS
 * server is asked at most once per period, and logged once.
 */
export const JWKS_FAILURE_BACKOFF_MS = 5000;

/** Default leeway for `exp` / `nbf`, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

/** Which configuration setting {@link HeraldAuthConfigError} is about. */
export type HeraldAuthConfigSetting = 'publisherKey' | 'subscriberKey' | 'jwksUrl';

/**
 * A JWT key or JWKS URL in the configuration cannot be used; thrown by
 * {@link createAuthenticator} so that the hub refuses to start.
 */
export class HeraldAuthConfigError extends Error {
  /** The configuration setting that is wrong. */
  readonly setting: HeraldAuthConfigSetting;

  /**
   * @param setting - the configuration setting that is wrong
   * @param message - what is wrong and what to do
   */
  constructor(setting: HeraldAuthConfigSetting, message: string) {
    super(message);
    this.name = 'HeraldAuthConfigError';
    this.setting = setting;
  }
}

type Role = 'publisher' | 'subscriber';

/** The name of the cookie browsers send the token in (Mercure). */
const COOKIE_NAME = 'mercureAuthorization';
/** The query parameter carrying the token (Mercure, for clients that cannot set headers). */
const QUERY_PARAMETER = 'authorization';
const REALM = 'Bearer realm="herald"';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const KEY_FLAGS: Record<Role, string> = {
  publisher: '--jwt-key or --publisher-jwt-key (HERALD_JWT_KEY / HERALD_PUBLISHER_JWT_KEY)',
  subscriber: '--jwt-key or --subscriber-jwt-key (HERALD_JWT_KEY / HERALD_SUBSCRIBER_JWT_KEY)',
};
const SETTING_NAMES: Record<Role, string> = {
  publisher: 'publisher key (--publisher-jwt-key / --jwt-key)',
  subscriber: 'subscriber key (--subscriber-jwt-key / --jwt-key)',
};

/** The JWKS could not be fetched or read; carries the underlying problem. */
class JwksUnavailableError extends Error {}

/** How tokens of one role are verified. */
interface RoleVerifier {
  readonly role: Role;
  readonly key: VerificationKey | undefined;
  readonly jwks: boolean;
}

/** Where a token came from. */
type TokenSource = 'header' | 'query' | 'cookie';

type Extracted =
  | { kind: 'none' }
  | { kind: 'token'; token: string; source: TokenSource }
  | { kind: 'rejected'; result: AuthResult };

/** The verification outcome of one token. */
type Verified = { ok: true; payload: JWTPayload } | { ok: false; reason: string };

function unauthorized(reason: string, tokenPresented: boolean): AuthResult {
  return {
    ok: false,
    status: 401,
    reason,
    // RFC 6750 §3: a request without a token gets the bare challenge; a rejected token gets
    // error="invalid_token" (and, optionally, a human-readable error_description).
    wwwAuthenticate: tokenPresented
      ? `${REALM}, error="invalid_token", error_description="${quoteSafe(reason)}"`
      : REALM,
  };
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

function requestOrigin(req: AuthRequest): { origin: string } | { problem: string } | undefined {
  const origin = firstHeader(req.headers.origin);
  if (origin !== undefined && origin !== '') return { origin };
  const referer = firstHeader(req.headers.referer);
  if (referer === undefined || referer === '') return undefined;
  try {
    return { origin: new URL(referer).origin };
  } catch {
    return { problem: `the Referer header "${referer}" is not a URL` };
  }
}

function shape(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Validates the `mercure` claim; returns the claim or the reason it is unusable. */
function readMercureClaim(payload: JWTPayload): MercureClaim | string {
  // The reference hub also reads the claim under the namespaced "https://mercure.rocks/" name.
  const raw = payload.mercure !== undefined ? payload.mercure : payload['https://mercure.rocks/'];
  const name = payload.mercure !== undefined ? 'mercure' : 'https://mercure.rocks/';
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return `the "${name}" claim must be an object like {"publish":["*"],"subscribe":["…"]}, not ${shape(raw)}; fix the token's claims`;
  }
  const record = raw as Record<string, unknown>;
  const claim: MercureClaim = {};
  for (const field of ['publish', 'subscribe'] as const) {
    const value = record[field];
    // A JSON null is read as "absent", as Go's decoder (the reference hub's) does.
    if (value === undefined || value === null) continue;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      return `"${name}.${field}" must be an array of topic selector strings (e.g. ["*"] or ["https://example.com/books/{id}"]), not ${Array.isArray(value) ? 'an array with non-string items' : shape(value)}; fix the token's claims`;
    }
    claim[field] = [...value];
  }
  if (record.payload !== undefined) claim.payload = record.payload;
  return claim;
}

/** Reads the `herald` claim: only `dashboard: true` grants anything; other shapes grant nothing. */
function readHeraldClaim(payload: JWTPayload): HeraldClaim {
  const raw = payload.herald;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return {};
  return (raw as Record<string, unknown>).dashboard === true ? { dashboard: true } : {};
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
  const clockTolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;

  const load = (role: Role): VerificationKey | undefined => {
    const keyConfig = role === 'publisher' ? config.publisherKey : config.subscriberKey;
    if (keyConfig === undefined) return undefined;
    const loaded = loadVerificationKey(keyConfig);
    if (!loaded.ok) {
      throw new HeraldAuthConfigError(
        role === 'publisher' ? 'publisherKey' : 'subscriberKey',
        `the ${SETTING_NAMES[role]} cannot be used: ${loaded.problem}; ${loaded.hint}`,
      );
    }
    return loaded.key;
  };
  const publisherKey = load('publisher');
  const subscriberKey = load('subscriber');

  let jwksUrl: URL | undefined;
  if (config.jwksUrl !== undefined && config.jwksUrl !== '') {
    try {
      jwksUrl = new URL(config.jwksUrl);
    } catch {
      jwksUrl = undefined;
    }
    if (jwksUrl === undefined || (jwksUrl.protocol !== 'https:' && jwksUrl.protocol !== 'http:')) {
      throw new HeraldAuthConfigError(
        'jwksUrl',
        `the JWKS URL "${config.jwksUrl}" is not an http(s) URL; give the full address of the JSON Web Key Set, e.g. https://auth.example.com/.well-known/jwks.json`,
      );
    }
  }
  let remoteJwks: ReturnType<typeof createRemoteJWKSet> | undefined =
    jwksUrl === undefined
      ? undefined
      : createRemoteJWKSet(jwksUrl, {
          ...(options.jwksCooldownMs !== undefined && { cooldownDuration: options.jwksCooldownMs }),
          ...(options.jwksCacheMaxAgeMs !== undefined && {
            cacheMaxAge: options.jwksCacheMaxAgeMs,
          }),
          timeoutDuration: options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
          // Reads at most jwksMaxBytes of the answer, within the timeout (jwks-fetch.ts).
          [customFetch]: boundedFetch(options.jwksMaxBytes ?? DEFAULT_JWKS_MAX_BYTES),
        });
  const jwksHref = jwksUrl?.href ?? '';
  const jwksTimeoutMs = options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS;
  const failureBackoffMs = Math.min(
    JWKS_FAILURE_BACKOFF_MS,
    options.jwksCooldownMs ?? JWKS_FAILURE_BACKOFF_MS,
  );
  /** The last failed fetch: tokens within the backoff are refused with its reason. */
  let jwksFailure: { at: number; problem: string } | undefined;

  // One rule for both lists (origins.ts). CORS origins are trusted with credentials, so their
  // cookies may publish too; but a CORS `*` (any origin, without credentials) does not open
  // cookie publishing to every site.
  const publishPolicy = originPolicy(config.publishOrigins);
  const corsPolicy = originPolicy(config.corsOrigins);
  const cookieOriginAllowed = (origin: string): boolean =>
    publishPolicy.allows(origin) || corsPolicy.allowsListed(origin);

  const verifiers: Record<Role, RoleVerifier> = {
    publisher: { role: 'publisher', key: publisherKey, jwks: remoteJwks !== undefined },
    subscriber: { role: 'subscriber', key: subscriberKey, jwks: remoteJwks !== undefined },
  };

  /** Finds the token, first match wins; applies the cookie CSRF guard. */
  function extract(req: AuthRequest, role: Role): Extracted {
    // Mercure: the Authorization header, then the "authorization" query parameter, then the
    // cookie; when a source is present the later ones are ignored, even if it is invalid.
    const header = firstHeader(req.headers.authorization);
    if (header !== undefined) {
      const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
      if (match?.[1] === undefined) {
        return {
          kind: 'rejected',
          result: unauthorized(
            'the Authorization header must be "Bearer <token>"; send the JWT with the Bearer scheme',
            true,
          ),
        };
      }
      return { kind: 'token', token: match[1], source: 'header' };
    }

    const query = queryOf(req.url ?? '');
    const values = query?.getAll(QUERY_PARAMETER) ?? [];
    if (values.length > 0) {
      if (values.length > 1) {
        return {
          kind: 'rejected',
          result: unauthorized(
            `the "${QUERY_PARAMETER}" query parameter is given ${values.length} times; give one token`,
            true,
          ),
        };
      }
      const token = (values[0] ?? '').trim();
      if (token === '') {
        return {
          kind: 'rejected',
          result: unauthorized(
            `the "${QUERY_PARAMETER}" query parameter is empty; put the JWT in it, or leave it out`,
            true,
          ),
        };
      }
      return { kind: 'token', token, source: 'query' };
    }

    const cookie = readCookie(req.headers.cookie, COOKIE_NAME);
    if (cookie === undefined || cookie === '') return { kind: 'none' };

    // Mercure: "CSRF attacks cannot occur when using safe methods"; for a POST the cookie counts
    // only when the request comes from an allowed origin (Origin, else the Referer's origin).
    if (!SAFE_METHODS.has((req.method ?? '').toUpperCase())) {
      const found = requestOrigin(req);
      const what = role === 'publisher' ? 'publish' : 'call the hub';
      if (found === undefined) {
        return forbidden(
          `a request authenticated by the ${COOKIE_NAME} cookie must carry an Origin or Referer header (CSRF protection); send the token in the Authorization header instead`,
        );
      }
      if ('problem' in found) {
        return forbidden(
          `${found.problem}, so the ${COOKIE_NAME} cookie cannot be checked against the allowed origins (CSRF protection); send the token in the Authorization header instead`,
        );
      }
      if (!cookieOriginAllowed(found.origin)) {
        return forbidden(
          `origin ${found.origin} may not ${what} with the ${COOKIE_NAME} cookie (CSRF protection); add it to the hub's publish origins or --cors-origins, or send the token in the Authorization header`,
        );
      }
    }
    return { kind: 'token', token: cookie, source: 'cookie' };
  }

  /** Verifies a token's signature and time claims with the key for its role. */
  async function verify(token: string, verifier: RoleVerifier): Promise<Verified> {
    const { role } = verifier;
    const parts = token.split('.');
    let header: JWTHeaderParameters;
    try {
      if (parts.length !== 3 && parts.length !== 5) throw new Error('not a compact JWS');
      header = decodeProtectedHeader(token) as JWTHeaderParameters;
    } catch {
      return {
        ok: false,
        reason:
          'malformed token: a JWT is three base64url parts separated by dots (header.payload.signature); send the token exactly as issued',
      };
    }
    if (parts.length === 5 || 'enc' in header) {
      return {
        ok: false,
        reason: 'encrypted tokens (JWE) are not supported; send a signed JWT (JWS)',
      };
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || alg === '') {
      return {
        ok: false,
        reason: 'malformed token: its header has no "alg"; sign it with a JWS algorithm',
      };
    }
    const expected = verifier.key?.alg;
    // RFC 8725 §3.1: never accept "none"; the algorithm is the hub's choice, not the token's.
    if (alg.toLowerCase() === 'none') {
      return {
        ok: false,
        reason: `unsigned tokens (alg "none") are never accepted; sign the token with ${expected ?? 'the key of the JWKS'}`,
      };
    }

    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const useJwks =
      verifier.jwks &&
      (verifier.key === undefined || (kid !== undefined && kid !== verifier.key.kid));

    try {
      let result: JWTVerifyResult;
      if (useJwks) {
        if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
          return {
            ok: false,
            reason: `token signed with ${alg}, but keys from the JWKS only verify ${ASYMMETRIC_ALGORITHMS.join(', ')}${verifier.key === undefined ? '' : ` (tokens for the static ${SETTING_NAMES[role]} must not name another "kid")`}`,
          };
        }
        const jwks = remoteJwks;
        if (jwks === undefined) {
          return {
            ok: false,
            reason:
              'the hub is shutting down and no longer verifies tokens with the JWKS; retry later',
          };
        }
        result = await jwtVerify(
          token,
          async (protectedHeader: JWTHeaderParameters, input: FlattenedJWSInput) => {
            // Within the backoff after a failure, a token the cached keys cannot verify is
            // refused without asking the JWKS server again.
            const failed = jwksFailure;
            if (
              failed !== undefined &&
              Date.now() - failed.at < failureBackoffMs &&
              !(jwks.fresh && jwks.jwks()?.keys.some((k) => k.kid === protectedHeader.kid))
            ) {
              throw new JwksUnavailableError(failed.problem);
            }
            try {
              return await jwks(protectedHeader, input);
            } catch (error) {
              if (
                error instanceof errors.JWKSNoMatchingKey ||
                error instanceof errors.JWKSMultipleMatchingKeys ||
                error instanceof errors.JOSENotSupported
              ) {
                throw error;
              }
              const problem = describeFetchError(error, jwksTimeoutMs);
              // Tokens waiting on the same fetch all land here: log the failure once.
              const now = Date.now();
              if (jwksFailure === undefined || now - jwksFailure.at >= failureBackoffMs) {
                options.onJwksFailure?.(problem);
              }
              jwksFailure = { at: now, problem };
              throw new JwksUnavailableError(problem, { cause: error });
            }
          },
          { algorithms: [...ASYMMETRIC_ALGORITHMS], clockTolerance },
        );
      } else {
        const key = verifier.key;
        if (key === undefined) {
          return {
            ok: false,
            reason: `no ${role} key configured, so the hub cannot verify ${role} tokens; start the hub with ${KEY_FLAGS[role]}`,
          };
        }
        if (alg !== key.alg) {
          return {
            ok: false,
            reason: `token signed with ${alg} but the hub expects ${key.alg} (--jwt-alg); sign it with the hub's ${role} key and ${key.alg}`,
          };
        }
        result =
          key.key instanceof Uint8Array
            ? await jwtVerify(token, key.key, { algorithms: [key.alg], clockTolerance })
            : await jwtVerify(token, key.key, { algorithms: [key.alg], clockTolerance });
      }
      return { ok: true, payload: result.payload };
    } catch (error) {
      return { ok: false, reason: explain(error, role, useJwks, kid, alg) };
    }
  }

  function explain(
    error: unknown,
    role: Role,
    viaJwks: boolean,
    kid: string | undefined,
    alg: string,
  ): string {
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
      return `token signed with ${alg}, which the hub does not accept here; sign it with ${viaJwks ? ASYMMETRIC_ALGORITHMS.join('/') : (verifiers[role].key?.alg ?? 'the configured algorithm')}`;
    }
    if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
      return `malformed token (${error.message}); send the token exactly as issued`;
    }
    if (error instanceof errors.JOSENotSupported) {
      return `token uses something the hub does not support (${error.message})`;
    }
    return `token rejected (${error instanceof Error ? error.message : String(error)})`;
  }

  async function authenticate(
    req: AuthRequest,
    role: Role,
    dashboard = false,
  ): Promise<AuthResult> {
    const verifier = verifiers[role];
    if (role === 'publisher' && verifier.key === undefined && !verifier.jwks) {
      return unauthorized(
        `no publisher key configured: start the hub with ${KEY_FLAGS.publisher} to accept publishers' tokens`,
        false,
      );
    }
    const extracted = extract(req, role);
    if (extracted.kind === 'rejected') return extracted.result;
    if (extracted.kind === 'none') {
      if (dashboard) {
        return unauthorized(
          `the dashboard needs a JWT with the claim {"herald":{"dashboard":true}}, signed with the subscriber key: send "Authorization: Bearer <token>", open the page with ?${QUERY_PARAMETER}=<token>, or set the ${COOKIE_NAME} cookie`,
          false,
        );
      }
      if (role === 'subscriber' && config.anonymous) return { ok: true, identity: undefined };
      return unauthorized(
        role === 'publisher'
          ? `publishing needs a JWT: send "Authorization: Bearer <token>" (or the "${QUERY_PARAMETER}" query parameter, or the ${COOKIE_NAME} cookie)`
          : `subscribing needs a JWT: send "Authorization: Bearer <token>", the "${QUERY_PARAMETER}" query parameter or the ${COOKIE_NAME} cookie (or start the hub with --anonymous)`,
        false,
      );
    }
    const verified = await verify(extracted.token, verifier);
    if (!verified.ok) return unauthorized(verified.reason, true);
    const claim = readMercureClaim(verified.payload);
    if (typeof claim === 'string') return unauthorized(claim, true);
    const identity: Identity = {
      claim,
      herald: readHeraldClaim(verified.payload),
      token: extracted.token,
      key: identityKey(verified.payload, extracted.token.split('.')[1] ?? ''),
    };
    if (typeof verified.payload.sub === 'string') identity.subject = verified.payload.sub;
    if (typeof verified.payload.exp === 'number') identity.expiresAt = verified.payload.exp * 1000;
    return { ok: true, identity };
  }

  return {
    publisher: (req) => authenticate(req, 'publisher'),
    subscriber: (req) => authenticate(req, 'subscriber'),
    dashboard: (req) => authenticate(req, 'subscriber', true),
    close() {
      // The JWKS is fetched lazily (no timers); dropping it stops any further fetch.
      remoteJwks = undefined;
    },
  };
}

function forbidden(reason: string): Extracted {
  return { kind: 'rejected', result: { ok: false, status: 403, reason } };
}

function queryOf(url: string): URLSearchParams | undefined {
  const mark = url.indexOf('?');
  if (mark < 0) return undefined;
  const hash = url.indexOf('#', mark);
  return new URLSearchParams(url.slice(mark + 1, hash < 0 ? undefined : hash));
}

function describeFetchError(error: unknown, timeoutMs: number): string {
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
