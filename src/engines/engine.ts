/**
 * The engine contract: what the hub needs from whatever stores events and carries them between
 * nodes. The hub depends on this file only; `memory.ts` implements it in-process, and the Redis
 * Streams and NATS JetStream engines will implement it across nodes.
 *
 * Vocabulary:
 * - **position** — where an event sits in the engine's total order. An opaque string that only
 *   {@link Engine.compare} may interpret (memory: a decimal counter; Redis: a stream entry id;
 *   NATS: a stream sequence). Strictly increasing in append order within one engine.
 * - **id** — the SSE `id:` a client sees and echoes back in `Last-Event-ID`: the publisher's
 *   custom id when it gave one, otherwise an id the engine derives from the position. Generated
 *   ids must stay unique across restarts of a persistent engine (use the store's own sequence,
 *   not a process-local counter) so that a client's `Last-Event-ID` can never name a different
 *   event after a restart.
 *
 * @packageDocumentation
 */

import { encodedDataLength } from '../protocol/encode.js';

/** What went wrong in an engine, machine-readable. */
export type HeraldEngineErrorCode =
  /** A custom id is already used by an event the engine still retains. */
  | 'DUPLICATE_ID'
  /** The event is malformed (no topic, an id with a line break, a bad `retry`, …). */
  | 'INVALID_EVENT'
  /** The event alone is bigger than the engine's history byte bound. */
  | 'EVENT_TOO_LARGE'
  /** The engine was closed. */
  | 'CLOSED'
  /** The engine options are invalid. */
  | 'INVALID_OPTIONS'
  /** The engine's backing store cannot be reached (remote engines). */
  | 'UNAVAILABLE';

/** The one error type of engines; `code` says what kind of problem it is. */
export class HeraldEngineError extends Error {
  /** Machine-readable kind of error. */
  readonly code: HeraldEngineErrorCode;
  /**
   * The HTTP status that answers a request this error refused: 400 `INVALID_EVENT`, 409
   * `DUPLICATE_ID`, 413 `EVENT_TOO_LARGE`, 503 `CLOSED` / `UNAVAILABLE`, 500 otherwise.
   * Express, Koa and Fastify error handlers answer with it (`status`; writable: Koa sets it), so an invalid publish
   * passed to `next(error)` (or thrown) is a 4xx, not a 500.
   */
  status: number;
  /** Whether the message may be shown to the client (`status` below 500), as Koa reads it. */
  expose: boolean;

  /**
   * @param code - what kind of error this is
   * @param message - a sentence a person can act on
   */
  constructor(code: HeraldEngineErrorCode, message: string) {
    super(message);
    this.name = 'HeraldEngineError';
    this.code = code;
    this.status = ENGINE_ERROR_STATUS[code];
    this.expose = this.status < 500;
  }
}

const ENGINE_ERROR_STATUS: Record<HeraldEngineErrorCode, number> = {
  DUPLICATE_ID: 409,
  INVALID_EVENT: 400,
  EVENT_TOO_LARGE: 413,
  CLOSED: 503,
  INVALID_OPTIONS: 500,
  UNAVAILABLE: 503,
};

/** An event as the hub hands it to {@link Engine.append}. */
export interface EngineEventInput {
  /** One or more non-empty topics; the first is canonical, the others alternates (Mercure). */
  topics: readonly string[];
  /** The payload, already serialized. */
  data: string;
  /** The SSE event type (`event:`); no CR, LF or NUL. */
  type?: string | undefined;
  /**
   * A custom SSE id; non-empty, no CR, LF or NUL, not `earliest`, and unique among retained
   * events. Omit it to let the engine generate one.
   */
  id?: string | undefined;
  /** The reconnection delay to advertise (`retry:`), a non-negative integer of milliseconds. */
  retry?: number | undefined;
  /** Mercure private update: only subscribers authorized for one of its topics receive it. */
  private?: boolean | undefined;
}

/** An event the engine has ordered and stored. Treat it as immutable: it is shared. */
export interface EngineEvent {
  /** Opaque, engine-ordered position (compare with {@link Engine.compare}). */
  readonly position: string;
  /** The SSE id: the custom id, or one generated from the position. */
  readonly id: string;
  /** Whether `id` was supplied by the publisher. */
  readonly customId: boolean;
  /** The topics, as published. */
  readonly topics: readonly string[];
  /** The payload. */
  readonly data: string;
  /** The SSE event type, if any. */
  readonly type: string | undefined;
  /** The `retry:` hint, if any. */
  readonly retry: number | undefined;
  /** Whether this is a private update. */
  readonly private: boolean;
  /** When the engine accepted the event, in milliseconds since the Unix epoch. */
  readonly time: number;
  /** Approximate bytes the event holds in history (see {@link eventSize}). */
  readonly size: number;
}

