/**
 * The in-process engine: one hub, history in a ring buffer, live delivery by function call.
 *
 * **Positions** are a plain decimal counter (`"1"`, `"2"`, …) shared by every retention class.
 *
 * **Ids.** A generated SSE id is `<epoch>-<position>`, where `epoch` is random per engine
 * instance (12 hex digits unless given). History dies with the process, so after a restart the
 * counter starts again at 1; the epoch makes sure a client's `Last-Event-ID` from before the
 * restart is *unknown* (→ the hub reports a gap) instead of silently naming a different event.
 * Custom ids starting with `<epoch>-` are refused so they cannot shadow generated ones.
 *
 * **Bounds.** History keeps at most `maxEvents` events, `maxBytes` bytes and events younger
 * than `ttlMs`; whichever bites first evicts the oldest events. Eviction is lazy — on append and
 * on every read — plus one optional unref'd sweep timer so an idle hub also frees expired events.
 *
 * **Retention classes** (`retention`) keep chosen topics apart: each class is a ring buffer of
 * its own with its own count and byte bounds (the default class, of unclaimed events, has
 * `maxEvents` / `maxBytes`), so one class's eviction never evicts another's events. Positions
 * stay one counter across classes; a read merges the classes' rings in position order. Each
 * class remembers the newest position it evicted, which is what `history` compares with the
 * start point to tell a loss (per class) from a complete replay.
 *
 * **Delivery** is synchronous: listeners run inside `append`, after the event is stored and
 * before `append`'s promise settles. An `append` made by a listener is stored at once but
 * delivered after the current event has reached every listener, so every listener sees events
 * in position order.
 *
 * @packageDocumentation
 */

import { randomBytes } from 'node:crypto';
import {
  checkRetentionClasses,
  compareDecimal,
  DEFAULT_RETENTION_CLASS,
  EARLIEST,
  type Engine,
  type EngineEvent,
  type EngineEventInput,
  type EngineHealth,
  type EngineListener,
  EngineListeners,
  type EngineStats,
  eventSize,
  HeraldEngineError,
  type HistoryQuery,
  type HistoryResult,
  type LatestQuery,
  type LatestResult,
  type RetentionClass,
  retentionClassOf,
  validateEventInput,
} from './engine.js';
import { Ring } from './ring.js';

/** Default {@link MemoryEngineOptions.maxEvents}. */
export const DEFAULT_MAX_EVENTS = 10_000;
/** Default {@link MemoryEngineOptions.maxBytes}: 16 MiB. */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/** Options of {@link memoryEngine}. */
export interface MemoryEngineOptions {
  /**
   * Most events kept in history. Default 10 000; `0` keeps none (live only: every reconnect with
   * an id older than the newest event reports a gap); `Infinity` lifts the bound.
   */
  maxEvents?: number;
  /**
   * Most bytes kept in history (see `eventSize`). Default 16 MiB; `Infinity` lifts the bound.
   * A single event larger than this is refused with `EVENT_TOO_LARGE`.
   */
  maxBytes?: number;
  /** Events older than this many milliseconds are evicted. Default `0`: no age bound. */
  ttlMs?: number;
  /**
   * Retention classes: topics whose history is bounded on its own (see `RetentionClass`). A
   * class without bounds gets `maxEvents` / `maxBytes`. Default: none (one history).
   */
  retention?: readonly RetentionClass[];
  /**
   * Period of the sweep that evicts expired events while nothing is appended or read. Default:
   * `ttlMs` clamped to 1 s – 60 s when `ttlMs` is set, otherwise off; `0` turns it off. The timer
   * is unref'd and cleared by `close()`.
   */
  sweepIntervalMs?: number;
  /** The clock, in milliseconds since the Unix epoch. Default `Date.now`; inject one in tests. */
  now?: () => number;
  /**
   * Prefix of generated ids (letters, digits, `_`, `.`, `~`, 1–64 characters). Default: 12
   * random hex digits, new for each engine instance.
   */
  epoch?: string;
  /**
   * Called when a listener throws; the other listeners still run and `append` still resolves.
   * Default: rethrow in a microtask, where it surfaces as an uncaught exception.
   */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
}

/** The in-memory {@link Engine}, with a few extras for tests and operations. */
export interface MemoryEngine extends Engine {
  /** The prefix of this instance's generated ids. */
  readonly epoch: string;
  /** Evicts expired events now. @returns how many were evicted */
  sweep(): number;
}

/**
 * Creates an in-memory engine.
 *
 * @param options - history bounds (defaults: 10 000 events, 16 MiB, no TTL), clock, id epoch
 * @throws {@link HeraldEngineError} `INVALID_OPTIONS`
 */
