/**
 * Loading JWT verification keys from configuration: an HMAC secret, or a public key given as PEM
 * (SPKI, or an X.509 certificate) or as JWK JSON text. Loading is synchronous so that a bad key
 * stops `herald serve` at startup instead of failing every request later.
 *
 * Each key is bound to exactly one JWS algorithm (RFC 8725 §3.1: "libraries MUST enable the
 * caller to specify a supported set of algorithms and MUST NOT use any other algorithms"), and
 * the key's type is checked against that algorithm here, so a token can never pick how the hub
 * verifies it.
 *
 * @packageDocumentation
 */

import { createPublicKey, type JsonWebKey, type KeyObject, X509Certificate } from 'node:crypto';

/** A JWT verification key as configured: a shared secret, a PEM / JWK text, or a JWKS URL. */
export interface JwtKeyConfig {
  /** The key material as given (HMAC secret, PEM public key, or JWK JSON). */
  key: string;
  /** The JWS algorithm tokens must use, e.g. `HS256`, `RS256`, `ES256`, `EdDSA`. */
  alg: string;
}

/** The HMAC algorithms: the key is a shared secret. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

/**
 * The public-key algorithms: the key is a public key. `Ed25519` is the fully-specified name of
 * `EdDSA` with an Ed25519 key (RFC 9864); Ed448 is not supported.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** A JWS algorithm Herald verifies. */
export type JwsAlgorithm =
  | (typeof HMAC_ALGORITHMS)[number]
  | (typeof ASYMMETRIC_ALGORITHMS)[number];

/** A key ready to verify tokens signed with {@link VerificationKey.alg}. */
export interface VerificationKey {
  /** The only algorithm this key accepts. */
  readonly alg: JwsAlgorithm;
  /** The HMAC secret bytes, or the public key. */
  readonly key: Uint8Array | KeyObject;
  /** The key id, when the key was given as a JWK with a `kid`. */
  readonly kid: string | undefined;
}

/** The outcome of {@link loadVerificationKey}: a key, or what is wrong with the configuration. */
export type KeyLoadResult =
  | { ok: true; key: VerificationKey }
  | { ok: false; problem: string; hint: string };

const SUPPORTED: readonly string[] = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS];

/** Whether `alg` is a JWS algorithm Herald can verify. */
export function isSupportedAlgorithm(alg: string): alg is JwsAlgorithm {
  return SUPPORTED.includes(alg);
}

/** Whether `alg` is one of the HMAC (shared secret) algorithms. */
export function isHmacAlgorithm(alg: string): boolean {
  return (HMAC_ALGORITHMS as readonly string[]).includes(alg);
}

const EC_CURVES: Record<string, string> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
};
const EC_CURVE_NAMES: Record<string, string> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};
const PEM_LABEL = /-----BEGIN ([A-Z0-9 ]+)-----/;

function fail(problem: string, hint: string): KeyLoadResult {
  return { ok: false, problem, hint };
}

/**
 * A kind of key a person recognizes, for messages: `an EC P-256 key`, `an RSA 2048-bit key`.
 * @param key - a public or private key
 */
export function describeKey(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? 'unknown';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '?';
    return `an EC ${EC_CURVE_NAMES[curve] ?? curve} key`;
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    return `an ${type.toUpperCase()} ${key.asymmetricKeyDetails?.modulusLength ?? '?'}-bit key`;
  }
  return `an ${type} key`;
}

/**
 * Which algorithms fit a key, for hints: `RS256/RS384/…`, `ES256`, `EdDSA`.
 * @param key - a public or private key
 */
export function algorithmsFor(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256/RS384/RS512/PS256/PS384/PS512';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
      const alg = Object.keys(EC_CURVES).find((name) => EC_CURVES[name] === curve);
      return alg ?? 'none (unsupported curve)';
    }
    case 'ed25519':
      return 'EdDSA';
    default:
      return 'none';
  }
}

/**
 * The algorithm a key is usually used with, when nothing else says: `RS256` for RSA, `ES256`,
 * `ES384` or `ES512` for its EC curve, `EdDSA` for Ed25519.
 * @param key - a public or private key
 * @returns the algorithm, or `undefined` for a key Herald cannot use
 */
export function algorithmOf(key: KeyObject): JwsAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
      return (['ES256', 'ES384', 'ES512'] as const).find((alg) => EC_CURVES[alg] === curve);
    }
    case 'ed25519':
      return 'EdDSA';
    default:
      return undefined;
  }
}

