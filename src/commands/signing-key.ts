/**
 * The private key `herald token` signs with when the hub verifies with a public key (RS*, PS*,
 * ES*, EdDSA): read from a file or given as text, checked to be a private key of a kind Herald
 * verifies, and bound to one algorithm — the hub's when a public key is configured, else the one
 * asked for, else the key's own. Nothing here prints or returns the key's text.
 * @packageDocumentation
 */

import { createPrivateKey, type JsonWebKey, KeyObject } from 'node:crypto';
import {
  algorithmOf,
  algorithmsFor,
  checkKeyFits,
  describeKey,
  isHmacAlgorithm,
  isSupportedAlgorithm,
  type JwsAlgorithm,
  normalizePem,
  parseJwk,
} from '../server/jwt-keys.js';

/** A private key ready to sign tokens with {@link SigningKey.alg}. */
export interface SigningKey {
  /** The only algorithm it signs with. */
  readonly alg: JwsAlgorithm;
  /** The private key. */
  readonly key: KeyObject;
  /** The key id, when the key was given as a JWK with a `kid`. */
  readonly kid: string | undefined;
  /** What kind of key it is, for messages: `an EC P-256 key`. */
  readonly description: string;
}

/**
 * The outcome of {@link loadSigningKey}: a key, or what is wrong with it. `kind` says whether
 * the key itself cannot be used (`key`) or does not fit the algorithm asked for (`algorithm`).
 */
export type SigningKeyResult =
  | { ok: true; key: SigningKey }
  | { ok: false; kind: 'key' | 'algorithm'; problem: string; hint: string };

/** The text of a private key, or why it could not be read. */
export type PrivateKeyText =
  | { ok: true; text: string; file: string | undefined }
  | { ok: false; problem: string; hint: string };

const PEM_LABEL = /-----BEGIN ([A-Z0-9 ]+)-----/;
const GIVE =
  'give a private key in PEM (PKCS#8 -----BEGIN PRIVATE KEY-----, as openssl genpkey writes it) or as a private JWK ({"kty":…,"d":…})';

/**
 * Reads what `--private-key` was given: the PEM or JWK text itself when it is one (it starts
 * with `-----BEGIN` or `{`), else the path of a file holding it (a leading `@` is dropped, as
 * `--jwt-key @file` writes it).
 * @param value - the flag's or variable's value
 * @param readFile - reads a file as UTF-8
 */
export function readPrivateKeyText(
  value: string,
  readFile: (path: string) => string,
): PrivateKeyText {
  const trimmed = value.trim();
  if (trimmed.startsWith('-----BEGIN') || trimmed.startsWith('{')) {
    return { ok: true, text: value, file: undefined };
  }
  const path = value.startsWith('@') ? value.slice(1) : value;
  if (path === '') {
    return { ok: false, problem: 'no file given', hint: 'give the path of the private key file' };
  }
  try {
    return { ok: true, text: readFile(path), file: path };
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    return {
      ok: false,
      problem: `cannot read ${path} (${err.code ?? err.message})`,
      hint: 'give the path of the private key file (PEM or JWK)',
    };
  }
}

function fail(kind: 'key' | 'algorithm', problem: string, hint: string): SigningKeyResult {
  return { ok: false, kind, problem, hint };
}

/** The key of a PEM text, or what is wrong with it. */
function fromPem(pem: string, label: string): KeyObject | SigningKeyResult {
  if (label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,\s*ENCRYPTED/.test(pem)) {
    return fail(
      'key',
      'the private key is encrypted with a passphrase',
      'decrypt it into a file only you can read (openssl pkey -in key.pem -out plain-key.pem) and give that file',
    );
  }
  if (!label.includes('PRIVATE KEY')) {
    const what = label === 'CERTIFICATE' ? 'a certificate' : `a public key (${label})`;
    return fail(
      'key',
      `this is ${what}, not a private key`,
      'give the private half, the file its public key was made from (-----BEGIN PRIVATE KEY-----); the public key is what the hub verifies with (--jwt-key)',
    );
  }
  try {
    return createPrivateKey(pem);
  } catch (error) {
    return fail('key', `the PEM private key cannot be read (${(error as Error).message})`, GIVE);
  }
}

