/**
 * Topic selectors and the subscriber index the hub fans out with.
 *
 * A selector is one of:
 * - `*` — matches every topic;
 * - a URI template (RFC 6570, see `uri-template.ts`) — any selector containing `{` or `}` is
 *   parsed as one; it matches a topic that could be an expansion of it, and (as in Mercure) a
 *   topic equal to the selector string itself;
 * - anything else — an exact topic, compared as a string (no URI normalization: `%7E` and `~`
 *   are different topics).
 *
 * A selector that contains `{` or `}` but is not a well-formed template is, by default, treated
 * as an exact topic. That is what Mercure's hub does (a selector equal to the topic always
 * matches; one that fails to parse as a template matches nothing else), and topics such as
 * `{"room":1}` keep working. {@link CompiledSelector.error} tells why, and
 * `compileSelector(s, { strict: true })` throws it instead, so a server can answer `400` to a
 * mistyped template.
 *
 * @packageDocumentation
 */

import { HeraldTopicError, UriTemplate } from './uri-template.js';

export { HeraldTopicError, type HeraldTopicErrorCode, UriTemplate } from './uri-template.js';

/** How a selector matches. */
export type SelectorKind = 'all' | 'exact' | 'template';

/** A selector, parsed once and ready to match topics. Immutable and shareable. */
export interface CompiledSelector {
  /** The selector as given. */
  readonly source: string;
  /** `all` for `*`, `template` for a valid URI template, `exact` otherwise. */
  readonly kind: SelectorKind;
  /**
   * Why a selector that looked like a template (it contains `{` or `}`) is matched as an exact
   * topic instead; `undefined` for every other selector.
   */
  readonly error: HeraldTopicError | undefined;
  /** Whether this selector matches `topic`. */
  matches(topic: string): boolean;
}

/** Options of {@link compileSelector}. */
export interface CompileSelectorOptions {
  /** Throw the {@link HeraldTopicError} of a malformed template instead of matching it exactly. */
  strict?: boolean;
}

const ALL: CompiledSelector = {
  source: '*',
  kind: 'all',
  error: undefined,
  matches: () => true,
};

class ExactSelector implements CompiledSelector {
  readonly kind = 'exact';
  constructor(
    readonly source: string,
    readonly error: HeraldTopicError | undefined,
  ) {}
  matches(topic: string): boolean {
    return topic === this.source;
  }
}

class TemplateSelector implements CompiledSelector {
  readonly kind = 'template';
  readonly error = undefined;
  constructor(
    readonly source: string,
    readonly template: UriTemplate,
  ) {}
  matches(topic: string): boolean {
    // Mercure matches a selector equal to the topic before trying it as a template.
    return topic === this.source || this.template.matches(topic);
  }
}

function build(selector: string): CompiledSelector {
  if (selector === '*') return ALL;
  if (!selector.includes('{') && !selector.includes('}'))
    return new ExactSelector(selector, undefined);
  try {
    return new TemplateSelector(selector, new UriTemplate(selector));
  } catch (error) {
    if (error instanceof HeraldTopicError) return new ExactSelector(selector, error);
    throw error;
  }
}

/**
 * A bounded cache of compiled selectors, approximately least-recently-used: two generations of
 * at most `capacity / 2` entries each; a hit in the old generation promotes the entry, and when
 * the young generation is full the old one is dropped. O(1) per lookup, no reordering on a hit.
 */
class SelectorCache {
  #young = new Map<string, CompiledSelector>();
  #old = new Map<string, CompiledSelector>();
  #half: number;
  /** Lookups answered from the cache (for tests and metrics). */
  hits = 0;
  /** Lookups that had to compile. */
  misses = 0;

  constructor(capacity: number) {
    this.#half = Math.max(1, Math.floor(capacity / 2));
  }

  get(selector: string): CompiledSelector {
    let c = this.#young.get(selector);
    if (c !== undefined) {
      this.hits++;
      return c;
    }
    c = this.#old.get(selector);
    if (c !== undefined) {
      this.hits++;
    } else {
      this.misses++;
      c = build(selector);
    }
    if (this.#young.size >= this.#half) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(selector, c);
    return c;
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  resize(capacity: number): void {
    this.#half = Math.max(1, Math.floor(capacity / 2));
    this.#young = new Map();
    this.#old = new Map();
  }
}

/** Default capacity of the compiled-selector cache. */
export const DEFAULT_SELECTOR_CACHE_SIZE = 10_000;

const cache = new SelectorCache(DEFAULT_SELECTOR_CACHE_SIZE);

/**
 * Compiles a topic selector, from a bounded process-wide cache
 * ({@link DEFAULT_SELECTOR_CACHE_SIZE} entries, approximately LRU).
 *
 * @param selector - `*`, a URI template or an exact topic
 * @param options - `strict: true` throws on a malformed template
 * @returns the compiled selector (the same object for the same string while it stays cached)
 * @throws {@link HeraldTopicError} in strict mode, when the selector contains `{` or `}` but is
 *   not a valid template
 */
export function compileSelector(
  selector: string,
  options?: CompileSelectorOptions,
): CompiledSelector {
  const c = cache.get(selector);
  if (options?.strict === true && c.error !== undefined) throw c.error;
  return c;
}

/**
 * Statistics of the compiled-selector cache: `size` entries, `hits` and `misses` since start.
 */
export function selectorCacheStats(): { size: number; hits: number; misses: number } {
  return { size: cache.size, hits: cache.hits, misses: cache.misses };
}

/**
 * Sets the capacity of the compiled-selector cache and empties it.
 *
 * @param capacity - maximum number of cached selectors (at least 2)
 */
export function setSelectorCacheSize(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 2) {
    throw new RangeError(`selector cache capacity must be an integer >= 2 (got ${capacity})`);
  }
  cache.resize(capacity);
}

/**
 * A set of selectors compiled together, for repeated checks such as "may this subscriber see
 * this private event?". Exact selectors are looked up in a `Set`, templates are tried in turn.
 */
export class SelectorSet {
  /** The selectors, as given (duplicates removed). */
  readonly selectors: readonly string[];
  /** `true` when the set contains `*`. */
  readonly all: boolean;
  readonly #exact = new Set<string>();
  readonly #templates: CompiledSelector[] = [];

