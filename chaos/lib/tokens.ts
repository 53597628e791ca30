// JWTs for the harnesses: HMAC tokens with a `mercure` claim, signed with the secret every
// harness hub is started with (`--jwt-key HARNESS_SECRET`).
import { SignJWT } from 'jose';

/** The HMAC secret of every harness hub. */
export const HARNESS_SECRET = 'herald-chaos-harness-secret-of-at-least-32-bytes';

/** The flags that give a harness hub its key. */
export const KEY_FLAGS = ['--jwt-key', HARNESS_SECRET] as const;

/** A `mercure` claim. */
export interface Claim {
  publish?: string[];
  subscribe?: string[];
  payload?: unknown;
}

/** Signs an HS256 token with `claim` (and `extra` top-level claims such as `sub`). */
export function sign(
  claim: Claim,
  extra: Record<string, unknown> = {},
  secret = HARNESS_SECRET,
): Promise<string> {
  return new SignJWT({ ...extra, mercure: claim })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .sign(new TextEncoder().encode(secret));
}

/** A publisher token for every topic. */
export function publisherToken(selectors: string[] = ['*']): Promise<string> {
  return sign({ publish: selectors });
}

/** A subscriber token whose private updates are those of `selectors`. */
export function subscriberToken(selectors: string[] = ['*']): Promise<string> {
  return sign({ subscribe: selectors });
}
