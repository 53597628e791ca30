/**
 * Who a verified token speaks for, as one short string: the key of per-caller state such as the
 * publish rate limit (`--publish-rate`).
 *
 * A token's spelling is not its identity. The last character of a base64url signature carries
 * bits that decoders ignore (4 spellings of an HS256 token, 16 of an ES256 one, and one more with
 * `=` padding), and the same token arrives in a header, a query parameter (percent-encoded or
 * not) or a cookie (quoted or not). Keyed by the string, each spelling got a bucket of its own.
 * So the key is derived from what was verified:
 *
 * - with a `sub` claim: the issuer (`iss`, when a string) and the subject — every token of one
 *   subject shares a bucket, also a fresh token minted for it (a publisher cannot reset its rate
 *   by asking its issuer for another token);
 * - without one: the verified claims in canonical form (object keys sorted), so a token is one
 *   caller however spelled, while tokens with different claims (another `iat` or `exp`
 *   included) are different callers — give publishers a `sub` to rate-limit them across tokens.
 *
 * Either is hashed (SHA-256), so a key is short whatever the claims hold.
 * @packageDocumentation
 */

import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';

/** The claims with every object's keys sorted, as JSON; `undefined` if they cannot be written. */
function canonicalJson(payload: JWTPayload): string | undefined {
  try {
    return JSON.stringify(payload, (_key, value: unknown) =>
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(
            Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
              a < b ? -1 : a > b ? 1 : 0,
            ),
          )
        : value,
    );
  } catch {
    return undefined; // nested too deeply to write again
  }
}

/**
 * The identity key of a verified token (see the module comment).
 * @param payload - the verified claims
 * @param signedPayload - the token's payload segment as signed, used should the claims be too
 *   deeply nested to be written in canonical form
 * @returns `sub:<hash>` or `claims:<hash>`
 */
export function identityKey(payload: JWTPayload, signedPayload: string): string {
  const hash = (text: string): string => createHash('sha256').update(text).digest('base64url');
  if (typeof payload.sub === 'string') {
    return `sub:${hash(JSON.stringify([typeof payload.iss === 'string' ? payload.iss : null, payload.sub]))}`;
  }
  return `claims:${hash(canonicalJson(payload) ?? signedPayload)}`;
}
