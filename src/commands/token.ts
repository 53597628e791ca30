/**
 * `herald token`: mints a publisher's or a subscriber's JWT with the key `herald serve` is
 * configured with (the same flags, `HERALD_*` variables and config file), so that private
 * updates, publisher topics and token expiry can be tried end to end from a terminal.
 * @packageDocumentation
 */

import { readFileSync } from 'node:fs';
import { compactVerify, SignJWT } from 'jose';
import {
  HeraldConfigError,
  type JwtKeyConfig,
  loadConfig,
  parseDuration,
} from '../server/config.js';
import { isHmacAlgorithm, loadVerificationKey } from '../server/jwt-keys.js';
import { parseCommandArgs } from './args.js';
import { loadSigningKey, readPrivateKeyText, type SigningKey } from './signing-key.js';

/** The key flags of `herald serve` that `herald token` takes, passed on as they are. */
const KEY_FLAGS = [
  'jwt-key',
  'publisher-jwt-key',
  'subscriber-jwt-key',
  'jwt-alg',
  'publisher-jwt-alg',
  'subscriber-jwt-alg',
  'config',
] as const;

/** The private keys `herald token` signs with when the hub holds public keys (not serve's). */
const PRIVATE_KEY_FLAGS = [
  'private-key',
  'publisher-private-key',
  'subscriber-private-key',
] as const;

/** Whom a token is for: it is signed with, and checked against, that role's key. */
export type TokenRole = 'publisher' | 'subscriber';

/** `herald token --help`. */
export const TOKEN_USAGE = `Usage: herald token [options]

Mints a JWT with the key herald serve is configured with: the same flags, HERALD_* variables
and config file. The token goes to stdout (TOKEN=$(herald token …)); what it holds, to stderr.

Claims:
  --publish <selector>     may publish to topics matching it (repeat for more; "*" for all)
  --subscribe <selector>   may subscribe to, and receive private updates of, topics matching it
                           (repeat for more)
  --exp <duration>         lifetime: 30s, 15m, 1h, 7d… or "none" (default: 1h)
  --sub <subject>          the sub claim (who the token is for; the publish rate is per sub)
  --claim <path=value>     any other claim: herald.dashboard=true, mercure.payload={"user":1};
                           the value is JSON when it parses as JSON, else a string (repeatable)

Key (as herald serve; the publisher key signs a token with --publish, else the subscriber key):
  --jwt-key <key|@file>                (env HERALD_JWT_KEY)
  --publisher-jwt-key <key|@file>      (env HERALD_PUBLISHER_JWT_KEY)
  --subscriber-jwt-key <key|@file>     (env HERALD_SUBSCRIBER_JWT_KEY)
  --jwt-alg, --publisher-jwt-alg, --subscriber-jwt-alg <alg>
                                       HS256 (default), RS256, PS256, ES256, EdDSA…
  --config <file>                      a herald serve config file (JSON or YAML)
  An HMAC secret signs the token itself.

Private key, for a hub configured with a public key (RS*, PS*, ES*, EdDSA), which cannot sign:
  --private-key <file>                 PEM (PKCS#8, PKCS#1 or SEC1, not encrypted) or a private
                                       JWK (env HERALD_PRIVATE_KEY: a path, or the key's text)
  --publisher-private-key <file>       for publisher tokens (env HERALD_PUBLISHER_PRIVATE_KEY)
  --subscriber-private-key <file>      for subscriber tokens (env HERALD_SUBSCRIBER_PRIVATE_KEY)
  The token is checked against the configured public key before it is printed: a private key
  that is not its pair is refused. Without a public key configured, the private key signs with
  --jwt-alg if given, else with its own algorithm (RSA: RS256; EC: ES256, ES384 or ES512 by
  curve; Ed25519: EdDSA; a JWK: its "alg"), named on stderr. The key itself is never printed.

  -h, --help                           Show this help

Examples:
  export HERALD_JWT_KEY=$(openssl rand -base64 32)
  herald serve &
  herald tail --token "$(herald token --subscribe '/orders/{id}')" '/orders/{id}' &
  herald publish --private --token "$(herald token --publish '*')" /orders/1 '{"total":3}'

  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out private.pem
  openssl pkey -in private.pem -pubout -out public.pem
  export HERALD_JWT_KEY=@public.pem HERALD_JWT_ALG=ES256
  herald serve &
  herald token --private-key private.pem --publish '*'
`;

/** What a token says, as the flags gave it. */
export interface TokenRequest {
  /** `mercure.publish` selectors. */
  publish?: readonly string[];
  /** `mercure.subscribe` selectors. */
  subscribe?: readonly string[];
  /** Lifetime in ms; `undefined` for a token without `exp`. */
  expMs?: number;
  /** The `sub` claim. */
  sub?: string;
  /** Other claims, as `path=value` texts (`herald.dashboard=true`). */
  claims?: readonly string[];
}

