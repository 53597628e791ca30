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

import { TemplateBuckets } from './template-index.js';
import {
  HeraldTopicError,
  MAX_TEMPLATE_BYTES,
  MAX_TEMPLATE_STATES,
  parseUriTemplate,
  type TemplateCost,
  type TemplatePart,
  templateCost,
  templateLanguageKey,
  UriTemplate,
} from './uri-template.js';

export {
  HeraldTopicError,
  type HeraldTopicErrorCode,
  MAX_TEMPLATE_BYTES,
  MAX_TEMPLATE_STATES,
  MAX_TEMPLATE_VARIABLES,
  type TemplateCost,
  templateCost,
  templateLanguageKey,
  UriTemplate,
} from './uri-template.js';

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
  /**
   * The memory this compiled selector may hold, in bytes (an upper bound: for a template, its
   * {@link UriTemplate.cost}, which a template shares with the others of the same language).
   */
  readonly bytes: number;
  /** Whether this selector matches `topic`. */
  matches(topic: string): boolean;
}

/** Options of {@link compileSelector}. */
export interface CompileSelectorOptions {
  /** Throw the {@link HeraldTopicError} of a malformed template instead of matching it exactly. */
  strict?: boolean;
}

/** Bytes of a selector object besides its source string and its template. */
const SELECTOR_OVERHEAD = 96;
/** Bytes of a kept {@link HeraldTopicError} (its message and stack). */
const ERROR_BYTES = 1024;

/** Bytes a string takes in the heap (two per code unit at most, plus its header). */
function stringBytes(s: string): number {
  return 16 + 2 * s.length;
}

const ALL: CompiledSelector = {
  source: '*',
  kind: 'all',
  error: undefined,
  bytes: 0,
  matches: () => true,
};

class ExactSelector implements CompiledSelector {
  readonly kind = 'exact';
  readonly bytes: number;
  constructor(
    readonly source: string,
    readonly error: HeraldTopicError | undefined,
  ) {
    this.bytes = SELECTOR_OVERHEAD + stringBytes(source) + (error === undefined ? 0 : ERROR_BYTES);
  }
  matches(topic: string): boolean {
    return topic === this.source;
  }
}

class TemplateSelector implements CompiledSelector {
  readonly kind = 'template';
  readonly error = undefined;
  readonly bytes: number;
  constructor(
    readonly source: string,
    readonly template: UriTemplate,
  ) {
    this.bytes = SELECTOR_OVERHEAD + stringBytes(source) + template.cost.bytes;
  }
  matches(topic: string): boolean {
    // Mercure matches a selector equal to the topic before trying it as a template.
    return topic === this.source || this.template.matches(topic);
  }
}

/** What {@link selectorCost} found. */
export interface SelectorCost {
  /** What {@link compileSelector} makes of the selector (`exact` for a malformed template). */
  readonly kind: SelectorKind;
  /** Estimated memory of the compiled selector, bytes (see {@link CompiledSelector.bytes}). */
  readonly bytes: number;
  /** Automaton states of a template (0 for the other kinds). */
  readonly states: number;
  /**
   * Of {@link SelectorCost.bytes}, what the compiled template takes: templates of one language
   * (see `language`) share it. 0 for the other kinds.
   */
  readonly templateBytes: number;
  /**
   * A template's language key: templates that differ only in the names of unnamed variables
   * (`{+a}`, `{+b}`) have the same, and share one compiled automaton. `undefined` for the other
   * kinds.
   */
  readonly language: string | undefined;
  /**
   * For `exact`: why a selector with `{` or `}` is not a template (`INVALID_TEMPLATE`). For
   * `template`: `TEMPLATE_TOO_COMPLEX` when it is over the library's own bounds
   * ({@link MAX_TEMPLATE_STATES}, {@link MAX_TEMPLATE_BYTES}, variables per expression) —
   * {@link compileSelector} would then match it exactly — else `undefined`.
   */
  readonly error: HeraldTopicError | undefined;
}