/**
 * The literal `Last-Event-ID` value that asks for all retained history. Engines reject it as a
 * custom id.
 */
export const EARLIEST = 'earliest';

/** A request for retained events after a point, see {@link Engine.history}. */
export interface HistoryQuery {
  /**
   * Where to start (exclusive): an SSE id as a client sent it in `Last-Event-ID` (custom or
   * generated), {@link EARLIEST} for everything retained, or `{ position }` to continue from a
   * previous result's `cursor`.
   */
  after: string | { readonly position: string };
  /** Which events to return; all when omitted. Called once per examined event, in order. */
  match?: ((event: EngineEvent) => boolean) | undefined;
  /** Return at most this many (matching) events; then `more` tells whether to read on. */
  limit?: number | undefined;
  /**
   * Bound the page by bytes: the {@link EngineEvent.size}s of the returned events add up to at
   * most this many, except that the first event is always returned, however large. Engines that
   * must transfer events to examine them may count examined events too and stop earlier (with
   * `more`), so that a read never holds much more than this. Default: no byte bound.
   */
  maxBytes?: number | undefined;
  /**
   * Whether the reader may know of the retained event that `after` (an SSE id) names. When it
   * returns `false` the read answers exactly as for an unknown id — `found: false`, the same
   * events from the same point (see {@link HistoryResult.events}), the same `oldest` and
   * `cursor` — so that an id the reader may not see (a private update's) cannot be confirmed by
   * resuming after it. An engine whose generated ids are times rather than a counter (Redis),
   * where most ids name nothing, answers a hidden entry as an id naming nothing there: above
   * every eviction that is the unknown answer; at or before the newest one, a position to
   * resume after (an evicted entry could have had it). Called at most once per read. Omitted:
   * every event.
   */
  visible?: ((event: EngineEvent) => boolean) | undefined;
  /**
   * Which retention classes' losses count for `found`, by name ({@link DEFAULT_RETENTION_CLASS}
   * included): a replay passes the classes whose events its subscriber could receive. Losses
   * the engine cannot attribute to a class always count. All classes count when omitted.
   */
  concerns?: ((retentionClass: string) => boolean) | undefined;
}

/** The answer to a {@link HistoryQuery}. */
export interface HistoryResult {
  /**
   * Matching retained events strictly after the start point, in position order. When the start
   * point is unknown (an id the engine never handed out, a custom id whose event is gone, or an
   * id {@link HistoryQuery.visible} refuses), they start after the newest evicted position instead — never before an event the client
   * may already have seen, so a gap never causes a duplicate.
   */
  events: EngineEvent[];
  /**
   * `true` when nothing after the start point has been lost: the id or position is known and
   * no event after it was evicted from a retention class the query {@link HistoryQuery.concerns}
   * (`earliest` is always found). `false` when it is unknown or such events were evicted — the
   * hub then tells the client about the gap. Engines may answer `false` when unsure, never
   * `true`.
   */
  found: boolean;
  /** SSE id of the oldest retained event (matching or not), or `null` when history is empty. */
  oldest: string | null;
  /**
   * Position of the last event examined (matching or not); when nothing was examined, the
   * position the read started after, or `null`. Live events at or before it were covered by this
   * read; pass `{ position: cursor }` as `after` to read the next page.
   */
  cursor: string | null;
  /** `true` when `limit` or `maxBytes` stopped the read before the newest retained event. */
  more: boolean;
}

/** A request for the newest events of each topic, see {@link Engine.latest}. */
export interface LatestQuery {
  /** How many of the newest events to return for each distinct topic (≥ 1). */
  perTopic: number;
  /**
   * Whether `topic` (one of `event.topics`) counts for this request, typically "one of the
   * subscriber's selectors matches it and the subscriber may see `event`".
   */
  match(topic: string, event: EngineEvent): boolean;
  /** Return at most this many events in total (the newest ones). */
  limit?: number | undefined;
}

/** The answer to a {@link LatestQuery}. */
export interface LatestResult {
  /** The selected events, in position order, each once. */
  events: EngineEvent[];
  /** Position of the newest retained event when the read happened, or `null` if none. */
  cursor: string | null;
}