/**
 * The claims of a token: the `path=value` claims first, then `mercure.publish`,
 * `mercure.subscribe`, `sub`, `iat` and `exp` from their own flags (which win over a `--claim`
 * of the same name).
 * @param request - what the flags said
 * @param now - the clock, ms since the epoch
 * @throws {@link HeraldConfigError} `INVALID_VALUE` for a `--claim` that is not `path=value`
 */
export function tokenClaims(request: TokenRequest, now = Date.now()): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const text of request.claims ?? []) {
    const eq = text.indexOf('=');
    const path = eq === -1 ? '' : text.slice(0, eq);
    if (path === '' || path.split('.').some((part) => part === '')) {
      throw new HeraldConfigError(
        'INVALID_VALUE',
        `--claim takes path=value, e.g. --claim herald.dashboard=true (got "${text}")`,
        '--claim',
      );
    }
    setPath(claims, path.split('.'), readValue(text.slice(eq + 1)));
  }
  const publish = request.publish ?? [];
  const subscribe = request.subscribe ?? [];
  if (publish.length > 0 || subscribe.length > 0) {
    const given = claims.mercure;
    const mercure =
      typeof given === 'object' && given !== null && !Array.isArray(given)
        ? (given as Record<string, unknown>)
        : {};
    if (publish.length > 0) mercure.publish = [...publish];
    if (subscribe.length > 0) mercure.subscribe = [...subscribe];
    claims.mercure = mercure;
  }
  if (request.sub !== undefined) claims.sub = request.sub;
  const iat = Math.floor(now / 1000);
  claims.iat = iat;
  if (request.expMs !== undefined) claims.exp = iat + Math.max(1, Math.round(request.expMs / 1000));
  return claims;
}

function readValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let at = target;
  for (const part of path.slice(0, -1)) {
    const next = at[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  at[path.at(-1)!] = value;
}

/**
 * Signs `claims` with an HMAC key as `herald serve` verifies it (the secret's UTF-8 bytes).
 * @param key - the configured key
 * @param claims - the payload
 * @throws {@link HeraldConfigError} `INVALID_VALUE` for a public key: herald serve holds only
 *   the public half of an RS/ES/PS/EdDSA key, so tokens for it are signed with the private key
 *   ({@link signWithPrivateKey})
 */
export async function signToken(
  key: JwtKeyConfig,
  claims: Record<string, unknown>,
): Promise<string> {
  if (!isHmacAlgorithm(key.alg)) {
    throw new HeraldConfigError(
      'INVALID_VALUE',
      `the configured key is ${an(key.alg)} ${key.alg} public key: herald serve verifies with it but cannot sign; give its private key with --private-key <file> (or HERALD_PRIVATE_KEY), or configure an HMAC secret (--jwt-key) to try things locally`,
    );
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: 'JWT' })
    .sign(new TextEncoder().encode(key.key));
}

/** The article before an algorithm's name, as it is read aloud: an HS256, an ES256, a PS256. */
function an(alg: string): string {
  return /^(HS|RS|ES|Ed)/.test(alg) ? 'an' : 'a';
}

/** A setting of `herald token` as found: its value and where (`--private-key`, `HERALD_…`). */
export interface TokenSetting {
  /** The value as given (a path, or a key's text). */
  value: string;
  /** The flag or variable that gave it, for messages. */
  source: string;
}

/**
 * The strongest of a role's settings that is set: the role's own flag, then the general flag,
 * then their `HERALD_*` variables in the same order (as `herald serve` picks its keys).
 * @param role - whose setting
 * @param general - the general flag's name (`jwt-key`, `jwt-alg`, `private-key`)
 */
function strongest(
  role: TokenRole,
  general: string,
  values: Readonly<Record<string, unknown>>,
  env: NodeJS.ProcessEnv,
): TokenSetting | undefined {
  const names = [`${role}-${general}`, general];
  for (const name of names) {
    const value = values[name];
    if (typeof value === 'string') return { value, source: `--${name}` };
  }
  for (const name of names) {
    const variable = `HERALD_${name.toUpperCase().replaceAll('-', '_')}`;
    const value = env[variable];
    if (value !== undefined && value !== '') return { value, source: variable };
  }
  return undefined;
}

/** A configured key, as messages name it: `the configured public key of the publisher (--jwt-key, ES256)`. */
function describeConfigured(role: TokenRole, key: JwtKeyConfig, source: string): string {
  return `the configured public key of the ${role} (${source}, ${key.alg})`;
}