/**
 * What compiling `selector` would cost, estimated from its parse without building anything (or
 * read from the cache when it is compiled already): linear in the selector's length. A server
 * checks this against its budgets before it compiles what a subscriber sent.
 *
 * @param selector - `*`, a URI template or an exact topic
 */
export function selectorCost(selector: string): SelectorCost {
  const cached = cache.peek(selector);
  if (cached instanceof TemplateSelector) {
    const { cost, languageKey } = cached.template;
    return {
      kind: 'template',
      bytes: cached.bytes,
      states: cost.states,
      templateBytes: cost.bytes,
      language: languageKey,
      error: undefined,
    };
  }
  // (A template over the library's bounds is cached as an exact selector: price it again, so
  // that it is reported the same way whether or not it was compiled before.)
  if (cached !== undefined && cached.error?.code !== 'TEMPLATE_TOO_COMPLEX') {
    return {
      kind: cached.kind,
      bytes: cached.bytes,
      states: 0,
      templateBytes: 0,
      language: undefined,
      error: cached.error,
    };
  }
  const exact = (error: HeraldTopicError | undefined): SelectorCost => ({
    kind: selector === '*' ? 'all' : 'exact',
    bytes:
      selector === '*'
        ? 0
        : SELECTOR_OVERHEAD + stringBytes(selector) + (error === undefined ? 0 : ERROR_BYTES),
    states: 0,
    templateBytes: 0,
    language: undefined,
    error,
  });
  if (selector === '*' || (!selector.includes('{') && !selector.includes('}'))) {
    return exact(undefined);
  }
  let parts: TemplatePart[];
  let cost: TemplateCost;
  try {
    parts = parseUriTemplate(selector);
    cost = templateCost(parts, selector);
  } catch (error) {
    if (!(error instanceof HeraldTopicError)) throw error;
    if (error.code === 'INVALID_TEMPLATE') return exact(error);
    // Too many variables to even estimate.
    const infinite = Number.POSITIVE_INFINITY;
    return {
      kind: 'template',
      bytes: infinite,
      states: infinite,
      templateBytes: infinite,
      language: undefined,
      error,
    };
  }
  const over = cost.states > MAX_TEMPLATE_STATES || cost.bytes > MAX_TEMPLATE_BYTES;
  return {
    kind: 'template',
    bytes: SELECTOR_OVERHEAD + stringBytes(selector) + cost.bytes,
    states: cost.states,
    templateBytes: cost.bytes,
    language: templateLanguageKey(parts),
    // Built only to say why: compileSelector would refuse it the same way.
    error: over ? tryCompileError(selector) : undefined,
  };
}

/** The error {@link UriTemplate} throws for `selector` (which the estimate says is over bound). */
function tryCompileError(selector: string): HeraldTopicError | undefined {
  try {
    new UriTemplate(selector);
  } catch (error) {
    if (error instanceof HeraldTopicError) return error;
    throw error;
  }
  return undefined;
}

function build(selector: string): CompiledSelector {
  if (selector === '*') return ALL;
  if (!selector.includes('{') && !selector.includes('}'))
    return new ExactSelector(selector, undefined);
  try {
    // Templates of one language (the same but for the names of unnamed variables) share one
    // compiled automaton: `{+a}` and `{+b}` cost one compile and one cache entry.
    const key = templateLanguageKey(parseUriTemplate(selector));
    let template = templates.get(key);
    if (template === undefined) {
      template = new UriTemplate(selector);
      templates.set(key, template, template.cost.bytes);
    }
    return new TemplateSelector(selector, template);
  } catch (error) {
    if (error instanceof HeraldTopicError) return new ExactSelector(selector, error);
    throw error;
  }
}

/**
 * A bounded cache, approximately least-recently-used and weighed in bytes: two generations of
 * at most half the entries and half the bytes each; a hit in the old generation promotes the
 * entry, and when the young generation is full the old one is dropped. O(1) per lookup, no
 * reordering on a hit. A value bigger than half the byte capacity is not kept.
 */
