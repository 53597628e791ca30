/**
 * The open subscriptions by topic and by subscriber, for the subscriptions API: a request costs
 * what the caller's `mercure.subscribe` selectors may see, not a scan of every selector on the
 * hub.
 *
 * A subscription resource's id is `/.well-known/mercure/subscriptions/{topic}/{subscriber}`,
 * both parts URL-encoded (so neither contains `/`). A selector can only match ids that start
 * with its literal prefix — all of an exact selector, the text before the first `{` of a URI
 * template (RFC 6570 literals match verbatim) — so the prefix says which topics, and which
 * subscribers of a topic, are candidates:
 *
 * - a prefix that is not a prefix of `/.well-known/mercure/subscriptions/…` (`/books/{id}`,
 *   `https://example.com/{x}`) matches no resource: it costs one string comparison;
 * - a prefix that ends inside the topic part is looked up in a sorted list of topics (O(log n)
 *   plus the topics that start with it); one that names a whole topic is one map lookup;
 * - a prefix that stops at or before `/.well-known/mercure/subscriptions/` (and `*`) may match
 *   every resource, and costs a walk over all of them — what that claim may see.
 *
 * Every candidate is then matched with the selector itself, so the prefix only narrows, never
 * decides.
 * @packageDocumentation
 */

import type { Hub, Subscription } from '../hub/index.js';
import { compileSelector } from '../hub/index.js';

/** Where subscription resources live (Mercure). */
export const SUBSCRIPTIONS_BASE = '/.well-known/mercure/subscriptions';
const ROOT = `${SUBSCRIPTIONS_BASE}/`;
const URN = 'urn:uuid:';

/** The subscriber IRI Mercure expects: a URN built from the subscription's random id. */
export function subscriberIri(sub: Subscription): string {
  return `${URN}${sub.id}`;
}

/** `encodeURIComponent(subscriberIri(sub))`: the id is a UUID, whose characters need none. */
function encodedIri(sub: Subscription): string {
  return /^[0-9A-Za-z-]+$/.test(sub.id)
    ? `urn%3Auuid%3A${sub.id}`
    : encodeURIComponent(subscriberIri(sub));
}

/**
 * Mercure: subscription events and resources have the id
 * `/.well-known/mercure/subscriptions/{topic}/{subscriber}`, both parts URL-encoded.
 */
export function subscriptionResourceId(topic: string, subscriber: string): string {
  return `${ROOT}${encodeURIComponent(topic)}/${encodeURIComponent(subscriber)}`;
}

/** One selector of one subscription, as the API lists it. */
export interface SubscriptionMatch {
  /** The resource id. */
  id: string;
  /** The selector (Mercure's `topic` of the resource). */
  topic: string;
  /** The subscription. */
  subscription: Subscription;
}

/** What a request narrows the listing to: one topic, and one subscriber (IRI) of it. */
export interface SubscriptionScope {
  topic?: string;
  subscriber?: string;
}

/** Where a selector's matches can be: which topics, and which encoded subscribers. */
interface Candidates {
  /** `exact`: one topic; `prefix`: topics starting with `topic` (`''` = every topic). */
  kind: 'exact' | 'prefix';
  topic: string;
  /** Encoded subscriber IRIs must start with this (`''` = any). */
  subscriberPrefix: string;
}

/**
 * Strings in sorted order (UTF-16 code units), in chunks of at most 2 × {@link CHUNK}: insert
 * and delete are a binary search plus a splice within one chunk; the strings that start with a
 * prefix are found by binary search.
 */
class SortedStrings {
  readonly #chunks: string[][] = [];