/** Whether an engine can serve requests. */
export interface EngineHealth {
  /** `true` when appends and reads can succeed. */
  ready: boolean;
  /** Why not, when `ready` is `false`. */
  reason?: string;
}

/** What an engine currently retains. */
export interface EngineStats {
  /** Retained events. */
  events: number;
  /** Retained bytes (sum of {@link EngineEvent.size}). */
  bytes: number;
  /** Position of the oldest retained event, or `null`. */
  oldest: string | null;
  /** Position of the newest event appended (retained or not), or `null` if none yet. */
  newest: string | null;
  /** Retained events and bytes per retention class, when the engine knows them. */
  classes?: Record<string, { events: number; bytes: number }> | undefined;
}

/** Receives live events. It must not throw (an engine reports what it throws, see engines). */
export type EngineListener = (event: EngineEvent) => void;

/**
 * Events a node's live delivery skipped: a shared engine's reader found that events after the
 * last one it delivered were evicted before it could read them (it fell further behind than a
 * retention class's bound, or was disconnected longer than the age bound).
 */
export interface EngineGap {
  /** Position of the last event delivered before the gap, or `null` when none was. */
  after: string | null;
  /** Position of the first event delivered after the gap. */
  before: string;
  /**
   * The retention classes that lost events in between, or `undefined` when the engine cannot
   * tell (then any class may have).
   */
  classes: readonly string[] | undefined;
}

/** Receives live gaps, in order with the events (see {@link Engine.onGap}). Must not throw. */
export type EngineGapListener = (gap: EngineGap) => void;

/**
 * Orders, stores and delivers events. Contract shared by every engine:
 *
 * - **Order.** `append` assigns positions strictly increasing in the order appends are accepted;
 *   `onEvent` listeners receive every event exactly once, in position order (for shared engines:
 *   the events of every node).
 * - **Visibility.** An event is readable through `history` / `latest` / `resolve` no later than
 *   it is delivered to listeners. So a subscriber that starts listening *before* it reads history
 *   can drop live events whose position is at or before the read's `cursor` and miss nothing.
 * - **Retention.** History is bounded; evicted events are gone and ids that pointed at them no
 *   longer resolve. With {@link RetentionClass | retention classes}, each class is bounded on
 *   its own: evicting one class's events never evicts another's, and `history` reports a loss
 *   only for the classes a query concerns.
 */
export interface Engine {
  /** A short name for logs and metrics (`memory`, `redis`, `nats`). */
  readonly name: string;

  /**
   * Validates, orders and stores an event, then delivers it to listeners.
   *
   * @returns the stored event (with its position and id)
   * @throws {@link HeraldEngineError} (as a rejection) `INVALID_EVENT`, `DUPLICATE_ID`,
   *   `EVENT_TOO_LARGE`, `CLOSED` or `UNAVAILABLE`
   */
  append(input: EngineEventInput): Promise<EngineEvent>;

  /**
   * Registers a listener for live events.
   *
   * @returns a function that unregisters it
   */
  onEvent(listener: EngineListener): () => void;

  /**
   * Registers a listener for live gaps (shared engines; an in-process engine never skips).
   * A gap is reported before the event at its `before` position is delivered.
   *
   * @returns a function that unregisters it
   */
  onGap?(listener: EngineGapListener): () => void;

  /** The retention classes the engine was given, in order (the default class not included). */
  readonly retention?: readonly RetentionClass[] | undefined;

  /** Retained events after a point, in position order (see {@link HistoryQuery}). */
  history(query: HistoryQuery): Promise<HistoryResult>;

  /**
   * The newest `perTopic` events of each distinct topic that `match` accepts — for "send the
   * last n events of each subscribed topic on connect". An event counts for each of its matching
   * topics and is returned once.
   */
  latest(query: LatestQuery): Promise<LatestResult>;

  /** The position of the retained event with SSE id `id` (custom or generated), if any. */
  resolve(id: string): Promise<string | undefined>;

  /** Orders two positions of this engine: negative, zero or positive. */
  compare(a: string, b: string): number;

  /** Whether the engine can serve requests right now. */
  health(): EngineHealth;

  /** What the engine retains, as far as this node knows without I/O. */
  stats(): EngineStats;

  /** Stops timers and connections and drops listeners; appends and reads then reject `CLOSED`. */
  close(): Promise<void>;
}

/**
 * The live listeners of an engine, shared by every implementation: registration with an
 * idempotent unregister, and in-order delivery where one throwing listener neither stops the
 * others nor the engine. Copy-on-write, so a delivery in progress keeps iterating the listeners
 * it started with.
 */