class ByteCache<V> {
  #young = new Map<string, { value: V; bytes: number }>();
  #old = new Map<string, { value: V; bytes: number }>();
  #youngBytes = 0;
  #oldBytes = 0;
  #halfEntries: number;
  #halfBytes: number;

  constructor(entries: number, bytes: number) {
    this.#halfEntries = Math.max(1, Math.floor(entries / 2));
    this.#halfBytes = Math.max(1, Math.floor(bytes / 2));
  }

  /** The value of `key` without promoting it (for cost estimates). */
  peek(key: string): V | undefined {
    return (this.#young.get(key) ?? this.#old.get(key))?.value;
  }

  get(key: string): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young.value;
    const old = this.#old.get(key);
    if (old === undefined) return undefined;
    this.#put(key, old);
    return old.value;
  }

  set(key: string, value: V, bytes: number): void {
    this.#put(key, { value, bytes });
  }

  #put(key: string, slot: { value: V; bytes: number }): void {
    if (slot.bytes > this.#halfBytes) return;
    if (this.#young.size >= this.#halfEntries || this.#youngBytes + slot.bytes > this.#halfBytes) {
      this.#old = this.#young;
      this.#oldBytes = this.#youngBytes;
      this.#young = new Map();
      this.#youngBytes = 0;
    }
    this.#young.set(key, slot);
    this.#youngBytes += slot.bytes;
  }

  /** Entries (one promoted entry may be counted in both generations). */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  /** Bytes held, at most: the two generations' weights. */
  get bytes(): number {
    return this.#youngBytes + this.#oldBytes;
  }

  resize(entries: number, bytes: number): void {
    this.#halfEntries = Math.max(1, Math.floor(entries / 2));
    this.#halfBytes = Math.max(1, Math.floor(bytes / 2));
    this.#young = new Map();
    this.#old = new Map();
    this.#youngBytes = 0;
    this.#oldBytes = 0;
  }
}

/** A cache of compiled selectors that counts its hits and misses. */
class SelectorCache {
  readonly #cache: ByteCache<CompiledSelector>;
  /** Lookups answered from the cache (for tests and metrics). */
  hits = 0;
  /** Lookups that had to compile. */
  misses = 0;

  constructor(entries: number, bytes: number) {
    this.#cache = new ByteCache(entries, bytes);
  }

  peek(selector: string): CompiledSelector | undefined {
    return this.#cache.peek(selector);
  }

  get(selector: string): CompiledSelector {
    let c = this.#cache.get(selector);
    if (c !== undefined) {
      this.hits++;
      return c;
    }
    this.misses++;
    c = build(selector);
    this.#cache.set(selector, c, c.bytes);
    return c;
  }

  get size(): number {
    return this.#cache.size;
  }

  get bytes(): number {
    return this.#cache.bytes;
  }

  resize(entries: number, bytes: number): void {
    this.#cache.resize(entries, bytes);
  }
}

/** Default capacity of the compiled-selector cache, in selectors. */
export const DEFAULT_SELECTOR_CACHE_SIZE = 10_000;
/**
 * Default capacity of the compiled-selector cache, in bytes (estimated, see
 * {@link CompiledSelector.bytes}); compiled templates shared by several selectors are kept in a
 * second cache of the same byte capacity.
 */
export const DEFAULT_SELECTOR_CACHE_BYTES = 16 * 1024 * 1024;

const cache = new SelectorCache(DEFAULT_SELECTOR_CACHE_SIZE, DEFAULT_SELECTOR_CACHE_BYTES);
/** Compiled templates by language key, so that selectors of one language share one. */
const templates = new ByteCache<UriTemplate>(
  DEFAULT_SELECTOR_CACHE_SIZE,
  DEFAULT_SELECTOR_CACHE_BYTES,
);