/**
 * Checks that a key fits `alg` (its type, its curve, an RSA key's size).
 * @param alg - an asymmetric algorithm
 * @param key - the key
 * @param half - which half `key` is, for the message
 * @returns the problem, or `undefined` when it fits
 */
export function checkKeyFits(
  alg: JwsAlgorithm,
  key: KeyObject,
  half: 'public' | 'private' = 'public',
): string | undefined {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    if (type !== 'rsa') return `${alg} needs an RSA ${half} key, but this is ${describeKey(key)}`;
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    // RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
    if (bits < 2048) return `${alg} needs an RSA key of at least 2048 bits, this one has ${bits}`;
    return undefined;
  }
  if (alg.startsWith('ES')) {
    const curve = EC_CURVES[alg];
    if (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== curve) {
      return `${alg} needs an EC ${EC_CURVE_NAMES[curve ?? ''] ?? ''} ${half} key, but this is ${describeKey(key)}`;
    }
    return undefined;
  }
  // EdDSA / Ed25519
  if (type === 'ed448') return `Ed448 keys are not supported; use an Ed25519 key with ${alg}`;
  if (type !== 'ed25519')
    return `${alg} needs an Ed25519 ${half} key, but this is ${describeKey(key)}`;
  return undefined;
}

/**
 * PEM text from an environment variable often has literal `\n` instead of line breaks: reads
 * them as line breaks in a one-line text.
 * @param text - the key as given
 */
export function normalizePem(text: string): string {
  const trimmed = text.trim();
  return trimmed.includes('\n') ? trimmed : trimmed.replace(/\\n/g, '\n');
}

/**
 * The JSON object `text` holds (a JWK), or undefined when it is not JSON or not an object.
 *
 * @param text - the key's text
 */
export function parseJwk(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // not JSON
  }
  return undefined;
}

