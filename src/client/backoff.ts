/** The bounds of the exponential backoff between reconnection attempts. */
export interface BackoffPolicy {
  /** The shortest delay, in ms, and the base of the exponential ceiling. */
  minDelayMs: number;
  /** The longest delay, in ms (a server's `retry:` or `Retry-After` may still ask for more). */
  maxDelayMs: number;
}

/**
 * The delay before reconnection attempt number `attempt + 1`, with full jitter: a uniformly
 * random value between `minDelayMs` and the ceiling `min(maxDelayMs, minDelayMs · 2^(attempt+1))`,
 * so a crowd of clients that lost the same server spreads out instead of returning at once.
 * `floorMs` (the server's `retry:` or `Retry-After`) is honoured as a lower bound.
 *
 * @param attempt - consecutive failures before this one (0 for the first reconnection)
 * @param policy - the bounds
 * @param random - a source of numbers in [0, 1), e.g. `Math.random`
 * @param floorMs - the least delay the server asked for (0 when none)
 * @returns the delay in whole milliseconds
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number,
  floorMs = 0,
): number {
  const { minDelayMs: min, maxDelayMs: max } = policy;
  const ceiling = Math.max(min, Math.min(max, min * 2 ** (attempt + 1)));
  return Math.round(Math.max(floorMs, min + random() * (ceiling - min)));
}

/**
 * The delay a `Retry-After` header asks for, in ms (delta-seconds or an HTTP date), or 0.
 *
 * @param value - the header value, or `null`
 * @param now - the current time in ms since the epoch
 */
export function retryAfterMs(value: string | null, now: number): number {
  if (value === null) return 0;
  const ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return ms > 0 ? ms : 0;
}
