/**
 * Verifying a token: its signature with the key of its role (publisher / subscriber, each bound
 * to one algorithm) and/or a JWKS URL (asymmetric keys only), `exp` and `nbf` with a clock
 * tolerance, and the shape of its `mercure` and `herald` claims. Keys are loaded when the
 * verifier is made, so a bad key stops the hub at startup.
 *
 * @packageDocumentation
 */

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
import {
  describeFetchError,
  explainVerifyError,
  JwksUnavailableError,
  reasons,
  SETTING_NAMES,
} from './auth-refusal.js';
import type { AuthRole, HeraldClaim, MercureClaim } from './auth-types.js';
import type { ServerConfig } from './config.js';
import { boundedFetch, DEFAULT_JWKS_MAX_BYTES, DEFAULT_JWKS_TIMEOUT_MS } from './jwks-fetch.js';
import { ASYMMETRIC_ALGORITHMS, loadVerificationKey, type VerificationKey } from './jwt-keys.js';

/** Tuning of token verification; the defaults suit production. */
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
 * A JWT key or JWKS URL in the configuration cannot be used; thrown by `createAuthenticator`
 * so that the hub refuses to start.
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

/** A verified token's claims, or why it is refused (a sentence for the client). */
export type VerifiedToken =
  | { ok: true; payload: JWTPayload; claim: MercureClaim; herald: HeraldClaim }
  | { ok: false; reason: string };

/** Verifies tokens with the configured keys. Make one with {@link createTokenVerifier}. */
export interface TokenVerifier {
  /** Tokens of this role can be verified at all (a static key or a JWKS). */
  canVerify(role: AuthRole): boolean;
  /** Verifies a token's signature, time claims and claim shapes with the key of `role`. */
  verify(token: string, role: AuthRole): Promise<VerifiedToken>;
  /** Stops using the JWKS (a later token that needs it is refused). Idempotent. */
  close(): void;
}

/**
 * Makes the verifier of a hub. Key choice: publisher tokens verify against `publisherKey`,
 * subscriber tokens against `subscriberKey`. With a `jwksUrl` too, a token whose header has a
 * `kid` different from the static key's is verified against the JWKS, any other against the
 * static key; with only a `jwksUrl`, every token is. The JWKS is fetched on first use, cached,
 * and fetched again when a token names an unknown `kid` (at most once per cooldown).
 *
 * @param config - the keys and the JWKS URL
 * @param options - tuning; the defaults suit production
 * @throws HeraldAuthConfigError when a key cannot be used with its algorithm, or the JWKS URL is
 *   not an http(s) URL
 */
export function createTokenVerifier(
  config: Pick<ServerConfig, 'publisherKey' | 'subscriberKey' | 'jwksUrl'>,
  options: AuthenticatorOptions = {},
): TokenVerifier {
  const clockTolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;

  const load = (role: AuthRole): VerificationKey | undefined => {
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
  const keys: Record<AuthRole, VerificationKey | undefined> = {
    publisher: load('publisher'),
    subscriber: load('subscriber'),
  };

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
  const hasJwks = remoteJwks !== undefined;
  const jwksHref = jwksUrl?.href ?? '';
  const jwksTimeoutMs = options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS;
  const failureBackoffMs = Math.min(
    JWKS_FAILURE_BACKOFF_MS,
    options.jwksCooldownMs ?? JWKS_FAILURE_BACKOFF_MS,
  );
  /** The last failed fetch: tokens within the backoff are refused with its reason. */
  let jwksFailure: { at: number; problem: string } | undefined;

  /** Verifies a token's signature and time claims with the key for its role. */
  async function verifySignature(
    token: string,
    role: AuthRole,
  ): Promise<{ ok: true; payload: JWTPayload } | { ok: false; reason: string }> {
    const staticKey = keys[role];
    const parts = token.split('.');
    let header: JWTHeaderParameters;
    try {
      if (parts.length !== 3 && parts.length !== 5) throw new Error('not a compact JWS');
      header = decodeProtectedHeader(token) as JWTHeaderParameters;
    } catch {
      return { ok: false, reason: reasons.notCompactJws() };
    }
    if (parts.length === 5 || 'enc' in header) return { ok: false, reason: reasons.encrypted() };
    const alg = header.alg;
    if (typeof alg !== 'string' || alg === '') return { ok: false, reason: reasons.noAlg() };
    // RFC 8725 §3.1: never accept "none"; the algorithm is the hub's choice, not the token's.
    if (alg.toLowerCase() === 'none') {
      return { ok: false, reason: reasons.unsigned(staticKey?.alg) };
    }

    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const useJwks =
      hasJwks && (staticKey === undefined || (kid !== undefined && kid !== staticKey.kid));

    try {
      let result: JWTVerifyResult;
      if (useJwks) {
        if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
          return { ok: false, reason: reasons.notForJwks(alg, role, staticKey !== undefined) };
        }
        const jwks = remoteJwks;
        if (jwks === undefined) return { ok: false, reason: reasons.jwksClosed() };
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
        if (staticKey === undefined) return { ok: false, reason: reasons.noKey(role) };
        if (alg !== staticKey.alg) {
          return { ok: false, reason: reasons.wrongAlg(alg, staticKey.alg, role) };
        }
        result =
          staticKey.key instanceof Uint8Array
            ? await jwtVerify(token, staticKey.key, { algorithms: [staticKey.alg], clockTolerance })
            : await jwtVerify(token, staticKey.key, {
                algorithms: [staticKey.alg],
                clockTolerance,
              });
      }
      return { ok: true, payload: result.payload };
    } catch (error) {
      return {
        ok: false,
        reason: explainVerifyError(error, {
          role,
          viaJwks: useJwks,
          kid,
          alg,
          jwksHref,
          keyAlg: staticKey?.alg,
        }),
      };
    }
  }

  return {
    canVerify: (role) => keys[role] !== undefined || hasJwks,
    async verify(token, role) {
      const signed = await verifySignature(token, role);
      if (!signed.ok) return signed;
      const claim = readMercureClaim(signed.payload);
      if (typeof claim === 'string') return { ok: false, reason: claim };
      return { ok: true, payload: signed.payload, claim, herald: readHeraldClaim(signed.payload) };
    },
    close() {
      // The JWKS is fetched lazily (no timers); dropping it stops any further fetch.
      remoteJwks = undefined;
    },
  };
}

/** Validates the `mercure` claim; returns the claim or the reason it is unusable. */
function readMercureClaim(payload: JWTPayload): MercureClaim | string {
  // The reference hub also reads the claim under the namespaced "https://mercure.rocks/" name.
  const raw = payload.mercure !== undefined ? payload.mercure : payload['https://mercure.rocks/'];
  const name = payload.mercure !== undefined ? 'mercure' : 'https://mercure.rocks/';
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) return reasons.mercureClaimShape(name, raw);
  const record = raw as Record<string, unknown>;
  const claim: MercureClaim = {};
  for (const field of ['publish', 'subscribe'] as const) {
    const value = record[field];
    // A JSON null is read as "absent", as Go's decoder (the reference hub's) does.
    if (value === undefined || value === null) continue;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      return reasons.selectorsShape(name, field, value);
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
