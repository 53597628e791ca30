/**
 * How many open subscriptions use each selector, kept up to date as subscriptions come and go,
 * so that the dashboard's "most subscribed" list costs O(k) to read instead of a sort of every
 * selector on the hub.
 * @packageDocumentation
 */

import type { Hub, Subscription } from '../../hub/index.js';

/** One selector and its number of subscriptions. */
export interface SelectorCount {
  /** The selector as subscribers gave it. */
  selector: string;
  /** Open subscriptions that include it (each subscription counts once). */
  subscribers: number;
}

/** Selectors that share one count, in the order they reached it. */
class Bucket {
  readonly selectors = new Set<string>();
  /** The bucket with the next higher count, if any. */
  higher: Bucket | undefined;
  /** The bucket with the next lower count, if any. */
  lower: Bucket | undefined;
  constructor(readonly count: number) {}
}

/**
 * Counts per selector in buckets of equal count, chained in count order (the structure of an
 * O(1) LFU cache): adding or removing one subscription of a selector moves it to the
 * neighbouring bucket, O(1); {@link SelectorCounts.top} walks down from the highest bucket and
 * stops after `k` selectors, O(k). Ties keep the order in which selectors reached the count.
 */
export class SelectorCounts {
  readonly #buckets = new Map<string, Bucket>();
  #highest: Bucket | undefined;
  #lowest: Bucket | undefined;

  /** Distinct selectors with at least one subscription. */
  get size(): number {
    return this.#buckets.size;
  }

  /** The count of `selector` (0 when no open subscription uses it). */
  count(selector: string): number {
    return this.#buckets.get(selector)?.count ?? 0;
  }

  /** Counts one more subscription of each distinct selector of `selectors`. */
  add(selectors: Iterable<string>): void {
    for (const selector of new Set(selectors)) this.#increment(selector);
  }

  /** Counts one subscription less of each distinct selector of `selectors`. */
  remove(selectors: Iterable<string>): void {
    for (const selector of new Set(selectors)) this.#decrement(selector);
  }

  /**
   * The `k` most used selectors, by count descending; among equal counts, the one that reached
   * the count first comes first.
   */
  top(k: number): SelectorCount[] {
    const out: SelectorCount[] = [];
    for (let b = this.#highest; b !== undefined && out.length < k; b = b.lower) {
      for (const selector of b.selectors) {
        out.push({ selector, subscribers: b.count });
        if (out.length >= k) break;
      }
    }
    return out;
  }

  /**
   * Keeps the counts of `hub`'s subscriptions from now on (subscriptions already open are
   * counted at once).
   * @returns a function that stops listening
   */
  follow(hub: Pick<Hub, 'on' | 'off' | 'subscriptions'>): () => void {
    for (const sub of hub.subscriptions()) if (!sub.closed) this.add(sub.topics);
    const added = (sub: Subscription): void => this.add(sub.topics);
    const removed = (sub: Subscription): void => this.remove(sub.topics);
    hub.on('subscribe', added);
    hub.on('unsubscribe', removed);
    return () => {
      hub.off('subscribe', added);
      hub.off('unsubscribe', removed);
    };
  }

  #increment(selector: string): void {
    const from = this.#buckets.get(selector);
    let to: Bucket;
    if (from === undefined) {
      const lowest = this.#lowest;
      to = lowest?.count === 1 ? lowest : this.#insert(1, undefined, lowest);
    } else {
      const next = from.higher;
      to = next?.count === from.count + 1 ? next : this.#insert(from.count + 1, from, next);
      this.#leave(from, selector);
    }
    to.selectors.add(selector);
    this.#buckets.set(selector, to);
  }

  #decrement(selector: string): void {
    const from = this.#buckets.get(selector);
    if (from === undefined) return;
    if (from.count === 1) {
      this.#buckets.delete(selector);
    } else {
      const next = from.lower;
      const to = next?.count === from.count - 1 ? next : this.#insert(from.count - 1, next, from);
      to.selectors.add(selector);
      this.#buckets.set(selector, to);
    }
    this.#leave(from, selector);
  }

  /** A new bucket of `count` between `lower` and `higher` (either may be absent). */
  #insert(count: number, lower: Bucket | undefined, higher: Bucket | undefined): Bucket {
    const bucket = new Bucket(count);
    bucket.lower = lower;
    bucket.higher = higher;
    if (lower === undefined) this.#lowest = bucket;
    else lower.higher = bucket;
    if (higher === undefined) this.#highest = bucket;
    else higher.lower = bucket;
    return bucket;
  }

  /** Takes `selector` out of `bucket`, unlinking the bucket when it is left empty. */
  #leave(bucket: Bucket, selector: string): void {
    bucket.selectors.delete(selector);
    if (bucket.selectors.size > 0) return;
    const { lower, higher } = bucket;
    if (lower === undefined) this.#lowest = higher;
    else lower.higher = higher;
    if (higher === undefined) this.#highest = lower;
    else higher.lower = lower;
  }
}