export class EngineListeners {
  #listeners: readonly EngineListener[] = [];
  readonly #onError: (error: unknown, event: EngineEvent) => void;

  /**
   * @param onError - what to do with a listener's error; default: rethrow it from a microtask,
   *   where it surfaces as an uncaught exception, like an event listener's
   */
  constructor(onError?: (error: unknown, event: EngineEvent) => void) {
    this.#onError =
      onError ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
  }

  /** Registers `listener`; returns the function that unregisters it (idempotent). */
  add(listener: EngineListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const i = this.#listeners.indexOf(listener);
      if (i !== -1) this.#listeners = this.#listeners.filter((_, j) => j !== i);
    };
  }

  /** Hands `event` to every listener, in registration order. */
  deliver(event: EngineEvent): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(event);
      } catch (error) {
        this.#onError(error, event);
      }
    }
  }

  /** Drops every listener (on close). */
  clear(): void {
    this.#listeners = [];
  }
}

/** The name of the retention class of events that no configured class claims. */
export const DEFAULT_RETENTION_CLASS = 'default';

/**
 * A retention class: the events whose every topic it claims are kept apart from the others,
 * under bounds of their own, so that a busy topic (or the hub's subscription events) evicts
 * only its own history. An event belongs to the first class, in the engine's order, that claims
 * all of its topics; events no class claims form the default class, bounded by the engine's
 * own `maxEvents` / `maxBytes`. The age bound (`ttlMs`) applies to every class.
 */
export interface RetentionClass {
  /**
   * 1–64 characters of `A–Z a–z 0–9 _ -`, unique among an engine's classes, not `default`.
   * Shared engines put it in keys and subjects: give every node the same classes.
   */
  readonly name: string;
  /** Whether `topic` belongs to the class. */
  readonly matches: (topic: string) => boolean;
  /**
   * The topic selector the class was made from, if any. The hub uses it to tell which
   * subscribers a loss in this class may concern; without it, a loss concerns everyone.
   */
  readonly selector?: string | undefined;
  /** Most events kept in this class. Default: the engine's `maxEvents`. */
  readonly maxEvents?: number | undefined;
  /** Most bytes kept in this class (see {@link eventSize}). Default: the engine's `maxBytes`. */
  readonly maxBytes?: number | undefined;
}

const CLASS_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Checks an engine's retention classes: well-formed, unique names and a `matches` function.
 * (Bounds are checked by each engine, which knows its own limits.)
 *
 * @param engine - the engine's name, for the message
 * @throws {@link HeraldEngineError} `INVALID_OPTIONS`
 */
export function checkRetentionClasses(
  engine: string,
  classes: readonly RetentionClass[] | undefined,
): readonly RetentionClass[] {
  if (classes === undefined) return [];
  const bad = (message: string): never => {
    throw new HeraldEngineError('INVALID_OPTIONS', `${engine}: ${message}`);
  };
  if (!Array.isArray(classes)) bad('retention must be an array of retention classes');
  const names = new Set<string>();
  for (const c of classes) {
    if (typeof c !== 'object' || c === null) bad('every retention class must be an object');
    if (typeof c.name !== 'string' || !CLASS_NAME.test(c.name)) {
      bad(
        `a retention class name must be 1–64 letters, digits, "_" or "-" (got ${JSON.stringify(c.name)})`,
      );
    }
    if (c.name === DEFAULT_RETENTION_CLASS) {
      bad(
        `"${DEFAULT_RETENTION_CLASS}" is the class of unclaimed events; name the class otherwise`,
      );
    }
    if (names.has(c.name)) bad(`two retention classes are named "${c.name}"`);
    names.add(c.name);
    if (typeof c.matches !== 'function') {
      bad(`retention class "${c.name}" needs matches(topic) => boolean`);
    }
  }
  return classes.slice();
}

/**
 * The retention class of an event with these topics: the first of `classes` that claims every
 * one of them, or `undefined` for the default class.
 */
export function retentionClassOf<C extends RetentionClass>(
  classes: readonly C[],
  topics: readonly string[],
): C | undefined {
  for (let i = 0; i < classes.length; i++) {
    const c = classes[i]!;
    let all = true;
    for (let j = 0; j < topics.length && all; j++) all = c.matches(topics[j]!);
    if (all) return c;
  }
  return undefined;
}

/** Fixed per-event overhead counted by {@link eventSize} (object headers, position, id). */
export const EVENT_OVERHEAD_BYTES = 64;

