/**
 * The publisher tokens the dev-mode dashboard page carries: short-lived, minted per page view
 * and renewed by the page (`POST /dashboard/token`) before they expire, so that a copy that
 * leaks (a screenshot, a shared page source) stops working within minutes.
 * @packageDocumentation
 */

import { createDevToken } from '../config.js';

/** A minted token and how long it is valid. */
export interface DevToken {
  /** The compact JWT. */
  token: string;
  /** Seconds from now until its `exp`. */
  expiresIn: number;
}

/**
 * Signs a dev-mode dashboard token: HS256 with the generated publisher key, claims
 * `{ mercure: { publish: ['*'] }, iat, exp }` — it may publish, nothing more (the page's tail
 * subscribes anonymously).
 *
 * @param secret - the generated publisher key
 * @param ttlMs - its lifetime in ms (`--dev-token-ttl`)
 * @param now - the clock, ms since the epoch
 */
export function mintDevToken(secret: string, ttlMs: number, now = Date.now()): DevToken {
  const iat = Math.floor(now / 1000);
  const expiresIn = Math.max(1, Math.floor(ttlMs / 1000));
  return {
    token: createDevToken(secret, { mercure: { publish: ['*'] }, iat, exp: iat + expiresIn }),
    expiresIn,
  };
}