export function memoryEngine(options: MemoryEngineOptions = {}): MemoryEngine {
  return new InMemoryEngine(options);
}

const EPOCH = /^[A-Za-z0-9_.~]{1,64}$/;
const DIGITS = /^(?:0|[1-9][0-9]*)$/;

function bound(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !(value >= 0) ||
    (Number.isFinite(value) && !Number.isInteger(value))
  ) {
    throw new HeraldEngineError(
      'INVALID_OPTIONS',
      `memoryEngine: ${name} must be a non-negative integer or Infinity (got ${String(value)})`,
    );
  }
  return value;
}

/** One retention class's history: its events in position order, and what it evicted. */
interface Bucket {
  readonly name: string;
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly events: Ring<EngineEvent>;
  bytes: number;
  /** The newest position this class evicted (0: none). */
  lost: number;
}

const pos = (e: EngineEvent): number => Number(e.position);

class InMemoryEngine implements MemoryEngine {
  readonly name = 'memory';
  readonly epoch: string;
  readonly retention: readonly RetentionClass[];
  readonly #idPrefix: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** The configured classes' buckets, in `retention` order, then the default class's. */
  readonly #buckets: Bucket[];
  readonly #byClass = new Map<RetentionClass, Bucket>();
  readonly #default: Bucket;
  #nextPos = 1;
  /** Custom id → position, for retained events only. */
  readonly #customIds = new Map<string, number>();

  readonly #listeners: EngineListeners;
  #dispatching = false;
  readonly #pending: EngineEvent[] = [];