  /**
   * @param selectors - the selectors; malformed templates are matched exactly
   */
  constructor(selectors: Iterable<string>) {
    const unique = new Set(selectors);
    this.selectors = [...unique];
    let all = false;
    for (const s of unique) {
      const c = compileSelector(s);
      if (c.kind === 'all') all = true;
      else if (c.kind === 'exact') this.#exact.add(s);
      else this.#templates.push(c);
    }
    this.all = all;
  }

  /** Whether any selector of the set matches `topic`. */
  matches(topic: string): boolean {
    if (this.all || this.#exact.has(topic)) return true;
    for (const t of this.#templates) if (t.matches(topic)) return true;
    return false;
  }

  /** Whether any selector of the set matches any of `topics`. */
  matchesAny(topics: readonly string[]): boolean {
    if (this.all) return topics.length > 0;
    for (const topic of topics) if (this.#exact.has(topic)) return true;
    for (const t of this.#templates) {
      for (const topic of topics) if (t.matches(topic)) return true;
    }
    return false;
  }
}

/**
 * Whether any of `selectors` matches any of `topics` (Mercure's rule for delivering an update to
 * a subscription, and for authorizing a private one). Selectors are compiled through the cache;
 * for repeated checks against the same selectors, build a {@link SelectorSet} once.
 */
export function matchesAny(
  selectors: readonly (string | CompiledSelector)[],
  topics: readonly string[],
): boolean {
  for (const s of selectors) {
    const c = typeof s === 'string' ? compileSelector(s) : s;
    for (const topic of topics) if (c.matches(topic)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// TopicIndex
// ---------------------------------------------------------------------------------------------

class Entry<T> {
  /** The `#pass` of the last match that visited this entry. */
  mark = 0;
  readonly selectors = new Set<string>();
  templateCount = 0;
  constructor(readonly subscriber: T) {}
}

interface TemplateGroup<T> {
  readonly selector: CompiledSelector;
  readonly entries: Set<Entry<T>>;
}

/** Sizes of a {@link TopicIndex}'s internal structures. */
export interface TopicIndexStats {
  /** Subscribers in the index. */
  subscribers: number;
  /** Distinct exact topics with at least one subscriber. */
  exactTopics: number;
  /** Subscribers with the `*` selector. */
  wildcardSubscribers: number;
  /** Distinct template selectors with at least one subscriber. */
  templates: number;
  /** Subscribers with at least one template selector. */
  templateSubscribers: number;
}

/**
 * Finds the subscribers whose selectors match an event's topics, for fan-out.
 *
 * Cost of one lookup: one `Map` lookup per topic of the event for exact selectors, the `*`
 * subscribers, and one match per (distinct template selector × event topic) — subscribers
 * sharing a template share its evaluation. Each subscriber is visited at most once per lookup,
 * however many of its selectors match. {@link TopicIndex.forEachMatch} allocates nothing of its
 * own (deduplication uses a pass counter stored on each entry).
 *
 * @typeParam T - the subscriber handle (any value usable as a `Map` key)
 */
export class TopicIndex<T> {
  readonly #entries = new Map<T, Entry<T>>();
  readonly #exact = new Map<string, Set<Entry<T>>>();
  readonly #all = new Set<Entry<T>>();
  readonly #templates = new Map<string, TemplateGroup<T>>();
  #templateSubscribers = 0;
  #pass = 0;
  #depth = 0;

  /** Number of subscribers. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Adds `subscriber` with `selectors`. Adding a subscriber that is already present adds the new
   * selectors to its existing ones. Malformed templates are matched exactly (validate with
   * `compileSelector(s, { strict: true })` first to reject them).
   */
  add(subscriber: T, selectors: Iterable<string>): void {
    let entry = this.#entries.get(subscriber);
    if (entry === undefined) {
      entry = new Entry(subscriber);
      this.#entries.set(subscriber, entry);
    }
    for (const s of selectors) {
      if (entry.selectors.has(s)) continue;
      entry.selectors.add(s);
      const c = compileSelector(s);
      if (c.kind === 'all') {
        this.#all.add(entry);
      } else if (c.kind === 'exact') {
        let set = this.#exact.get(s);
        if (set === undefined) {
          set = new Set();
          this.#exact.set(s, set);
        }
        set.add(entry);
      } else {
        let group = this.#templates.get(s);
        if (group === undefined) {
          group = { selector: c, entries: new Set() };
          this.#templates.set(s, group);
        }
        group.entries.add(entry);
        if (entry.templateCount++ === 0) this.#templateSubscribers++;
      }
    }
  }

  /**
   * Removes `subscriber` and all its selectors; empty internal sets are deleted. Safe to call
   * from inside a {@link TopicIndex.forEachMatch} visitor.
   *
   * @returns whether the subscriber was present
   */
  remove(subscriber: T): boolean {
    const entry = this.#entries.get(subscriber);
    if (entry === undefined) return false;
    this.#entries.delete(subscriber);
    for (const s of entry.selectors) {
      const set = this.#exact.get(s);
      if (set?.delete(entry) === true) {
        if (set.size === 0) this.#exact.delete(s);
        continue;
      }
      const group = this.#templates.get(s);
      if (group?.entries.delete(entry) === true) {
        if (group.entries.size === 0) this.#templates.delete(s);
        continue;
      }
      this.#all.delete(entry);
    }
    if (entry.templateCount > 0) this.#templateSubscribers--;
    return true;
  }

  /** Whether `subscriber` is in the index. */
  has(subscriber: T): boolean {
    return this.#entries.has(subscriber);
  }

  /** The selectors of `subscriber`, or `undefined` when it is not in the index. */
  selectorsOf(subscriber: T): string[] | undefined {
    const entry = this.#entries.get(subscriber);
    return entry === undefined ? undefined : [...entry.selectors];
  }

  /**
   * Calls `visit(subscriber, context)` once for each subscriber with a selector matching at least
   * one of `topics`. Pass per-event state as `context` rather than a fresh closure to keep the hot
   * path allocation-free.
   *
   * The visitor may remove subscribers (a removed subscriber not yet visited is skipped); a
   * subscriber added during the walk may or may not be visited. Nested calls from inside a
   * visitor are allowed (they deduplicate with a temporary `Set`).
   *
   * @returns the number of subscribers visited
   */
  forEachMatch<C>(
    topics: readonly string[],
    visit: (subscriber: T, context: C) => void,
    context: C,
  ): number;
  forEachMatch(topics: readonly string[], visit: (subscriber: T) => void): number;
  forEachMatch<C>(
    topics: readonly string[],
    visit: (subscriber: T, context: C | undefined) => void,
    context?: C,
  ): number {
    if (this.#depth > 0) {
      // Re-entrant call: the outer walk owns the marks, so deduplicate with a Set instead.
      let n = 0;
      for (const s of this.match(topics)) {
        visit(s, context);
        n++;
      }
      return n;
    }
    const pass = ++this.#pass;
    let visited = 0;
    this.#depth++;
    try {
      for (const entry of this.#all) {
        if (entry.mark === pass) continue;
        entry.mark = pass;
        visited++;
        visit(entry.subscriber, context);
      }
      for (let i = 0; i < topics.length; i++) {
        const set = this.#exact.get(topics[i]!);
        if (set === undefined) continue;
        for (const entry of set) {
          if (entry.mark === pass) continue;
          entry.mark = pass;
          visited++;
          visit(entry.subscriber, context);
        }
      }
      if (this.#templates.size > 0) {
        for (const group of this.#templates.values()) {
          if (!templateMatches(group.selector, topics)) continue;
          for (const entry of group.entries) {
            if (entry.mark === pass) continue;
            entry.mark = pass;
            visited++;
            visit(entry.subscriber, context);
          }
        }
      }
    } finally {
      this.#depth--;
    }
    return visited;
  }

  /** The subscribers matching at least one of `topics`, as a new `Set` (convenience form). */
  match(topics: readonly string[]): Set<T> {
    const out = new Set<T>();
    for (const entry of this.#all) out.add(entry.subscriber);
    for (const topic of topics) {
      const set = this.#exact.get(topic);
      if (set !== undefined) for (const entry of set) out.add(entry.subscriber);
    }
    for (const group of this.#templates.values()) {
      if (templateMatches(group.selector, topics)) {
        for (const entry of group.entries) out.add(entry.subscriber);
      }
    }
    return out;
  }

  /** Sizes of the internal structures (they all return to 0 once every subscriber is removed). */
  stats(): TopicIndexStats {
    return {
      subscribers: this.#entries.size,
      exactTopics: this.#exact.size,
      wildcardSubscribers: this.#all.size,
      templates: this.#templates.size,
      templateSubscribers: this.#templateSubscribers,
    };
  }
}

function templateMatches(selector: CompiledSelector, topics: readonly string[]): boolean {
  for (let i = 0; i < topics.length; i++) if (selector.matches(topics[i]!)) return true;
  return false;
}