/** The key of a JWK, its `kid` and `alg`, or what is wrong with it. */
function fromJwk(
  jwk: Record<string, unknown>,
): { key: KeyObject; kid: string | undefined; alg: string | undefined } | SigningKeyResult {
  if (Array.isArray(jwk.keys)) {
    return fail(
      'key',
      'the key is a JWK Set (it has "keys"), not a single key',
      'give the one private JWK to sign with',
    );
  }
  if (typeof jwk.kty !== 'string') {
    return fail('key', 'the JWK has no "kty"', GIVE);
  }
  if (jwk.kty === 'oct') {
    return fail(
      'key',
      'the key is a shared secret (JWK kty "oct"), not a private key',
      'give a shared secret to --jwt-key: the hub verifies with it and herald token signs with it; --private-key takes an RSA, EC or Ed25519 private key',
    );
  }
  if (jwk.d === undefined) {
    return fail(
      'key',
      'the JWK is a public key (it has no "d")',
      'give the private JWK (with "d"); the public one is what the hub verifies with (--jwt-key)',
    );
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') {
    return fail(
      'key',
      `the JWK is for "use": "${String(jwk.use)}"`,
      'give a signing key ("use": "sig")',
    );
  }
  try {
    const key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    return {
      key,
      kid: typeof jwk.kid === 'string' ? jwk.kid : undefined,
      alg: typeof jwk.alg === 'string' ? jwk.alg : undefined,
    };
  } catch (error) {
    return fail(
      'key',
      `the private JWK cannot be read (${(error as Error).message})`,
      'give a complete private JWK (RSA: n, e, d, p, q, dp, dq, qi; EC: crv, x, y, d; OKP: crv, x, d)',
    );
  }
}

/**
 * Turns a private key's text into a {@link SigningKey}.
 *
 * Takes PEM (PKCS#8 `BEGIN PRIVATE KEY`, also PKCS#1 `BEGIN RSA PRIVATE KEY` and SEC1
 * `BEGIN EC PRIVATE KEY`; a one-line PEM's literal `\n` sequences are read as line breaks) or a
 * private JWK as JSON text. Refused: public keys, certificates, encrypted keys, JWK Sets, shared
 * secrets, and keys that do not fit the algorithm (an RSA key under 2048 bits, an EC key of
 * another curve…).
 *
 * @param text - the key's text
 * @param alg - the algorithm it must sign with; `undefined`: the JWK's `alg`, else the key's own
 *   ({@link algorithmOf})
 * @returns the key, or a problem and a hint saying what to change
 */
export function loadSigningKey(text: string, alg: string | undefined): SigningKeyResult {
  const normalized = normalizePem(text);
  const label = PEM_LABEL.exec(normalized)?.[1];
  let key: KeyObject;
  let kid: string | undefined;
  let jwkAlg: string | undefined;
  if (label !== undefined) {
    const read = fromPem(normalized, label);
    if (!(read instanceof KeyObject)) return read;
    key = read;
  } else {
    const jwk = normalized.startsWith('{') ? parseJwk(normalized) : undefined;
    if (jwk === undefined) {
      return fail(
        'key',
        'the key is neither a PEM private key nor a JWK (is it a shared secret?)',
        `${GIVE}; a shared secret goes to --jwt-key`,
      );
    }
    const read = fromJwk(jwk);
    if ('ok' in read) return read;
    ({ key, kid, alg: jwkAlg } = read);
  }

  if (alg !== undefined && jwkAlg !== undefined && jwkAlg !== alg) {
    return fail(
      'algorithm',
      `the JWK says alg "${jwkAlg}" but the algorithm is ${alg}`,
      `give a key for ${alg}, or remove "alg" from the JWK`,
    );
  }
  const chosen = alg ?? jwkAlg ?? algorithmOf(key);
  if (chosen === undefined) {
    return fail(
      'key',
      `${describeKey(key)} signs no algorithm Herald verifies`,
      'use an RSA key of at least 2048 bits, an EC P-256, P-384 or P-521 key, or an Ed25519 key',
    );
  }
  if (!isSupportedAlgorithm(chosen)) {
    return fail('algorithm', `unsupported JWT algorithm "${chosen}"`, `use ${algorithmsFor(key)}`);
  }
  if (isHmacAlgorithm(chosen)) {
    return fail(
      'algorithm',
      `${chosen} signs with a shared secret, not with a private key (this is ${describeKey(key)})`,
      `use ${algorithmsFor(key)} for this key, or sign with the secret (--jwt-key)`,
    );
  }
  const problem = checkKeyFits(chosen, key, 'private');
  if (problem !== undefined) {
    return fail(
      'algorithm',
      problem,
      `use ${algorithmsFor(key)} for this key, or give a key for ${chosen}`,
    );
  }
  return { ok: true, key: { alg: chosen, key, kid, description: describeKey(key) } };
}