/**
 * Signs `claims` with a private key and checks the token against the public key each of
 * `roles` is configured with, as the hub will: a private key that is not the pair of that public
 * key, or that does not fit its algorithm, is refused.
 * @param privateKey - the private key's setting (a file, or the key's text)
 * @param claims - the payload
 * @param roles - whom the token is for, with the key each is configured with (if any) and where
 * @param alg - the algorithm asked for (`--jwt-alg`…) when no public key is configured
 * @param readFile - reads the private key file
 * @returns the token and the key it was signed with
 * @throws {@link HeraldConfigError} naming the setting at fault and what to do
 */
export async function signWithPrivateKey(
  privateKey: TokenSetting,
  claims: Record<string, unknown>,
  roles: ReadonlyArray<{ role: TokenRole; key: JwtKeyConfig | undefined; source: string }>,
  alg: TokenSetting | undefined,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): Promise<{ token: string; key: SigningKey }> {
  const at = privateKey.source;
  const configured = roles.find((r) => r.key !== undefined);
  if (configured?.key !== undefined && isHmacAlgorithm(configured.key.alg)) {
    throw new HeraldConfigError(
      'CONFLICT',
      `${at}: the ${configured.role} key (${configured.source}) is ${an(configured.key.alg)} ${configured.key.alg} secret, which signs tokens itself; drop ${at}, or configure the hub with the public key of this private key (--jwt-key @public.pem --jwt-alg RS256/ES256/EdDSA…)`,
      at,
    );
  }
  const text = readPrivateKeyText(privateKey.value, readFile);
  if (!text.ok) {
    throw new HeraldConfigError('INVALID_VALUE', `${at}: ${text.problem}; ${text.hint}`, at);
  }
  const loaded = loadSigningKey(text.text, configured?.key?.alg ?? alg?.value);
  if (!loaded.ok) {
    if (loaded.kind === 'algorithm' && configured?.key !== undefined) {
      throw new HeraldConfigError(
        'CONFLICT',
        `${at}: this private key does not match ${describeConfigured(configured.role, configured.key, configured.source)}: ${loaded.problem}; give the private key that public key was made from`,
        at,
      );
    }
    const from =
      loaded.kind === 'algorithm' && alg !== undefined ? ` (the algorithm from ${alg.source})` : '';
    throw new HeraldConfigError(
      'INVALID_VALUE',
      `${at}: ${loaded.problem}${from}; ${loaded.hint}`,
      at,
    );
  }
  const signing = loaded.key;
  let kid = signing.kid;
  const checks = [];
  for (const { role, key, source } of roles) {
    if (key === undefined) continue;
    const verification = loadVerificationKey(key);
    // loadConfig has checked it already; a failure here would be a bug, not a user's mistake.
    if (!verification.ok) throw new Error(`${source}: ${verification.problem}`);
    // The hub picks its static key for a token whose kid is absent or the key's own.
    kid = verification.key.kid;
    checks.push({ role, key, source, verification: verification.key });
  }
  const header = { alg: signing.alg, typ: 'JWT', ...(kid !== undefined && { kid }) };
  const token = await new SignJWT(claims).setProtectedHeader(header).sign(signing.key);
  for (const { role, key, source, verification } of checks) {
    try {
      await compactVerify(token, verification.key, { algorithms: [verification.alg] });
    } catch {
      const half = text.text.trim().startsWith('{')
        ? 'the JWK without d, p, q, dp, dq and qi'
        : `openssl pkey -in ${text.file ?? 'private.pem'} -pubout`;
      throw new HeraldConfigError(
        'CONFLICT',
        `${at}: this private key does not match ${describeConfigured(role, key, source)}: the hub would refuse its tokens; give the private key that public key was made from, or configure the hub with this key's public half (${half})`,
        at,
      );
    }
  }
  return { token, key: signing };
}

/** What `herald token` printed: the token (stdout) and what it holds (stderr). */
export interface MintedToken {
  token: string;
  /** One line for the terminal: which key, the claims, when it expires. */
  summary: string;
}

/**
 * `herald token args`: reads the claims and the key flags, loads the key as `herald serve`
 * would (flags, then `env`, then the config file) and signs.
 * @param args - the arguments after `token`
 * @param env - the environment (`HERALD_JWT_KEY`…)
 * @param now - the clock, ms since the epoch
 * @throws {@link HeraldConfigError} naming the flag at fault, or saying which key is missing
 */