  constructor(options: MemoryEngineOptions) {
    const maxEvents = bound('maxEvents', options.maxEvents, DEFAULT_MAX_EVENTS);
    const maxBytes = bound('maxBytes', options.maxBytes, DEFAULT_MAX_BYTES);
    this.#ttlMs = bound('ttlMs', options.ttlMs, 0);
    const sweep = bound(
      'sweepIntervalMs',
      options.sweepIntervalMs,
      this.#ttlMs > 0 ? Math.min(Math.max(this.#ttlMs, 1000), 60_000) : 0,
    );
    if (options.epoch !== undefined && !EPOCH.test(options.epoch)) {
      throw new HeraldEngineError(
        'INVALID_OPTIONS',
        `memoryEngine: epoch must be 1–64 letters, digits, "_", "." or "~" (got ${JSON.stringify(options.epoch)})`,
      );
    }
    this.retention = checkRetentionClasses('memoryEngine', options.retention);
    const bucket = (name: string, events: number, bytes: number): Bucket => ({
      name,
      maxEvents: events,
      maxBytes: bytes,
      events: new Ring(),
      bytes: 0,
      lost: 0,
    });
    this.#buckets = this.retention.map((c) => {
      const b = bucket(
        c.name,
        bound(`retention "${c.name}" maxEvents`, c.maxEvents, maxEvents),
        bound(`retention "${c.name}" maxBytes`, c.maxBytes, maxBytes),
      );
      this.#byClass.set(c, b);
      return b;
    });
    this.#default = bucket(DEFAULT_RETENTION_CLASS, maxEvents, maxBytes);
    this.#buckets.push(this.#default);
    this.epoch = options.epoch ?? randomBytes(6).toString('hex');
    this.#idPrefix = `${this.epoch}-`;
    this.#now = options.now ?? Date.now;
    this.#listeners = new EngineListeners(options.onListenerError);
    if (sweep > 0 && Number.isFinite(sweep)) {
      this.#timer = setInterval(() => this.sweep(), sweep);
      this.#timer.unref();
    }
  }

  async append(input: EngineEventInput): Promise<EngineEvent> {
    this.#assertOpen();
    validateEventInput(input);
    this.#evictExpired();
    const customId = input.id;
    if (customId !== undefined) {
      if (customId.startsWith(this.#idPrefix)) {
        throw new HeraldEngineError(
          'INVALID_EVENT',
          `custom id ${JSON.stringify(customId)} is reserved: ids starting with "${this.#idPrefix}" are generated by this engine; choose another id`,
        );
      }
      if (this.#customIds.has(customId)) {
        throw new HeraldEngineError(
          'DUPLICATE_ID',
          `an event with id ${JSON.stringify(customId)} is still in history; ids identify one event for replay, so use a new id (or omit it to get a generated one)`,
        );
      }
    }
    const cls = retentionClassOf(this.retention, input.topics);
    const bucket = cls === undefined ? this.#default : this.#byClass.get(cls)!;
    const position = this.#nextPos;
    const id = customId ?? this.#idPrefix + position;
    const size = eventSize(input, id);
    if (size > bucket.maxBytes) {
      const where =
        bucket === this.#default
          ? 'history holds at most'
          : `retention class "${bucket.name}" holds at most`;
      throw new HeraldEngineError(
        'EVENT_TOO_LARGE',
        `the event takes ${size} bytes but ${where} ${bucket.maxBytes} (maxBytes); publish smaller events or raise maxBytes`,
      );
    }
    const event: EngineEvent = {
      position: String(position),
      id,
      customId: customId !== undefined,
      topics: input.topics.slice(),
      data: input.data,
      type: input.type,
      retry: input.retry,
      private: input.private === true,
      time: this.#now(),
      size,
    };
    this.#nextPos = position + 1;
    bucket.events.push(event);
    bucket.bytes += size;
    if (customId !== undefined) this.#customIds.set(customId, position);
    while (
      bucket.events.length > 0 &&
      (bucket.events.length > bucket.maxEvents || bucket.bytes > bucket.maxBytes)
    ) {
      this.#shift(bucket);
    }
    this.#dispatch(event);
    return event;
  }

  onEvent(listener: EngineListener): () => void {
    this.#assertOpen();
    return this.#listeners.add(listener);
  }

  async history(query: HistoryQuery): Promise<HistoryResult> {
    this.#assertOpen();
    this.#evictExpired();
    const { after, match, concerns, limit = Number.POSITIVE_INFINITY } = query;
    const maxBytes = query.maxBytes ?? Number.POSITIVE_INFINITY;
    let start: number | undefined; // the position the read starts after
    if (after === EARLIEST) {
      start = 0;
    } else if (typeof after === 'string') {
      const custom = this.#customIds.get(after);
      start = custom ?? this.#parseGenerated(after);
      // An event the reader may not know of is as good as unknown (see HistoryQuery.visible):
      // the read below then starts where an unknown id's does.
      if (query.visible !== undefined && start !== undefined && start < this.#nextPos) {
        const event = this.#retained(start);
        if (event !== undefined && !query.visible(event)) start = undefined;
      }
    } else {
      start = DIGITS.test(after.position) ? Number(after.position) : undefined;
    }
    let found: boolean;
    if (start !== undefined && start < this.#nextPos) {
      // A position this engine handed out: complete unless a class the reader cares about
      // evicted something after it.
      const s = start;
      found =
        after === EARLIEST ||
        this.#buckets.every((b) => b.lost <= s || (concerns !== undefined && !concerns(b.name)));
    } else {
      // Unknown: start after everything evicted, so that nothing the client saw comes again.
      found = false;
      start = this.#horizon();
    }
    const from = start;
    const heads = this.#buckets.map((b) => b.events.partition((e) => pos(e) <= from));
    const events: EngineEvent[] = [];
    let cursor = from;
    let more = false;
    let bytes = 0;
    for (;;) {
      const b = this.#nextOf(heads);
      if (b === -1) break;
      if (events.length >= limit) {
        more = true;
        break;
      }
      const e = this.#buckets[b]!.events.at(heads[b]!);
      if (match === undefined || match(e)) {
        // The first event always; then as many as fit in maxBytes (the next read starts here).
        if (events.length > 0 && bytes + e.size > maxBytes) {
          more = true;
          break;
        }
        bytes += e.size;
        events.push(e);
      }
      heads[b]!++;
      cursor = pos(e);
    }
    const oldest = this.#oldest();
    return {
      events,
      found,
      oldest: oldest?.id ?? null,
      cursor: cursor >= 1 ? String(cursor) : null,
      more,
    };
  }

  async latest(query: LatestQuery): Promise<LatestResult> {
    this.#assertOpen();
    this.#evictExpired();
    const { perTopic, match, limit = Number.POSITIVE_INFINITY } = query;
    const picked: EngineEvent[] = [];
    const counts = new Map<string, number>();
    // Newest first: each class's ring from its end, merged by position.
    const tails = this.#buckets.map((b) => b.events.length - 1);
    let newest: EngineEvent | undefined;
    while (picked.length < limit) {
      let best = -1;
      for (let i = 0; i < tails.length; i++) {
        const t = tails[i]!;
        if (t < 0) continue;
        if (best === -1 || pos(this.#buckets[i]!.events.at(t)) > pos(this.#at(best, tails))) {
          best = i;
        }
      }
      if (best === -1) break;
      const e = this.#buckets[best]!.events.at(tails[best]!--);
      newest ??= e;
      let take = false;
      for (const topic of e.topics) {
        const n = counts.get(topic) ?? 0;
        if (n < perTopic && match(topic, e)) {
          counts.set(topic, n + 1);
          take = true;
        }
      }
      if (take) picked.push(e);
    }
    newest ??= this.#newestRetained();
    return {
      events: picked.reverse(),
      cursor: newest === undefined ? null : newest.position,
    };
  }

  async resolve(id: string): Promise<string | undefined> {
    this.#assertOpen();
    this.#evictExpired();
    const custom = this.#customIds.get(id);
    if (custom !== undefined) return String(custom);
    const p = this.#parseGenerated(id);
    if (p === undefined || p >= this.#nextPos) return undefined;
    return this.#retained(p) === undefined ? undefined : String(p);
  }

  compare(a: string, b: string): number {
    return compareDecimal(a, b);
  }

  health(): EngineHealth {
    return this.#closed ? { ready: false, reason: 'engine closed' } : { ready: true };
  }

  stats(): EngineStats {
    let events = 0;
    let bytes = 0;
    const classes: Record<string, { events: number; bytes: number }> = {};
    for (const b of this.#buckets) {
      events += b.events.length;
      bytes += b.bytes;
      classes[b.name] = { events: b.events.length, bytes: b.bytes };
    }
    const stats: EngineStats = {
      events,
      bytes,
      oldest: this.#oldest()?.position ?? null,
      newest: this.#nextPos > 1 ? String(this.#nextPos - 1) : null,
    };
    if (this.retention.length > 0) stats.classes = classes;
    return stats;
  }

  sweep(): number {
    return this.#closed ? 0 : this.#evictExpired();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    for (const b of this.#buckets) {
      b.events.clear();
      b.bytes = 0;
    }
    this.#customIds.clear();
  }

  // -- internals ------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) {
      throw new HeraldEngineError('CLOSED', 'the memory engine is closed; create a new one');
    }
  }

  /** The position named by a generated id of this instance, if `id` is one. */
  #parseGenerated(id: string): number | undefined {
    if (!id.startsWith(this.#idPrefix)) return undefined;
    const digits = id.slice(this.#idPrefix.length);
    if (!DIGITS.test(digits)) return undefined;
    const n = Number(digits);
    return Number.isSafeInteger(n) ? n : undefined;
  }

  /** The retained event at position `p`, in whichever class holds it. */
  #retained(p: number): EngineEvent | undefined {
    for (const b of this.#buckets) {
      const i = b.events.partition((e) => pos(e) < p);
      if (i < b.events.length && pos(b.events.at(i)) === p) return b.events.at(i);
    }
    return undefined;
  }

  /** The newest position any class evicted (0: none). */
  #horizon(): number {
    let h = 0;
    for (const b of this.#buckets) if (b.lost > h) h = b.lost;
    return h;
  }

  #at(bucket: number, indices: readonly number[]): EngineEvent {
    return this.#buckets[bucket]!.events.at(indices[bucket]!);
  }

  /** The bucket whose next event (at `heads`) comes first, or -1 when all are read. */
  #nextOf(heads: readonly number[]): number {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      if (heads[i]! >= this.#buckets[i]!.events.length) continue;
      if (best === -1 || pos(this.#at(i, heads)) < pos(this.#at(best, heads))) best = i;
    }
    return best;
  }

  #oldest(): EngineEvent | undefined {
    let oldest: EngineEvent | undefined;
    for (const b of this.#buckets) {
      const e = b.events.first();
      if (e !== undefined && (oldest === undefined || pos(e) < pos(oldest))) oldest = e;
    }
    return oldest;
  }

  #newestRetained(): EngineEvent | undefined {
    let newest: EngineEvent | undefined;
    for (const b of this.#buckets) {
      const e = b.events.last();
      if (e !== undefined && (newest === undefined || pos(e) > pos(newest))) newest = e;
    }
    return newest;
  }

  /** Evicts the oldest event of `bucket`. */
  #shift(bucket: Bucket): void {
    const e = bucket.events.shift();
    bucket.bytes -= e.size;
    bucket.lost = pos(e);
    if (e.customId) this.#customIds.delete(e.id);
  }

  /** Evicts events at least `ttlMs` old. @returns how many */
  #evictExpired(): number {
    if (this.#ttlMs <= 0) return 0;
    const cutoff = this.#now() - this.#ttlMs;
    let n = 0;
    for (const b of this.#buckets) {
      // Oldest first: time only grows along a class (unless the clock steps back, in which case
      // an event is kept a little longer, never dropped early out of order).
      while (b.events.length > 0 && b.events.first()!.time <= cutoff) {
        this.#shift(b);
        n++;
      }
    }
    return n;
  }

  #dispatch(event: EngineEvent): void {
    if (this.#dispatching) {
      // Appended by a listener: deliver once the current event has reached every listener.
      this.#pending.push(event);
      return;
    }
    this.#dispatching = true;
    try {
      this.#listeners.deliver(event);
      for (let i = 0; i < this.#pending.length; i++) this.#listeners.deliver(this.#pending[i]!);
    } finally {
      this.#pending.length = 0;
      this.#dispatching = false;
    }
  }
}
