import { HttpError } from './respond.js';

/**
 * Counts open subscriber connections, in total and per IP address, and refuses those past the
 * limits with a 429 that says which limit bit.
 */
export class ConnectionLimiter {
  readonly #max: number;
  readonly #maxPerIp: number;
  readonly #perIp = new Map<string, number>();
  #open = 0;

  /**
   * @param max - most connections in total; 0 = no limit
   * @param maxPerIp - most connections from one address; 0 = no limit
   */
  constructor(max: number, maxPerIp: number) {
    this.#max = max;
    this.#maxPerIp = maxPerIp;
  }

  /** Open connections. */
  get open(): number {
    return this.#open;
  }

  /**
   * Takes a slot for `ip`.
   *
   * @returns a function that gives the slot back (idempotent)
   * @throws HttpError 429 when a limit is reached
   */
  acquire(ip: string): () => void {
    if (this.#max > 0 && this.#open >= this.#max) {
      throw new HttpError(
        429,
        `the hub is at its connection limit (${this.#max}, --max-connections); retry later`,
        { 'retry-after': '5' },
      );
    }
    const current = this.#perIp.get(ip) ?? 0;
    if (this.#maxPerIp > 0 && current >= this.#maxPerIp) {
      throw new HttpError(
        429,
        `too many connections from ${ip} (limit ${this.#maxPerIp}, --max-connections-per-ip); close other subscriptions or share one EventSource between tabs`,
        { 'retry-after': '5' },
      );
    }
    this.#perIp.set(ip, current + 1);
    this.#open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      const n = (this.#perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, n);
    };
  }
}

/**
 * A token bucket per key (a publisher's identity, see `identity-key.ts`, or an IP): `rate`
 * requests per second on average, with bursts up to `rate` (at least 1). Idle buckets are
 * forgotten.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #now: () => number;

  /**
   * @param rate - requests per second per key; 0 = no limit
   * @param now - the clock in ms
   */
  constructor(rate: number, now: () => number = Date.now) {
    this.#rate = rate;
    this.#now = now;
  }

  /**
   * Spends one token of `key`.
   *
   * @throws HttpError 429 with `Retry-After` when the bucket is empty
   */
  take(key: string): void {
    if (this.#rate <= 0) return;
    const now = this.#now();
    const burst = Math.max(1, this.#rate);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size > 10_000) this.#sweep(now, burst);
      bucket = { tokens: burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate);
      bucket.at = now;
    }
    if (bucket.tokens < 1) {
      const wait = Math.ceil((1 - bucket.tokens) / this.#rate);
      throw new HttpError(
        429,
        `publish rate limit reached (${this.#rate}/s per publisher, --publish-rate); slow down or batch updates`,
        { 'retry-after': String(Math.max(1, wait)) },
      );
    }
    bucket.tokens -= 1;
  }

  /** Drops buckets that have refilled completely: they hold no state worth keeping. */
  #sweep(now: number, burst: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.#rate >= burst) {
        this.#buckets.delete(key);
      }
    }
  }
}