/**
 * Compiles a topic selector, from a bounded process-wide cache
 * ({@link DEFAULT_SELECTOR_CACHE_SIZE} entries and {@link DEFAULT_SELECTOR_CACHE_BYTES},
 * approximately LRU). Templates that differ only in the names of unnamed variables share one
 * compiled automaton.
 *
 * @param selector - `*`, a URI template or an exact topic
 * @param options - `strict: true` throws on a malformed template
 * @returns the compiled selector (the same object for the same string while it stays cached)
 * @throws {@link HeraldTopicError} in strict mode, when the selector contains `{` or `}` but is
 *   not a valid template, or is too complex to compile
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
 * Statistics of the compiled-selector cache: `size` entries and `bytes` (estimated) held by it
 * and the cache of shared templates, `hits` and `misses` since start.
 */
export function selectorCacheStats(): {
  size: number;
  bytes: number;
  hits: number;
  misses: number;
} {
  return {
    size: cache.size,
    bytes: cache.bytes + templates.bytes,
    hits: cache.hits,
    misses: cache.misses,
  };
}

/**
 * Sets the capacity of the compiled-selector cache and empties it.
 *
 * @param capacity - maximum number of cached selectors (at least 2)
 * @param bytes - maximum estimated bytes of cached selectors, and of cached shared templates
 *   (default {@link DEFAULT_SELECTOR_CACHE_BYTES})
 */
export function setSelectorCacheSize(
  capacity: number,
  bytes: number = DEFAULT_SELECTOR_CACHE_BYTES,
): void {
  if (!Number.isInteger(capacity) || capacity < 2) {
    throw new RangeError(`selector cache capacity must be an integer >= 2 (got ${capacity})`);
  }
  if (!Number.isSafeInteger(bytes) || bytes < 2) {
    throw new RangeError(`selector cache bytes must be an integer >= 2 (got ${bytes})`);
  }
  cache.resize(capacity, bytes);
  templates.resize(capacity, bytes);
}

/** Below this many distinct template languages, a {@link SelectorSet} tries each in turn. */
const INDEX_TEMPLATES_FROM = 8;

/**
 * A set of selectors compiled together, for repeated checks such as "may this subscriber see
 * this private event?". Exact selectors (and the text of template selectors, which Mercure
 * matches as a topic too) are looked up in a `Set`; templates of one language are tried once,
 * and only those whose literal ends fit the topic (see `template-index.ts`).
 */
export class SelectorSet {
  /** The selectors, as given (duplicates removed). */
  readonly selectors: readonly string[];
  /** `true` when the set contains `*`. */
  readonly all: boolean;
  readonly #exact = new Set<string>();
  /** One template per language. */
  readonly #templates: UriTemplate[] = [];
  readonly #buckets: TemplateBuckets<UriTemplate> | undefined;