/**
 * Per-topic overhead counted by {@link eventSize}: each topic is a string of its own (a header
 * of 16 bytes, characters rounded up to 8) in an array slot of 8. Measured on Node 20: 34 bytes
 * a topic of 8 characters, 88 of 40; an event of 95,000 two-character topics retains 4.8 MB.
 */
export const TOPIC_OVERHEAD_BYTES = 48;

/**
 * The approximate bytes an event holds in history: UTF-8 bytes of its data, topics, id and
 * type, plus {@link EVENT_OVERHEAD_BYTES} and {@link TOPIC_OVERHEAD_BYTES} for each topic.
 * Engines use it for their byte bound.
 *
 * Data counts as it goes on the wire: every line break in it becomes a `data:` line of its own
 * (`\n` is 1 byte in the data, 7 encoded), so data made of line breaks counts 7× its length.
 * The result is never less than the event's encoded size, so bounds in these units also bound
 * what the event costs once encoded (the hub keeps the encoded bytes next to the data).
 */
export function eventSize(input: EngineEventInput, id: string): number {
  // encodedDataLength counts "data: " and "\n" for every line; the first line's 7 bytes are
  // part of the overhead.
  let n = EVENT_OVERHEAD_BYTES + encodedDataLength(input.data) - 7 + Buffer.byteLength(id);
  for (const t of input.topics) n += TOPIC_OVERHEAD_BYTES + Buffer.byteLength(t);
  if (input.type !== undefined) n += Buffer.byteLength(input.type);
  return n;
}

const LINE_BREAK_OR_NUL = /[\r\n\0]/;
/** A lone surrogate: with the `u` flag, a paired one is one code point and does not match. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Whether `text` is well-formed Unicode (no lone surrogate), so that it survives UTF-8 on the
 * wire and comes back identical: UTF-8 cannot encode a lone surrogate, and every encoder
 * (Node's, a browser's) writes U+FFFD instead.
 */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * Checks an {@link EngineEventInput} the way every engine must, so that whatever is stored can
 * be put on the wire later.
 *
 * @throws {@link HeraldEngineError} `INVALID_EVENT` naming the offending field
 */
export function validateEventInput(input: EngineEventInput): void {
  const bad = (message: string): never => {
    throw new HeraldEngineError('INVALID_EVENT', message);
  };
  if (typeof input !== 'object' || input === null) bad('an event must be an object');
  const { topics, data, type, id, retry } = input;
  if (!Array.isArray(topics) || topics.length === 0) {
    bad('an event needs at least one topic (topics: string[])');
  }
  for (const t of topics) {
    if (typeof t !== 'string' || t === '')
      bad(`every topic must be a non-empty string (got ${JSON.stringify(t)})`);
    // A topic a subscriber could never spell: selectors arrive through UTF-8 (URLs, tokens).
    if (!isWellFormed(t))
      bad(`topic ${JSON.stringify(t)} is not well-formed Unicode (a lone surrogate)`);
  }
  if (typeof data !== 'string') bad('event data must be a string (serialize it first)');
  if (type !== undefined && (typeof type !== 'string' || LINE_BREAK_OR_NUL.test(type))) {
    bad(`event type must be a string without CR, LF or NUL (got ${JSON.stringify(type)})`);
  }
  if (type !== undefined && !isWellFormed(type)) {
    bad(
      `event type ${JSON.stringify(type)} is not well-formed Unicode (a lone surrogate): it would reach clients as U+FFFD and match no listener`,
    );
  }
  if (id !== undefined) {
    if (typeof id !== 'string' || id === '' || LINE_BREAK_OR_NUL.test(id)) {
      bad(
        `a custom id must be a non-empty string without CR, LF or NUL (got ${JSON.stringify(id)})`,
      );
    }
    if (!isWellFormed(id)) {
      bad(
        `custom id ${JSON.stringify(id)} is not well-formed Unicode (a lone surrogate): clients would see U+FFFD instead and could not resume after it`,
      );
    }
    if (id === EARLIEST) {
      bad(`"${EARLIEST}" cannot be an event id: clients send it to ask for all history`);
    }
  }
  if (retry !== undefined && !(Number.isSafeInteger(retry) && retry >= 0)) {
    bad(`retry must be a non-negative integer of milliseconds (got ${String(retry)})`);
  }
  if (input.private !== undefined && typeof input.private !== 'boolean') {
    bad('private must be a boolean');
  }
}

/**
 * Compares two non-negative decimal integer strings without leading zeros, of any length
 * (positions of counter-based engines).
 *
 * @returns -1, 0 or 1
 */
export function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
