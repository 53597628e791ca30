import { ByteBudget } from '../stream/byte-budget.js';
import { HttpError } from './respond.js';

/** One address's open connections, and the bytes their streams share. */
interface Address {
  count: number;
  budget: ByteBudget | undefined;
}

/**
 * Counts open subscriber connections, in total and per IP address, and refuses those past the
 * limits with a 429 that says which limit bit. Each address with open connections also has one
 * {@link ByteBudget} for what its streams may hold together (`--queue-bytes-per-ip`).
 */
export class ConnectionLimiter {
  readonly #max: number;
  readonly #maxPerIp: number;
  readonly #bytesPerIp: number;
  readonly #perIp = new Map<string, Address>();
  #open = 0;

  /**
   * @param max - most connections in total; 0 = no limit
   * @param maxPerIp - most connections from one address; 0 = no limit
   * @param bytesPerIp - most bytes one address's streams may hold while behind; 0 = no limit
   */
  constructor(max: number, maxPerIp: number, bytesPerIp = 0) {
    this.#max = max;
    this.#maxPerIp = maxPerIp;
    this.#bytesPerIp = bytesPerIp;
  }

  /**
   * The byte budget the streams of `ip` share, while `ip` holds a slot (`undefined` otherwise,
   * or without `bytesPerIp`).
   */
  budgetOf(ip: string): ByteBudget | undefined {
    return this.#perIp.get(ip)?.budget;
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
    const address = this.#perIp.get(ip);
    const current = address?.count ?? 0;
    if (this.#maxPerIp > 0 && current >= this.#maxPerIp) {
      throw new HttpError(
        429,
        `too many connections from ${ip} (limit ${this.#maxPerIp}, --max-connections-per-ip); close other subscriptions or share one EventSource between tabs`,
        { 'retry-after': '5' },
      );
    }
    if (address === undefined) {
      const budget = this.#bytesPerIp > 0 ? new ByteBudget(this.#bytesPerIp) : undefined;
      this.#perIp.set(ip, { count: 1, budget });
    } else {
      address.count++;
    }
    this.#open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      const held = this.#perIp.get(ip);
      if (held === undefined) return;
      if (--held.count <= 0) this.#perIp.delete(ip);
    };
  }
}

/** One key's bucket: `tokens` as of `at` (ms). */
interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets by key, refilled at `rate` tokens per second up to `burst`. Buckets that have
 * refilled completely are forgotten when there are many (they hold no state worth keeping).
 */
class Buckets {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(rate: number, burst: number, now: () => number) {
    this.#rate = rate;
    this.#burst = burst;
    this.#now = now;
  }

  /** The bucket of `key`, refilled up to now. */
  refilled(key: string): Bucket {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size > 10_000) this.#sweep(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(
        this.#burst,
        bucket.tokens + ((now - bucket.at) / 1000) * this.#rate,
      );
      bucket.at = now;
    }
    return bucket;
  }

  /** Whole seconds (at least 1) until `bucket` holds `n` tokens. */
  secondsUntil(bucket: Bucket, n: number): number {
    return Math.max(1, Math.ceil((n - bucket.tokens) / this.#rate));
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.#rate >= this.#burst) {
        this.#buckets.delete(key);
      }
    }
  }
}

/**
 * A token bucket per key (a publisher's identity, see `identity-key.ts`, or an IP): `rate`
 * requests per second on average, with bursts up to `rate` (at least 1). Idle buckets are
 * forgotten.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #buckets: Buckets;

  /**
   * @param rate - requests per second per key; 0 = no limit
   * @param now - the clock in ms
   */
  constructor(rate: number, now: () => number = Date.now) {
    this.#rate = rate;
    this.#buckets = new Buckets(rate, Math.max(1, rate), now);
  }

  /**
   * Spends one token of `key`.
   *
   * @throws HttpError 429 with `Retry-After` when the bucket is empty
   */
  take(key: string): void {
    if (this.#rate <= 0) return;
    const bucket = this.#buckets.refilled(key);
    if (bucket.tokens < 1) {
      throw new HttpError(
        429,
        `publish rate limit reached (${this.#rate}/s per publisher, --publish-rate); slow down or batch updates`,
        { 'retry-after': String(this.#buckets.secondsUntil(bucket, 1)) },
      );
    }
    bucket.tokens -= 1;
  }
}

/**
 * The subscription events (`--subscriptions`) one client address may cause: a token bucket per
 * address of `rate` events per second. A subscription costs two events per selector — the one
 * published as it opens and the one published as it closes — both charged when it opens, so
 * that a subscription accepted always gets its closing events. The bucket holds
 * `max(rate, 2 × maxTopics)` tokens, so a subscription of `--max-topics` selectors fits a full
 * bucket.
 */
export class SubscriptionEventLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets: Buckets;

  /**
   * @param rate - subscription events per second per address; 0 = no limit
   * @param maxTopics - most selectors of one subscription (`--max-topics`)
   * @param now - the clock in ms
   */
  constructor(rate: number, maxTopics: number, now: () => number = Date.now) {
    this.#rate = rate;
    this.#burst = Math.max(rate, 2 * maxTopics);
    this.#buckets = new Buckets(rate, this.#burst, now);
  }

  /** Tokens a full bucket holds: the most events one address may cause at once. */
  get burst(): number {
    return this.#burst;
  }

  /**
   * Charges the events of a subscription of `selectors` selectors from `ip` (two per selector).
   *
   * @returns a function that gives them back, for a subscription refused after all (idempotent;
   *   never call it once the subscription opened: its events are published)
   * @throws HttpError 429 with `Retry-After`, naming `--subscription-events-rate`, when the
   *   address's bucket does not hold them
   */
  charge(ip: string, selectors: number): () => void {
    if (this.#rate <= 0) return () => {};
    const events = 2 * selectors;
    const bucket = this.#buckets.refilled(ip);
    if (bucket.tokens < events) {
      const wait = this.#buckets.secondsUntil(bucket, events);
      throw new HttpError(
        429,
        `too many subscription events from ${ip}: this subscription's ${selectors} selectors make ${events} (one per selector as it opens and one as it closes), and this address may cause ${this.#rate} per second, ${this.#burst} at once (--subscription-events-rate); retry in ${wait} s, or subscribe with fewer selectors (a URI template can replace many)`,
        { 'retry-after': String(wait) },
      );
    }
    bucket.tokens -= events;
    let refunded = false;
    return () => {
      if (refunded) return;
      refunded = true;
      // Into the bucket as refilled now: never above a full one.
      const now = this.#buckets.refilled(ip);
      now.tokens = Math.min(this.#burst, now.tokens + events);
    };
  }
}