  add(value: string): void {
    const chunks = this.#chunks;
    if (chunks.length === 0) {
      chunks.push([value]);
      return;
    }
    const c = Math.min(this.#chunkOf(value), chunks.length - 1);
    const chunk = chunks[c]!;
    chunk.splice(lowerBound(chunk, value), 0, value);
    if (chunk.length > 2 * CHUNK) chunks.splice(c + 1, 0, chunk.splice(CHUNK));
  }

  delete(value: string): void {
    const c = this.#chunkOf(value);
    const chunk = this.#chunks[c];
    if (chunk === undefined) return;
    const i = lowerBound(chunk, value);
    if (chunk[i] !== value) return;
    chunk.splice(i, 1);
    if (chunk.length === 0) this.#chunks.splice(c, 1);
  }

  /** The strings that start with `prefix`, in order. */
  *startingWith(prefix: string): Generator<string> {
    const chunks = this.#chunks;
    const first = this.#chunkOf(prefix);
    for (let c = first; c < chunks.length; c++) {
      const chunk = chunks[c]!;
      for (let i = c === first ? lowerBound(chunk, prefix) : 0; i < chunk.length; i++) {
        const value = chunk[i]!;
        if (!value.startsWith(prefix)) return;
        yield value;
      }
    }
  }

  /** The first chunk whose last string is ≥ `value` (`chunks.length` when none is). */
  #chunkOf(value: string): number {
    const chunks = this.#chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid]!;
      if (chunk[chunk.length - 1]! < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

const CHUNK = 512;

/** A template tail made only of `{/…}` expressions (RFC 6570 path segments). */
const SEGMENTS = /^(?:\{\/[^{}]*\})+$/;

function lowerBound(sorted: readonly string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Decodes the encoded start of a topic into a prefix of the topic: an escape cut short at the
 * end, or a multi-byte character cut short, is left out (the prefix only narrows candidates).
 * `undefined` when it cannot be the start of any encoded topic.
 */
function decodePrefix(encoded: string): string | undefined {
  let text = encoded.replace(/%[0-9A-Fa-f]?$/, '');
  for (let i = 0; i < 4; i++) {
    try {
      return decodeURIComponent(text);
    } catch {
      if (!/%[0-9A-Fa-f]{2}$/.test(text)) return undefined;
      text = text.slice(0, -3);
    }
  }
  return undefined;
}

/**
 * Where the ids a selector can match are, from its literal prefix; `undefined` = nowhere.
 * `segmentsFollow`: the rest of the template is only `{/…}` expressions, whose expansions are
 * empty or start with `/` — so a prefix that ends inside the topic part ends the topic (the
 * usual `…/subscriptions/<topic>{/subscriber}`).
 */
function candidatesOf(prefix: string, segmentsFollow: boolean): Candidates | undefined {
  if (prefix.length <= ROOT.length) {
    return ROOT.startsWith(prefix)
      ? { kind: 'prefix', topic: '', subscriberPrefix: '' }
      : undefined;
  }
  if (!prefix.startsWith(ROOT)) return undefined;
  const rest = prefix.slice(ROOT.length);
  const slash = rest.indexOf('/');
  if (slash < 0 && segmentsFollow) {
    const topic = decodePrefix(rest);
    if (topic === undefined || encodeURIComponent(topic) !== rest) return undefined;
    return { kind: 'exact', topic, subscriberPrefix: '' };
  }
  if (slash < 0) {
    const topic = decodePrefix(rest);
    return topic === undefined ? undefined : { kind: 'prefix', topic, subscriberPrefix: '' };
  }
  const subscriberPrefix = rest.slice(slash + 1);
  // Neither part of an id contains "/": a third segment matches nothing.
  if (subscriberPrefix.includes('/')) return undefined;
  const topic = decodePrefix(rest.slice(0, slash));
  // The whole topic part is given: it must be exactly what encoding the topic gives.
  if (topic === undefined || encodeURIComponent(topic) !== rest.slice(0, slash)) return undefined;
  return { kind: 'exact', topic, subscriberPrefix };
}

/**
 * The open subscriptions by selector and by subscriber id, kept up to date from the hub's
 * `subscribe` / `unsubscribe` events. Memory: one map entry and one sorted-list slot per
 * distinct selector (the selector strings are the subscriptions' own), one entry per
 * subscription.
 */
export class SubscriptionIndex {
  readonly #byId = new Map<string, Subscription>();
  readonly #byTopic = new Map<string, Subscription | Set<Subscription>>();
  readonly #topics = new SortedStrings();

  /** Open subscriptions in the index. */
  get size(): number {
    return this.#byId.size;
  }

  /** Adds a subscription under each of its selectors. */
  add(sub: Subscription): void {
    if (this.#byId.has(sub.id)) return;
    this.#byId.set(sub.id, sub);
    for (const topic of sub.topics) {
      const held = this.#byTopic.get(topic);
      if (held === undefined) {
        this.#byTopic.set(topic, sub);
        this.#topics.add(topic);
      } else if (held instanceof Set) {
        held.add(sub);
      } else if (held !== sub) {
        this.#byTopic.set(topic, new Set([held, sub]));
      }
    }
  }

  /** Removes a subscription. */
  remove(sub: Subscription): void {
    if (!this.#byId.delete(sub.id)) return;
    for (const topic of sub.topics) {
      const held = this.#byTopic.get(topic);
      if (held === sub) {
        this.#byTopic.delete(topic);
        this.#topics.delete(topic);
      } else if (held instanceof Set && held.delete(sub) && held.size === 1) {
        this.#byTopic.set(topic, held.values().next().value as Subscription);
      }
    }
  }

  /**
   * Keeps the index of `hub`'s subscriptions from now on (open ones are added at once).
   * @returns a function that stops listening
   */
  follow(hub: Pick<Hub, 'on' | 'off' | 'subscriptions'>): () => void {
    for (const sub of hub.subscriptions()) if (!sub.closed) this.add(sub);
    const added = (sub: Subscription): void => this.add(sub);
    const removed = (sub: Subscription): void => this.remove(sub);
    hub.on('subscribe', added);
    hub.on('unsubscribe', removed);
    return () => {
      hub.off('subscribe', added);
      hub.off('unsubscribe', removed);
    };
  }

  /**
   * The subscription resources (one per selector of each open subscription) inside `scope`
   * whose id one of `selectors` matches (Mercure's rule for the subscriptions API), sorted by
   * id. Cost: per selector, its candidates (see the module documentation), each matched once.
   */
  visible(selectors: readonly string[], scope: SubscriptionScope = {}): SubscriptionMatch[] {
    const found = new Map<string, SubscriptionMatch>();
    let scoped: Subscription | undefined;
    if (scope.subscriber !== undefined) {
      scoped = scope.subscriber.startsWith(URN)
        ? this.#byId.get(scope.subscriber.slice(URN.length))
        : undefined;
      if (scoped === undefined) return [];
    }
    for (const selector of selectors) {
      const compiled = compileSelector(selector);
      const brace = compiled.kind === 'template' ? selector.indexOf('{') : -1;
      const prefix =
        compiled.kind === 'all' ? '' : brace >= 0 ? selector.slice(0, brace) : selector;
      const where = candidatesOf(prefix, brace >= 0 && SEGMENTS.test(selector.slice(brace)));
      if (where === undefined) continue;
      for (const topic of this.#topicsIn(where, scope.topic)) {
        const held = this.#byTopic.get(topic);
        if (held === undefined) continue;
        const subs = held instanceof Set ? held : [held];
        if (scoped !== undefined) {
          if (!(held instanceof Set ? held.has(scoped) : held === scoped)) continue;
        }
        const encodedTopic = encodeURIComponent(topic);
        for (const sub of scoped === undefined ? subs : [scoped]) {
          const subscriber = encodedIri(sub);
          if (!subscriber.startsWith(where.subscriberPrefix)) continue;
          const id = `${ROOT}${encodedTopic}/${subscriber}`;
          if (found.has(id) || !compiled.matches(id)) continue;
          found.set(id, { id, topic, subscription: sub });
        }
      }
    }
    return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The indexed topics a selector's candidates and the request's scope leave. */
  #topicsIn(where: Candidates, scopeTopic: string | undefined): Iterable<string> {
    if (scopeTopic !== undefined) {
      const fits =
        where.kind === 'exact' ? where.topic === scopeTopic : scopeTopic.startsWith(where.topic);
      return fits ? [scopeTopic] : [];
    }
    if (where.kind === 'exact') return [where.topic];
    return where.topic === '' ? this.#byTopic.keys() : this.#topics.startingWith(where.topic);
  }
}