  /**
   * @param selectors - the selectors; malformed templates are matched exactly
   */
  constructor(selectors: Iterable<string>) {
    const unique = new Set(selectors);
    this.selectors = [...unique];
    let all = false;
    const languages = new Set<string>();
    for (const s of unique) {
      const c = compileSelector(s);
      if (c.kind === 'all') all = true;
      else this.#exact.add(s);
      if (c instanceof TemplateSelector && !languages.has(c.template.languageKey)) {
        languages.add(c.template.languageKey);
        this.#templates.push(c.template);
      }
    }
    this.all = all;
    if (this.#templates.length >= INDEX_TEMPLATES_FROM) {
      this.#buckets = new TemplateBuckets();
      for (const t of this.#templates) this.#buckets.add(t, t);
    }
  }

  /** Whether any selector of the set matches `topic`. */
  matches(topic: string): boolean {
    if (this.all || this.#exact.has(topic)) return true;
    return this.#templateMatches(topic);
  }

  /** Whether any selector of the set matches any of `topics`. */
  matchesAny(topics: readonly string[]): boolean {
    if (this.all) return topics.length > 0;
    for (const topic of topics) if (this.#exact.has(topic)) return true;
    for (const topic of topics) if (this.#templateMatches(topic)) return true;
    return false;
  }

  #templateMatches(topic: string): boolean {
    if (this.#buckets !== undefined)
      return this.#buckets.forEachCandidate(topic, tryTemplate, topic);
    const templates = this.#templates;
    for (let i = 0; i < templates.length; i++) if (templates[i]!.matches(topic)) return true;
    return false;
  }
}

function tryTemplate(template: UriTemplate, topic: string): boolean {
  return template.matches(topic);
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

/** The subscribers of every template selector of one language, matched once per topic. */
class TemplateGroup<T> {
  /** The `#pass` of the last match in which this group matched a topic. */
  mark = 0;
  /** Template selectors (distinct texts) in the group. */
  sources = 0;
  readonly entries = new Set<Entry<T>>();
  constructor(readonly template: UriTemplate) {}
}

/** The subscribers of one template selector, by its text (Mercure also matches it as a topic). */
interface TemplateSource<T> {
  readonly group: TemplateGroup<T>;
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

/** How a {@link TopicIndex} holds its template selectors. */
export interface TopicIndexTemplateStats {
  /**
   * Distinct template languages: templates that differ only in the names of unnamed variables
   * (`{+a}`, `{+b}`) are one language, matched once per topic.
   */
  languages: number;
  /** Languages indexed by their leading literal text. */
  prefixed: number;
  /** Languages indexed by their trailing literal text (they have no leading one). */
  suffixed: number;
  /**
   * Languages with no literal text at either end (`{+path}`, `{a}x{b}`): every topic of every
   * event is matched against each of them.
   */
  unanchored: number;
}

/**
 * Finds the subscribers whose selectors match an event's topics, for fan-out.
 *
 * Cost of one lookup: one `Map` lookup per topic of the event for exact selectors, the `*`
 * subscribers, and, for templates, one match per template language that could match a topic:
 * templates are indexed by their leading (else trailing) literal text, so a topic meets only
 * those whose literal ends it has, plus the unanchored ones (see `template-index.ts`).
 * Subscribers sharing a template, or templates differing only in variable names, share its
 * evaluation. Each subscriber is visited at most once per lookup, however many of its selectors
 * match. {@link TopicIndex.forEachMatch} allocates nothing of its own (deduplication uses a
 * pass counter stored on each entry).
 *
 * @typeParam T - the subscriber handle (any value usable as a `Map` key)
 */
export class TopicIndex<T> {
  readonly #entries = new Map<T, Entry<T>>();
  readonly #exact = new Map<string, Set<Entry<T>>>();
  readonly #all = new Set<Entry<T>>();
  /** Template selectors by their text. */
  readonly #sources = new Map<string, TemplateSource<T>>();
  /** Template groups by language key. */
  readonly #groups = new Map<string, TemplateGroup<T>>();
  readonly #buckets = new TemplateBuckets<TemplateGroup<T>>();
  /** Groups emptied during a walk, taken out of the buckets once it ends. */
  readonly #deferred: TemplateGroup<T>[] = [];
  #templateSubscribers = 0;
  #pass = 0;
  #depth = 0;
  // The walk in progress (forEachMatch is not re-entrant on this path, see #depth).
  #walkTopic = '';
  #walkVisit: ((subscriber: T, context: unknown) => void) | undefined;
  #walkContext: unknown;
  #walkVisited = 0;

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
      } else if (c instanceof TemplateSelector) {
        let source = this.#sources.get(s);
        if (source === undefined) {
          const key = c.template.languageKey;
          let group = this.#groups.get(key);
          if (group === undefined) {
            group = new TemplateGroup(c.template);
            this.#groups.set(key, group);
            this.#buckets.add(group, c.template);
          }
          group.sources++;
          source = { group, entries: new Set() };
          this.#sources.set(s, source);
        }
        source.entries.add(entry);
        source.group.entries.add(entry);
        if (entry.templateCount++ === 0) this.#templateSubscribers++;
      } else {
        let set = this.#exact.get(s);
        if (set === undefined) {
          set = new Set();
          this.#exact.set(s, set);
        }
        set.add(entry);
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
      const source = this.#sources.get(s);
      if (source?.entries.delete(entry) === true) {
        const group = source.group;
        group.entries.delete(entry);
        if (source.entries.size === 0) {
          this.#sources.delete(s);
          if (--group.sources === 0) {
            this.#groups.delete(group.template.languageKey);
            // A walk in progress iterates the buckets: take the group out once it is over.
            if (this.#depth > 0) this.#deferred.push(group);
            else this.#buckets.delete(group);
          }
        }
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
      if (this.#sources.size > 0) {
        // Mercure: a selector equal to the topic matches, template or not.
        for (let i = 0; i < topics.length; i++) {
          const source = this.#sources.get(topics[i]!);
          if (source === undefined) continue;
          for (const entry of source.entries) {
            if (entry.mark === pass) continue;
            entry.mark = pass;
            visited++;
            visit(entry.subscriber, context);
          }
        }
        this.#walkVisit = visit as (subscriber: T, context: unknown) => void;
        this.#walkContext = context;
        this.#walkVisited = 0;
        for (let i = 0; i < topics.length; i++) {
          this.#walkTopic = topics[i]!;
          this.#buckets.forEachCandidate(this.#walkTopic, this.#tryGroup, pass);
        }
        visited += this.#walkVisited;
      }
    } finally {
      this.#walkVisit = undefined;
      this.#walkContext = undefined;
      this.#walkTopic = '';
      this.#depth--;
      if (this.#deferred.length > 0) {
        for (const group of this.#deferred) this.#buckets.delete(group);
        this.#deferred.length = 0;
      }
    }
    return visited;
  }

  /** A candidate group of the walk: matched once per pass, its subscribers visited once. */
  readonly #tryGroup = (group: TemplateGroup<T>, pass: number): boolean => {
    if (group.mark === pass || group.entries.size === 0) return false;
    if (!group.template.matches(this.#walkTopic)) return false;
    group.mark = pass;
    const visit = this.#walkVisit!;
    const context = this.#walkContext;
    for (const entry of group.entries) {
      if (entry.mark === pass) continue;
      entry.mark = pass;
      this.#walkVisited++;
      visit(entry.subscriber, context);
    }
    return false;
  };

  /** The subscribers matching at least one of `topics`, as a new `Set` (convenience form). */
  match(topics: readonly string[]): Set<T> {
    const out = new Set<T>();
    for (const entry of this.#all) out.add(entry.subscriber);
    for (const topic of topics) {
      const set = this.#exact.get(topic);
      if (set !== undefined) for (const entry of set) out.add(entry.subscriber);
      const source = this.#sources.get(topic);
      if (source !== undefined) for (const entry of source.entries) out.add(entry.subscriber);
    }
    for (const topic of topics) {
      this.#buckets.forEachCandidate(
        topic,
        (group) => {
          if (group.template.matches(topic)) {
            for (const entry of group.entries) out.add(entry.subscriber);
          }
          return false;
        },
        undefined,
      );
    }
    return out;
  }

  /** Sizes of the internal structures (they all return to 0 once every subscriber is removed). */
  stats(): TopicIndexStats {
    return {
      subscribers: this.#entries.size,
      exactTopics: this.#exact.size,
      wildcardSubscribers: this.#all.size,
      templates: this.#sources.size,
      templateSubscribers: this.#templateSubscribers,
    };
  }

  /** How the template selectors are held (languages, and how each is indexed). */
  templateStats(): TopicIndexTemplateStats {
    const { prefixed, suffixed, unanchored } = this.#buckets.stats();
    return { languages: this.#groups.size, prefixed, suffixed, unanchored };
  }
}