export async function mintToken(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  now = Date.now(),
): Promise<MintedToken> {
  const { values, positionals } = parseCommandArgs('herald token', args, {
    publish: { type: 'string', multiple: true },
    subscribe: { type: 'string', multiple: true },
    exp: { type: 'string' },
    sub: { type: 'string' },
    claim: { type: 'string', multiple: true },
    ...Object.fromEntries(
      [...KEY_FLAGS, ...PRIVATE_KEY_FLAGS].map((flag) => [flag, { type: 'string' as const }]),
    ),
  });
  if (positionals.length > 0) {
    throw new HeraldConfigError(
      'UNKNOWN_OPTION',
      `unexpected argument "${positionals[0]}": herald token takes only --options (a selector goes after --publish or --subscribe)`,
      positionals[0],
    );
  }
  const expText = (values.exp as string | undefined) ?? '1h';
  let expMs: number | undefined;
  if (expText !== 'none') {
    expMs = parseDuration(expText);
    if (expMs === undefined || expMs < 1000) {
      throw new HeraldConfigError(
        'INVALID_VALUE',
        `--exp takes a duration of at least 1s (30s, 15m, 1h, 7d) or "none" (got "${expText}")`,
        '--exp',
      );
    }
  }
  const publish = (values.publish as string[] | undefined) ?? [];
  const subscribe = (values.subscribe as string[] | undefined) ?? [];
  for (const [flag, list] of [
    ['--publish', publish],
    ['--subscribe', subscribe],
  ] as const) {
    if (list.some((selector) => selector === '')) {
      throw new HeraldConfigError('INVALID_VALUE', `${flag} needs a topic selector`, flag);
    }
  }

  // The key, exactly as herald serve reads it: its own flags, then HERALD_*, then the file.
  const keyArgv = KEY_FLAGS.flatMap((flag) =>
    values[flag] === undefined ? [] : [`--${flag}`, values[flag] as string],
  );
  const { config } = loadConfig({ argv: keyArgv, env: { ...env, HERALD_DEV: undefined } });
  const roles: TokenRole[] =
    publish.length === 0
      ? ['subscriber']
      : subscribe.length === 0
        ? ['publisher']
        : ['publisher', 'subscriber'];
  const role = roles[0]!;
  const configured = roles.map((r) => ({
    role: r,
    key: r === 'publisher' ? config.publisherKey : config.subscriberKey,
    // Where loadConfig found it: the same order, the config file last.
    source: strongest(r, 'jwt-key', values, env)?.source ?? 'the config file',
  }));
  const key = configured[0]!.key;
  const privateKey = strongest(role, 'private-key', values, env);
  if (key === undefined && privateKey === undefined) {
    throw new HeraldConfigError(
      'CONFLICT',
      `no ${role} key to sign with: set --jwt-key or --${role}-jwt-key (or HERALD_JWT_KEY / HERALD_${role.toUpperCase()}_JWT_KEY, or a --config file), as for herald serve, or --private-key for a hub that holds a public key`,
    );
  }
  if (roles.length === 2) {
    const other = configured[1]!.key;
    const otherPrivate = strongest('subscriber', 'private-key', values, env);
    if (
      other?.key !== key?.key ||
      other?.alg !== key?.alg ||
      otherPrivate?.value !== privateKey?.value
    ) {
      throw new HeraldConfigError(
        'CONFLICT',
        'the publisher and subscriber keys differ: one token cannot be both; mint one with --publish and one with --subscribe',
      );
    }
  }
  const claims = tokenClaims(
    {
      publish,
      subscribe,
      expMs,
      sub: values.sub as string | undefined,
      claims: values.claim as string[] | undefined,
    },
    now,
  );
  let token: string;
  let signedWith: string;
  if (privateKey === undefined) {
    token = await signToken(key!, claims);
    signedWith = `${role} key (${key!.alg})`;
  } else {
    const alg = strongest(role, 'jwt-alg', values, env);
    const signed = await signWithPrivateKey(privateKey, claims, configured, alg);
    token = signed.token;
    const { alg: used, description } = signed.key;
    const check =
      key !== undefined
        ? 'it matches the configured public key'
        : config.jwksUrl !== undefined
          ? `not checked: the hub verifies with the JWKS at ${config.jwksUrl}`
          : 'not checked: no public key is configured; the hub needs its public half';
    signedWith = `${role} token signed with ${used} by the private key from ${privateKey.source} (${description.replace(/^an? /, '')}; ${check})`;
  }
  const expires =
    typeof claims.exp === 'number'
      ? `expires ${new Date(claims.exp * 1000).toISOString()}`
      : 'never expires';
  const { iat: _iat, exp: _exp, ...shown } = claims;
  return {
    token,
    summary: `herald token: ${signedWith}, ${expires}, claims ${JSON.stringify(shown)}`,
  };
}
