/**
 * The in-process engine: one hub, history in a ring buffer, live delivery by function call.
 *
 * **Positions** are a plain decimal counter (`"1"`, `"2"`, …) with no gaps, so an event's slot in
 * the ring buffer is computed from its position in O(1) — no search at all.
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
 * **Delivery** is synchronous: listeners run inside `append`, after the event is stored and
 * before `append`'s promise settles. An `append` made by a listener is stored at once but
 * delivered after the current event has reached every listener, so every listener sees events
 * in position order.
 *
 * @packageDocumentation
 */

import { randomBytes } from 'node:crypto';
import {
  compareDecimal,
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
  validateEventInput,
} from './engine.js';

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

class InMemoryEngine implements MemoryEngine {
  readonly name = 'memory';
  readonly epoch: string;
  readonly #idPrefix: string;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  // Ring buffer: the retained events are #buf[(#head + i) & #mask] for i in [0, #count), and
  // the event at i has position #firstPos + i (positions have no gaps).
  #buf: (EngineEvent | undefined)[] = new Array(16);
  #mask = 15;
  #head = 0;
  #count = 0;
  #firstPos = 1;
  #nextPos = 1;
  #bytes = 0;
  /** Custom id → position, for retained events only. */
  readonly #customIds = new Map<string, number>();

  readonly #listeners: EngineListeners;
  #dispatching = false;
  readonly #pending: EngineEvent[] = [];

  constructor(options: MemoryEngineOptions) {
    this.#maxEvents = bound('maxEvents', options.maxEvents, DEFAULT_MAX_EVENTS);
    this.#maxBytes = bound('maxBytes', options.maxBytes, DEFAULT_MAX_BYTES);
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
    const position = this.#nextPos;
    const id = customId ?? this.#idPrefix + position;
    const size = eventSize(input, id);
    if (size > this.#maxBytes) {
      throw new HeraldEngineError(
        'EVENT_TOO_LARGE',
        `the event takes ${size} bytes but history holds at most ${this.#maxBytes} (maxBytes); publish smaller events or raise maxBytes`,
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
    this.#push(event);
    this.#bytes += size;
    if (customId !== undefined) this.#customIds.set(customId, position);
    while (this.#count > 0 && (this.#count > this.#maxEvents || this.#bytes > this.#maxBytes)) {
      this.#shift();
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
    const { after, match, limit = Number.POSITIVE_INFINITY } = query;
    const maxBytes = query.maxBytes ?? Number.POSITIVE_INFINITY;
    let start: number | undefined; // the position the read starts after
    if (after === EARLIEST) {
      start = this.#firstPos - 1;
    } else if (typeof after === 'string') {
      const custom = this.#customIds.get(after);
      start = custom ?? this.#parseGenerated(after);
      // An event the reader may not know of is as good as unknown (see HistoryQuery.visible).
      if (
        query.visible !== undefined &&
        start !== undefined &&
        start >= this.#firstPos &&
        start < this.#nextPos &&
        !query.visible(this.#at(start - this.#firstPos))
      ) {
        start = undefined;
      }
    } else {
      start = DIGITS.test(after.position) ? Number(after.position) : undefined;
    }
    // Found when nothing after `start` was evicted (start may be the newest evicted position)
    // and `start` was actually handed out.
    const found = start !== undefined && start >= this.#firstPos - 1 && start < this.#nextPos;
    if (!found) start = this.#firstPos - 1;
    const events: EngineEvent[] = [];
    let i = start! - this.#firstPos + 1;
    let bytes = 0;
    for (; i < this.#count && events.length < limit; i++) {
      const e = this.#at(i);
      if (match === undefined || match(e)) {
        // The first event always; then as many as fit in maxBytes (the next read starts here).
        if (events.length > 0 && bytes + e.size > maxBytes) break;
        bytes += e.size;
        events.push(e);
      }
    }
    const lastExamined = this.#firstPos + i - 1;
    return {
      events,
      found,
      oldest: this.#count > 0 ? this.#at(0).id : null,
      cursor: lastExamined >= 1 ? String(lastExamined) : null,
      more: i < this.#count,
    };
  }

  async latest(query: LatestQuery): Promise<LatestResult> {
    this.#assertOpen();
    this.#evictExpired();
    const { perTopic, match, limit = Number.POSITIVE_INFINITY } = query;
    const picked: EngineEvent[] = [];
    const counts = new Map<string, number>();
    for (let i = this.#count - 1; i >= 0 && picked.length < limit; i--) {
      const e = this.#at(i);
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
    return {
      events: picked.reverse(),
      cursor: this.#count > 0 ? String(this.#firstPos + this.#count - 1) : null,
    };
  }

  async resolve(id: string): Promise<string | undefined> {
    this.#assertOpen();
    this.#evictExpired();
    const p = this.#customIds.get(id) ?? this.#parseGenerated(id);
    return p !== undefined && p >= this.#firstPos && p < this.#nextPos ? String(p) : undefined;
  }

  compare(a: string, b: string): number {
    return compareDecimal(a, b);
  }

  health(): EngineHealth {
    return this.#closed ? { ready: false, reason: 'engine closed' } : { ready: true };
  }

  stats(): EngineStats {
    return {
      events: this.#count,
      bytes: this.#bytes,
      oldest: this.#count > 0 ? String(this.#firstPos) : null,
      newest: this.#nextPos > 1 ? String(this.#nextPos - 1) : null,
    };
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
    this.#buf = [];
    this.#count = 0;
    this.#bytes = 0;
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

  #at(i: number): EngineEvent {
    return this.#buf[(this.#head + i) & this.#mask]!;
  }

  #push(event: EngineEvent): void {
    if (this.#count === this.#buf.length) {
      // Grow ×2, unrolling the ring so the oldest event lands at index 0.
      const grown: (EngineEvent | undefined)[] = new Array(this.#buf.length * 2);
      for (let i = 0; i < this.#count; i++) grown[i] = this.#at(i);
      this.#buf = grown;
      this.#mask = grown.length - 1;
      this.#head = 0;
    }
    this.#buf[(this.#head + this.#count) & this.#mask] = event;
    this.#count++;
  }

  /** Evicts the oldest event. */
  #shift(): void {
    const e = this.#buf[this.#head]!;
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#count--;
    this.#firstPos++;
    this.#bytes -= e.size;
    if (e.customId) this.#customIds.delete(e.id);
  }

  /** Evicts events at least `ttlMs` old. @returns how many */
  #evictExpired(): number {
    if (this.#ttlMs <= 0 || this.#count === 0) return 0;
    const cutoff = this.#now() - this.#ttlMs;
    let n = 0;
    // Oldest first: time only grows along the buffer (unless the clock steps back, in which
    // case an event is kept a little longer, never dropped early out of order).
    while (this.#count > 0 && this.#at(0).time <= cutoff) {
      this.#shift();
      n++;
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
