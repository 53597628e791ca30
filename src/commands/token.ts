/**
 * `herald token`: mints a publisher's or a subscriber's JWT with the key `herald serve` is
 * configured with (the same flags, `HERALD_*` variables and config file), so that private
 * updates, publisher topics and token expiry can be tried end to end from a terminal.
 * @packageDocumentation
 */

import { SignJWT } from 'jose';
import {
  HeraldConfigError,
  type JwtKeyConfig,
  loadConfig,
  parseDuration,
} from '../server/config.js';
import { isHmacAlgorithm } from '../server/jwt-keys.js';
import { parseCommandArgs } from './args.js';

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
  --jwt-key <secret|@file>             (env HERALD_JWT_KEY)
  --publisher-jwt-key <secret|@file>   (env HERALD_PUBLISHER_JWT_KEY)
  --subscriber-jwt-key <secret|@file>  (env HERALD_SUBSCRIBER_JWT_KEY)
  --jwt-alg, --publisher-jwt-alg, --subscriber-jwt-alg <HS256|HS384|HS512>
  --config <file>                      a herald serve config file (JSON or YAML)

  -h, --help                           Show this help

Example:
  export HERALD_JWT_KEY=$(openssl rand -base64 32)
  herald serve &
  herald tail --token "$(herald token --subscribe '/orders/{id}')" '/orders/{id}' &
  herald publish --private --token "$(herald token --publish '*')" /orders/1 '{"total":3}'
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
 *   where it lives
 */
export async function signToken(
  key: JwtKeyConfig,
  claims: Record<string, unknown>,
): Promise<string> {
  if (!isHmacAlgorithm(key.alg)) {
    throw new HeraldConfigError(
      'INVALID_VALUE',
      `the configured key is a ${key.alg} public key: herald serve verifies with it but cannot sign; sign tokens with its private key where it lives, or configure an HMAC secret (--jwt-key) to try things locally`,
    );
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: 'JWT' })
    .sign(new TextEncoder().encode(key.key));
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
    ...Object.fromEntries(KEY_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
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
  const role = publish.length > 0 ? 'publisher' : 'subscriber';
  const key = role === 'publisher' ? config.publisherKey : config.subscriberKey;
  if (key === undefined) {
    throw new HeraldConfigError(
      'CONFLICT',
      `no ${role} key to sign with: set --jwt-key or --${role}-jwt-key (or HERALD_JWT_KEY / HERALD_${role.toUpperCase()}_JWT_KEY, or a --config file), as for herald serve`,
    );
  }
  if (publish.length > 0 && subscribe.length > 0) {
    const other = config.subscriberKey;
    if (other === undefined || other.key !== key.key || other.alg !== key.alg) {
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
  const token = await signToken(key, claims);
  const expires =
    typeof claims.exp === 'number'
      ? `expires ${new Date(claims.exp * 1000).toISOString()}`
      : 'never expires';
  const { iat: _iat, exp: _exp, ...shown } = claims;
  return {
    token,
    summary: `herald token: ${role} key (${key.alg}), ${expires}, claims ${JSON.stringify(shown)}`,
  };
}