function loadHmacKey(alg: JwsAlgorithm, text: string): KeyLoadResult {
  const trimmed = text.trim();
  if (PEM_LABEL.test(trimmed)) {
    // The classic algorithm-confusion setup: a public key used as an HMAC secret lets anyone
    // who has the (public!) key forge tokens.
    return fail(
      `the key looks like a PEM key, but the algorithm is ${alg} (a shared secret)`,
      'set --jwt-alg to the algorithm of that key (RS256, ES256, EdDSA…), or give a secret',
    );
  }
  if (trimmed.startsWith('{')) {
    const jwk = parseJwk(trimmed);
    if (jwk !== undefined && typeof jwk.kty === 'string') {
      if (jwk.kty !== 'oct' || typeof jwk.k !== 'string') {
        return fail(
          `the key is a JWK of type "${jwk.kty}", but ${alg} needs a shared secret (kty "oct")`,
          'set --jwt-alg to the algorithm of that key, or give a secret',
        );
      }
      if (typeof jwk.alg === 'string' && jwk.alg !== alg) {
        return fail(
          `the JWK says alg "${jwk.alg}" but the hub is configured for ${alg}`,
          `set --jwt-alg ${jwk.alg}, or remove "alg" from the JWK`,
        );
      }
      const secret = new Uint8Array(Buffer.from(jwk.k, 'base64url'));
      if (secret.length === 0)
        return fail('the JWK secret "k" is empty', 'give a non-empty secret');
      return { ok: true, key: { alg, key: secret, kid: stringOrUndefined(jwk.kid) } };
    }
  }
  if (text.length === 0) return fail('the secret is empty', 'give a non-empty secret');
  return { ok: true, key: { alg, key: new TextEncoder().encode(text), kid: undefined } };
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function loadPemKey(alg: JwsAlgorithm, pem: string, label: string): KeyLoadResult {
  if (label.includes('PRIVATE')) {
    return fail(
      `the key is a private key (${label})`,
      'give the hub the public key only, e.g. `openssl pkey -in key.pem -pubout`',
    );
  }
  let key: KeyObject;
  try {
    key = label === 'CERTIFICATE' ? new X509Certificate(pem).publicKey : createPublicKey(pem);
  } catch (error) {
    return fail(
      `the PEM key cannot be read (${(error as Error).message})`,
      'give a public key in PEM form (-----BEGIN PUBLIC KEY-----) or as JWK JSON',
    );
  }
  const problem = checkKeyFits(alg, key);
  if (problem !== undefined) {
    return fail(problem, `set --jwt-alg to one of ${algorithmsFor(key)}, or give a matching key`);
  }
  return { ok: true, key: { alg, key, kid: undefined } };
}

function loadJwkKey(alg: JwsAlgorithm, jwk: Record<string, unknown>): KeyLoadResult {
  if (Array.isArray(jwk.keys)) {
    return fail(
      'the key is a JWK Set (it has "keys"), not a single key',
      'serve the set over HTTP and configure its JWKS URL, or give a single JWK',
    );
  }
  if (typeof jwk.kty !== 'string') {
    return fail('the JWK has no "kty"', 'give a JWK like {"kty":"EC","crv":"P-256","x":…,"y":…}');
  }
  if (jwk.kty === 'oct') {
    return fail(
      `the key is a shared secret (kty "oct"), but ${alg} needs a public key`,
      'set --jwt-alg to HS256/HS384/HS512, or give a public key',
    );
  }
  if (jwk.d !== undefined || jwk.priv !== undefined) {
    return fail(
      'the JWK is a private key (it has "d")',
      'give the hub the public JWK only (drop d, p, q, dp, dq, qi)',
    );
  }
  if (typeof jwk.alg === 'string' && jwk.alg !== alg) {
    return fail(
      `the JWK says alg "${jwk.alg}" but the hub is configured for ${alg}`,
      `set --jwt-alg ${jwk.alg}, or remove "alg" from the JWK`,
    );
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') {
    return fail(`the JWK is for "use": "${String(jwk.use)}"`, 'give a signing key ("use": "sig")');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (error) {
    return fail(
      `the JWK cannot be read (${(error as Error).message})`,
      'give a complete public JWK (RSA: n, e; EC: crv, x, y; OKP: crv, x)',
    );
  }
  const problem = checkKeyFits(alg, key);
  if (problem !== undefined) {
    return fail(problem, `set --jwt-alg to one of ${algorithmsFor(key)}, or give a matching key`);
  }
  return { ok: true, key: { alg, key, kid: stringOrUndefined(jwk.kid) } };
}

/**
 * Turns a configured key into a {@link VerificationKey}, checking that it fits its algorithm.
 *
 * - `HS256`/`HS384`/`HS512`: `key` is the secret, used byte for byte (UTF-8), or a JWK with
 *   `"kty": "oct"`. A PEM text is refused (that is how algorithm-confusion attacks start).
 * - `RS*`, `PS*` (RSA ≥ 2048 bits), `ES256`/`ES384`/`ES512` (P-256/P-384/P-521), `EdDSA`
 *   (Ed25519): `key` is a public key in PEM (SPKI `BEGIN PUBLIC KEY`, PKCS#1
 *   `BEGIN RSA PUBLIC KEY`, or an X.509 `BEGIN CERTIFICATE`) or a public JWK as JSON text.
 *   Private keys are refused. Literal `\n` sequences in a one-line PEM are read as line breaks.
 *
 * @param config - the key and its algorithm, as configured
 * @returns the key, or a problem and a hint saying what to change
 */
export function loadVerificationKey(config: JwtKeyConfig): KeyLoadResult {
  const { alg } = config;
  if (alg.toLowerCase() === 'none') {
    return fail('"none" is not an algorithm: unsigned tokens are never accepted', 'pick HS256');
  }
  if (!isSupportedAlgorithm(alg)) {
    const upper = alg.toUpperCase();
    const suggestion = SUPPORTED.find((name) => name.toUpperCase() === upper);
    return fail(
      `unsupported JWT algorithm "${alg}"`,
      suggestion !== undefined
        ? `did you mean ${suggestion}? (algorithm names are case-sensitive)`
        : `use one of ${SUPPORTED.join(', ')}`,
    );
  }
  if (isHmacAlgorithm(alg)) return loadHmacKey(alg, config.key);

  const text = normalizePem(config.key);
  const label = PEM_LABEL.exec(text)?.[1];
  if (label !== undefined) return loadPemKey(alg, text, label);
  const jwk = text.startsWith('{') ? parseJwk(text) : undefined;
  if (jwk !== undefined) return loadJwkKey(alg, jwk);
  return fail(
    `${alg} needs a public key, but the key is neither PEM nor JWK JSON (is it a shared secret?)`,
    'give a public key (-----BEGIN PUBLIC KEY-----… or {"kty":…}), or set --jwt-alg HS256',
  );
}
