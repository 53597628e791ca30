import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  DEFAULT_RETENTION_CLASS,
  EARLIEST,
  type Engine,
  type EngineEvent,
  type EngineGap,
  type RetentionClass,
} from '../engines/engine.js';
import { memoryEngine } from '../engines/memory.js';
import { encodedLength, encodeEventBytes } from '../protocol/index.js';
import { EventStreamCore } from '../stream/event-stream.js';
import {
  type ByteBudget,
  createEventStream,
  DEFAULT_QUEUE_BYTES,
  type EventStream,
  type EventStreamOptions,
  type NodeRequest,
  type NodeResponse,
  type OverflowInfo,
} from '../stream/index.js';
import { readLastEventId } from '../stream/last-event-id.js';
import { resolveOptions } from '../stream/options.js';
import { EncodedCache } from './encoded-cache.js';
import { HeraldHubError } from './errors.js';
import { RateMeter } from './rate.js';
import { classConcerns } from './retention.js';
import { HubSubscription } from './subscription.js';
import { matchesAny, TopicIndex } from './topics.js';
import { TurnBudget } from './turn-budget.js';
import type {
  HubEventMap,
  HubOptions,
  HubStats,
  PublishInput,
  PublishResult,
  SubscribeOptions,
  SubscribeRefusal,
  Subscription,
} from './types.js';

/** The in-band event type that tells a client part of what it asked for is gone. */
export const GAP_EVENT_TYPE = 'herald.gap';

const DEFAULT_CLOSE_RETRY_MS = 1000;
const DEFAULT_REPLAY_PAGE_SIZE = 512;
/** Default {@link HubOptions.replayCacheBytes}: 32 MiB, twice the default history bytes. */
const DEFAULT_REPLAY_CACHE_BYTES = 32 * 1024 * 1024;
/** Bytes of history all replays together may write per turn of the event loop. */
const REPLAY_BYTES_PER_TURN = 4 * 1024 * 1024;
/** What a generated id may take on the wire, counted before the engine chose it. */
const GENERATED_ID_BYTES = 40;
/**
 * Default {@link HubOptions.maxEventTopics}: a canonical topic and its alternates are a handful;
 * every topic costs a lookup on each publish and its bytes in history.
 */
export const DEFAULT_MAX_EVENT_TOPICS = 100;
/**
 * Most bytes of a tick's events concatenated for subscribers that matched only some of them
 * (see Hub.#sendPart): the high-water mark of a socket, so that one write still carries a
 * tick's small events.
 */
const MAX_PART_COPY_BYTES = 16 * 1024;
/** A flush that wrote to this many subscribers makes the next one wait a loop turn. */
const COALESCE_AFTER_WRITES = 256;
/** A header value Node accepts as is: visible ASCII and spaces. */
const HEADER_SAFE = /^[\x20-\x7e]*$/;

/** Where a replay starts: after an id (or `earliest`), or the newest n events of each topic. */
type ReplayPlan = { after: string } | { latest: number };

/** One tick's worth of delivered events, for the visitor of the topic index. */
interface Delivery {
  event: EngineEvent;
  index: number;
}

/**
 * Topics, fan-out, bounded history and gap-free replay over one {@link Engine}.
 *
 * Publishing hands the event to the engine, which orders and stores it and delivers it back
 * (from every node, for shared engines); the hub encodes it once and queues the same bytes for
 * every matching subscriber, then writes each subscriber's share of a tick in one write.
 */
export class Hub extends EventEmitter<HubEventMap> {
  /** The engine the hub reads and writes. */
  readonly engine: Engine;

  readonly #ownsEngine: boolean;
  readonly #streamDefaults: EventStreamOptions;
  readonly #closeRetryMs: number;
  readonly #pageSize: number;
  readonly #maxEventTopics: number;
  readonly #index = new TopicIndex<HubSubscription>();
  readonly #subscriptions = new Set<HubSubscription>();
  readonly #rate = new RateMeter();
  readonly #encoded = new WeakMap<EngineEvent, Uint8Array>();
  readonly #replayCache: EncodedCache;
  readonly #replayTurns = new TurnBudget(REPLAY_BYTES_PER_TURN);
  /** The encoded size above which an event is refused at publish. */
  readonly #maxEventBytes: number;
  readonly #unlisten: () => void;
  readonly #unlistenGaps: (() => void) | undefined;
  /** The engine's retention classes by name, and which of them each subscriber may receive. */
  readonly #classes: ReadonlyMap<string, RetentionClass>;
  readonly #concerned = new WeakMap<HubSubscription, Map<string, boolean>>();
  #closed = false;
  /** The SSE id of the newest event the engine delivered. */
  #lastId = '';
  /** The newest event the engine delivered, and the newest public one (see #newestVisibleTo). */
  #newest: EngineEvent | undefined;
  #newestPublic: EngineEvent | undefined;
  /** Events handed to subscribers (live or held for after a replay), and bytes written live. */
  #delivered = 0;
  #bytesWritten = 0;

  // The tick's batch: events and their bytes, and the subscribers with something to write.
  #batch: Uint8Array[] = [];
  #dirty: HubSubscription[] = [];
  #flushScheduled: ReturnType<typeof setImmediate> | undefined;
  /** Subscribers the last flush wrote to. */
  #lastFlushWrites = 0;

  /** @param options - see {@link HubOptions} */
  constructor(options: HubOptions = {}) {
    super();
    this.#ownsEngine = options.engine === undefined;
    this.engine = options.engine ?? memoryEngine(options.history);
    this.#streamDefaults = {
      heartbeatMs: options.heartbeatMs,
      queueBytes: options.queueBytes,
      overflow: options.overflow,
      stallTimeoutMs: options.stallTimeoutMs,
    };
    try {
      resolveOptions(this.#streamDefaults); // the same checks the streams will make
    } catch (error) {
      throw new HeraldHubError('INVALID_OPTIONS', (error as Error).message);
    }
    this.#closeRetryMs = positiveInteger(
      'closeRetryMs',
      options.closeRetryMs,
      DEFAULT_CLOSE_RETRY_MS,
    );
    this.#pageSize = positiveInteger(
      'replayPageSize',
      options.replayPageSize,
      DEFAULT_REPLAY_PAGE_SIZE,
    );
    this.#maxEventBytes = positiveInteger(
      'maxEventBytes',
      options.maxEventBytes,
      options.queueBytes ?? DEFAULT_QUEUE_BYTES,
    );
    this.#replayCache = new EncodedCache(
      options.replayCacheBytes === 0
        ? 0
        : positiveInteger('replayCacheBytes', options.replayCacheBytes, DEFAULT_REPLAY_CACHE_BYTES),
    );
    this.#maxEventTopics = positiveInteger(
      'maxEventTopics',
      options.maxEventTopics,
      DEFAULT_MAX_EVENT_TOPICS,
    );
    this.#classes = new Map((this.engine.retention ?? []).map((c) => [c.name, c]));
    this.#unlisten = this.engine.onEvent(this.#deliver);
    this.#unlistenGaps = this.engine.onGap?.(this.#onGap);
  }

  /**
   * Publishes one event to every subscriber whose selectors match one of its topics.
   *
   * @returns the event's SSE id, once the engine stored it
   * @throws (as a rejection) {@link HeraldHubError} `INVALID_PUBLISH` (also for more topics than
   *   `maxEventTopics`) / `EVENT_TOO_LARGE` / `CLOSED`, or the engine's `HeraldEngineError`
   *   (`INVALID_EVENT`, `DUPLICATE_ID`, `EVENT_TOO_LARGE`, `UNAVAILABLE`)
   */
  async publish(input: PublishInput): Promise<PublishResult> {
    if (this.#closed) throw new HeraldHubError('CLOSED', 'the hub is closed: publish refused');
    if (typeof input !== 'object' || input === null) {
      throw new HeraldHubError('INVALID_PUBLISH', 'publish takes an object: { topics, data, … }');
    }
    const topics = typeof input.topics === 'string' ? [input.topics] : input.topics;
    if (Array.isArray(topics) && topics.length > this.#maxEventTopics) {
      throw new HeraldHubError(
        'INVALID_PUBLISH',
        `an event may have at most ${this.#maxEventTopics} topics (maxEventTopics), got ${topics.length}: publish several events instead`,
      );
    }
    const data = serialize(input.data);
    this.#checkSize(data, input);
    const event = await this.engine.append({
      topics,
      data,
      type: input.type,
      id: input.id,
      retry: input.retry,
      private: input.private,
    });
    return { id: event.id };
  }

  /**
   * Subscribes a request: answers it with an event stream, replays what the client missed
   * (`Last-Event-ID` header, else `lastEventID` query, else `options.lastEventId`… see
   * {@link SubscribeOptions}), then delivers live events.
   *
   * The response carries a `Last-Event-ID` header (Mercure's: the event preceding the first one
   * sent): the requested id when nothing the subscriber could receive was lost after it;
   * `earliest` when it asked for `earliest`, and after a loss — an unknown id, or a known one
   * whose successors were evicted (the replay then still resumes right after a known id; the
   * event before the first one sent is gone, and `herald.gap` tells what was lost); without
   * replay, the id of the newest event the subscriber may see, of the newest event and the
   * newest public one (none with `replayLast`, or for ids that are not printable ASCII). An id
   * the subscriber may not see never reaches it: resuming after a private update it is not
   * authorized for is answered exactly as resuming after an unknown id.
   *
   * A call the hub cannot serve never throws: the request is answered — 400 with the reason
   * for what the request decides (no topic selector, an empty one, a bad `replayLast`), 500 for
   * options only the application's code decides (their shape, `filter`, stream options), 503
   * with `Retry-After` once the hub is closed — the {@link HeraldHubError} (`INVALID_SUBSCRIBE`,
   * `CLOSED`) goes to 'error' listeners, and the subscription returned is closed, with
   * {@link Subscription.refused} set.
   */
  subscribe(req: NodeRequest, res: NodeResponse, options: SubscribeOptions): Subscription;
  /**
   * Subscribes an existing event stream (its headers are already sent, so it gets no
   * `Last-Event-ID` header, and overflows are reported by the stream's own `onOverflow`). A
   * refused call closes the stream (its status is already decided) and returns a closed
   * subscription with {@link Subscription.refused} set; a stream whose `Response` is not
   * returned yet (`createEventStreamResponse`) can still be answered with `refused.status`.
   */
  subscribe(stream: EventStream, options: SubscribeOptions): Subscription;
  subscribe(
    first: NodeRequest | EventStream,
    second: NodeResponse | SubscribeOptions,
    third?: SubscribeOptions,
  ): Subscription {
    // subscribe(req, res) without options is the (req, res) form all the same: a response is
    // there to answer, so it is refused like any other invalid call, not taken for a stream.
    const streamForm = third === undefined && !isNodeResponse(second);
    const stream = streamForm ? (first as EventStream) : undefined;
    const options = (streamForm ? second : third) as SubscribeOptions;
    const req = stream === undefined ? (first as NodeRequest) : undefined;
    const res = stream === undefined ? (second as NodeResponse) : undefined;
    let refusal = checkSubscribe(options);
    if (refusal === undefined && this.#closed) {
      refusal = {
        status: 503,
        error: new HeraldHubError('CLOSED', 'the hub is closed: subscribe refused'),
      };
    }
    const streamOptions =
      refusal === undefined ? { ...this.#streamDefaults, ...options.stream } : {};
    // Check the stream options before registering: a failure after that would leave the
    // subscription behind (or, during a replay, go uncaught with the request unanswered).
    if (refusal === undefined && stream === undefined) {
      try {
        resolveOptions(streamOptions);
      } catch (error) {
        refusal = {
          status: 500,
          error: new HeraldHubError('INVALID_SUBSCRIBE', (error as Error).message),
        };
      }
    }
    if (refusal !== undefined) return this.#refuse(refusal, options, stream, res);

    const requested =
      options.lastEventId ??
      (req === undefined
        ? stream!.lastEventId
        : readLastEventId(req.headers['last-event-id'], req.url));
    const queueBytes = streamOptions.queueBytes ?? DEFAULT_QUEUE_BYTES;
    const sub = new HubSubscription(
      options.topics,
      requested,
      options.authorized,
      options.filter,
      queueBytes,
      this.#remove,
      options.onClose,
    );
    // Listen before reading history: every event is then either in the read or held.
    this.#index.add(sub, options.topics);
    this.#subscriptions.add(sub);
    this.emit('subscribe', sub);

    const open = (lastEventIdHeader: string): EventStream => {
      if (stream !== undefined) return this.#attach(sub, stream);
      const headers = { ...streamOptions.headers };
      if (lastEventIdHeader !== '' && HEADER_SAFE.test(lastEventIdHeader)) {
        headers['Last-Event-ID'] = lastEventIdHeader;
      }
      return this.#attach(
        sub,
        createEventStream(req!, res!, {
          ...streamOptions,
          headers,
          onOverflow: this.#overflowListener(sub, streamOptions.onOverflow),
        }),
      );
    };

    const replayLast = options.replayLast ?? 0;
    if (requested === '' && replayLast === 0) {
      try {
        // Mercure (reconciliation): "When the request contains a `Last-Event-ID` HTTP header or a
        // `lastEventID` query parameter, the hub MUST set a `Last-Event-ID` header on the HTTP
        // response." Without one Herald sends it too — where the live stream starts, so that a
        // client dropped before its first event resumes without loss — but only an id this
        // subscriber may see.
        open(this.#newestVisibleTo(sub));
      } catch (error) {
        // The response could not become a stream (headers already sent): unregister, rethrow.
        sub.close();
        throw error;
      }
      sub.goLive();
      return sub;
    }
    const plan: ReplayPlan = requested !== '' ? { after: requested } : { latest: replayLast };
    // Closed before the replay opened the stream (sub.close(), hub.close(), an engine error):
    // still answer the request and end it, so the client reconnects instead of waiting forever.
    const endUnopened = (): void => {
      if (sub.stream !== undefined) return;
      const s = open('');
      if (this.#closed) s.retry(this.#closeRetryMs);
      s.close();
    };
    const budget = stream === undefined ? streamOptions.budget : undefined;
    this.#replay(sub, plan, open, queueBytes, budget).then(
      () => {
        if (sub.closed) endUnopened();
      },
      (error: unknown) => {
        // The engine failed mid-replay: end the subscription (the client retries with its last
        // id) and report the error to 'error' listeners, else like an event listener's.
        sub.close();
        endUnopened();
        if (this.listenerCount('error') > 0) this.emit('error', error, sub);
        else
          queueMicrotask(() => {
            throw error;
          });
      },
    );
    return sub;
  }

  /**
   * Checks what {@link Hub.publish} checks of an event's size, without publishing: for callers
   * that must refuse a batch as a whole before publishing any of it.
   *
   * @throws {@link HeraldHubError} `EVENT_TOO_LARGE` (or `INVALID_PUBLISH` for data that cannot
   *   be serialized)
   */
  checkSize(input: PublishInput): void {
    this.#checkSize(serialize(input.data), input);
  }

  /**
   * Refuses an event whose encoded size is more than a subscriber's queue holds: it could reach
   * a subscriber only whose socket happened to be idle, and two in a row would cut off even a
   * subscriber that reads as fast as it can. Said at once to the publisher instead.
   */
  #checkSize(data: string, input: PublishInput): void {
    const { type, id, retry } = input;
    // Fields the engine will refuse anyway: let it say why.
    if (type !== undefined && typeof type !== 'string') return;
    if (id !== undefined && typeof id !== 'string') return;
    if (retry !== undefined && !Number.isSafeInteger(retry)) return;
    let size = encodedLength({ data, event: type, retry, id: id ?? '' });
    if (id === undefined) size += GENERATED_ID_BYTES;
    if (size > this.#maxEventBytes) {
      throw new HeraldHubError(
        'EVENT_TOO_LARGE',
        `the event takes ${size} bytes encoded (every line break in data starts a new "data: " line), more than a subscriber's queue holds (${this.#maxEventBytes} bytes, queueBytes): no subscriber could be sent it without being cut off; publish smaller events, or raise the queue bound`,
      );
    }
  }

  /**
   * The SSE id of the newest event the engine delivered (`''` before the first), whatever its
   * audience: for the operator. What a subscriber may be told is {@link lastEventIdFor}.
   */
  get lastEventId(): string {
    return this.#lastId;
  }

  /**
   * The id of the newest event a reader authorized for `authorized` (Mercure's
   * `mercure.subscribe` selectors) may see: the newest event when it is public or one of them
   * matches one of its topics, else the newest public event; `''` when neither. Never the id of
   * a private update the reader is not authorized for.
   */
  lastEventIdFor(authorized: readonly string[] | undefined): string {
    const may = (e: EngineEvent | undefined): boolean =>
      e !== undefined &&
      (!e.private || (authorized !== undefined && matchesAny(authorized, e.topics)));
    if (may(this.#newest)) return this.#newest!.id;
    return may(this.#newestPublic) ? this.#newestPublic!.id : '';
  }

  /** {@link lastEventIdFor} for one subscriber: what it may see (its filter included). */
  #newestVisibleTo(sub: HubSubscription): string {
    const newest = this.#newest;
    if (newest === undefined) return '';
    if (sub.accepts(newest)) return newest.id;
    const pub = this.#newestPublic;
    return pub !== undefined && pub !== newest && sub.accepts(pub) ? pub.id : '';
  }

  /** The open subscriptions, for presence, dashboards and the subscriptions API. */
  subscriptions(): IterableIterator<Subscription> {
    return this.#subscriptions.values();
  }

  /** Counts and sizes, for metrics and health. */
  stats(): HubStats {
    const index = this.#index.stats();
    let bytesQueued = 0;
    for (const sub of this.#subscriptions) bytesQueued += sub.stream?.bufferedBytes ?? 0;
    const engine = this.engine.stats();
    return {
      subscribers: this.#subscriptions.size,
      topics: index.exactTopics,
      templates: index.templates,
      wildcardSubscribers: index.wildcardSubscribers,
      eventsPerSecond: this.#rate.rate(),
      eventsTotal: this.#rate.total,
      eventsDelivered: this.#delivered,
      bytesWritten: this.#bytesWritten,
      bytesQueued,
      history: { events: engine.events, bytes: engine.bytes },
    };
  }

  /**
   * Ends every stream cleanly — events already delivered are written first, then a `retry`
   * hint so clients reconnect after `closeRetryMs` — and stops listening to the engine, closing
   * it if the hub created it. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush();
    this.#unlisten();
    this.#unlistenGaps?.();
    for (const sub of [...this.#subscriptions]) {
      sub.stream?.retry(this.#closeRetryMs);
      sub.close();
    }
    this.#replayCache.clear();
    if (this.#ownsEngine) await this.engine.close();
  }

  /**
   * Answers a subscribe call the hub refuses, instead of throwing into the caller's request
   * handler: the `(req, res)` form gets the status and the reason as plain text (503 with
   * `Retry-After` when the hub is closed), the stream form has its stream closed. The refusal
   * goes to 'error' listeners (none: it is only answered), the caller's `onClose` is called
   * after subscribe returns, and the subscription returned is closed, with `refused` set.
   */
  #refuse(
    refusal: SubscribeRefusal,
    options: SubscribeOptions,
    stream: EventStream | undefined,
    res: NodeResponse | undefined,
  ): Subscription {
    const sub = refusedSubscription(options, refusal);
    if (res !== undefined) answerRefusal(res, refusal);
    else if (typeof stream?.close === 'function') stream.close();
    if (this.listenerCount('error') > 0) this.emit('error', refusal.error, sub);
    const onClose = isObject(options) ? options.onClose : undefined;
    if (typeof onClose === 'function') queueMicrotask(() => onClose());
    return sub;
  }

  /**
   * The stream's overflow callback: reports to 'overflow' listeners, then the caller's own. Made
   * here rather than inline in subscribe(), so the closure each stream keeps holds only these
   * two (not subscribe()'s whole scope).
   */
  #overflowListener(
    sub: HubSubscription,
    own: ((info: OverflowInfo) => void) | undefined,
  ): (info: OverflowInfo) => void {
    return (info) => {
      this.emit('overflow', sub, info);
      own?.(info);
    };
  }

  /**
   * Whether `sub` could receive an event of retention class `name`: the default class and
   * classes this node does not know always; a configured class when one of the subscriber's
   * selectors may match a topic of it (see `retention.ts`). Cached per subscriber.
   */
  #concerns(sub: HubSubscription, name: string): boolean {
    if (name === DEFAULT_RETENTION_CLASS) return true;
    const cls = this.#classes.get(name);
    if (cls === undefined) return true;
    let known = this.#concerned.get(sub);
    if (known === undefined) {
      known = new Map();
      this.#concerned.set(sub, known);
    }
    let answer = known.get(name);
    if (answer === undefined) {
      answer = classConcerns(cls, sub.topics);
      known.set(name, answer);
    }
    return answer;
  }

  /**
   * The engine's live delivery skipped events (they were evicted before this node read them).
   * Every subscriber that could have received one of them is closed, after what is already
   * delivered has been written: its client resumes with `Last-Event-ID`, and the replay then
   * sends `herald.gap` for what is gone and everything retained exactly once. Subscribers still
   * replaying are closed too (the events they hold may miss the same ones).
   */
  readonly #onGap = (gap: EngineGap): void => {
    this.#flush();
    let closed = 0;
    for (const sub of [...this.#subscriptions]) {
      if (sub.closed) continue;
      if (gap.classes !== undefined && !gap.classes.some((c) => this.#concerns(sub, c))) continue;
      sub.close();
      closed++;
    }
    this.emit('gap', gap, closed);
  };

  #attach(sub: HubSubscription, stream: EventStream): EventStream {
    sub.stream = stream;
    if (stream.closed) queueMicrotask(() => sub.close());
    // Herald's own streams close the subscription directly; an abort listener would cost an
    // AbortController, its EventTarget and a DOMException per subscriber.
    else if (stream instanceof EventStreamCore) stream.closeWith(sub);
    else stream.signal.addEventListener('abort', () => sub.close(), { once: true });
    return stream;
  }

  readonly #remove = (sub: HubSubscription): void => {
    if (!this.#subscriptions.delete(sub)) return;
    this.#index.remove(sub);
    this.emit('unsubscribe', sub);
  };

  /**
   * The bytes of an event, encoded once and shared by every subscriber and replay. A replay
   * (`replay: true`) also looks the event up by position, for engines that hand each history
   * reader a copy of its own (see {@link EncodedCache}).
   */
  #bytes(event: EngineEvent, replay = false): Uint8Array {
    let bytes = this.#encoded.get(event);
    if (bytes === undefined) {
      bytes = replay ? this.#replayCache.get(event) : undefined;
      if (bytes === undefined) {
        bytes = encodeEventBytes({
          id: event.id,
          event: event.type,
          data: event.data,
          retry: event.retry,
        });
        if (replay) this.#replayCache.set(event, bytes);
      }
      this.#encoded.set(event, bytes);
    }
    return bytes;
  }

  // The engine's listener: runs once per event, in order. Matching is O(topics of the event)
  // plus template subscribers; writing waits for the end of the tick.
  readonly #deliver = (event: EngineEvent): void => {
    this.#lastId = event.id;
    this.#newest = event;
    if (!event.private) this.#newestPublic = event;
    this.#rate.mark();
    const delivery: Delivery = { event, index: this.#batch.length };
    if (this.#index.forEachMatch(event.topics, this.#visit, delivery) > 0) {
      this.#batch.push(this.#bytes(event));
      this.#flushScheduled ??= setImmediate(
        this.#lastFlushWrites >= COALESCE_AFTER_WRITES ? this.#flushNextTurn : this.#flush,
      );
    }
    this.emit('publish', event);
  };

  readonly #visit = (sub: HubSubscription, delivery: Delivery): void => {
    if (sub.closed || !sub.accepts(delivery.event)) return;
    if (!sub.live) {
      this.#delivered++;
      sub.hold(delivery.event);
      return;
    }
    if (sub.liveAfter !== undefined) {
      // The replay read history on its own (XRANGE on another connection, say) and may have got
      // further than the live delivery has: what it wrote must not be written twice.
      if (this.engine.compare(delivery.event.position, sub.liveAfter) <= 0) return;
      sub.liveAfter = undefined;
    }
    this.#delivered++;
    if (sub.batch.length === 0) this.#dirty.push(sub);
    sub.batch.push(delivery.index);
  };

  // After a big flush, writing waits one more turn of the event loop: its I/O phase picks up
  // publishes that were already on their way (a request that arrived meanwhile, an async token
  // check that just completed), which then share this flush — one write per subscriber for all
  // of them. With thousands of subscribers the writes are most of the cost (measured: 1.5–1.9×
  // the delivered events per CPU second); the wait is one loop turn, microseconds when idle.
  readonly #flushNextTurn = (): void => {
    this.#flushScheduled = setImmediate(this.#flush);
  };

  // One write per subscriber per tick. Subscribers that matched the same events (all of them,
  // in a one-topic fan-out) share one concatenation.
  readonly #flush = (): void => {
    if (this.#flushScheduled !== undefined) {
      clearImmediate(this.#flushScheduled);
      this.#flushScheduled = undefined;
    }
    const batch = this.#batch;
    const dirty = this.#dirty;
    if (dirty.length === 0) {
      this.#batch = [];
      return;
    }
    this.#batch = [];
    this.#dirty = [];
    this.#lastFlushWrites = dirty.length;
    let shared: Map<string, Uint8Array> | undefined;
    for (const sub of dirty) {
      const indices = sub.batch;
      if (!sub.closed) {
        if (indices.length === 1) {
          const bytes = batch[indices[0]!]!;
          sub.stream!.sendBytes(bytes);
          this.#bytesWritten += bytes.byteLength;
        } else if (indices.length === batch.length) {
          // Every event of the tick: one concatenation for all such subscribers.
          shared ??= new Map();
          let bytes = shared.get('*');
          if (bytes === undefined) {
            bytes = Buffer.concat(batch);
            shared.set('*', bytes);
          }
          sub.stream!.sendBytes(bytes);
          this.#bytesWritten += bytes.byteLength;
        } else {
          shared ??= new Map();
          this.#sendPart(sub, batch, indices, shared);
        }
      }
      indices.length = 0;
    }
  };

  /**
   * Writes the events of the tick that `sub` matched, when not all of them: concatenated once
   * for all subscribers that matched the same ones — but only while that is small. A
   * subscriber's own selection of big events is written event by event, the bytes every
   * subscriber shares: concatenating them would give it a copy of its own (one per subscriber
   * that picks a different set of topics, up to its whole queue — measured: 1000 non-reading
   * subscriptions from one address, each to its own set of 10 busy topics, held 436 MiB of
   * such copies).
   */
  #sendPart(
    sub: HubSubscription,
    batch: readonly Uint8Array[],
    indices: readonly number[],
    shared: Map<string, Uint8Array>,
  ): void {
    const stream = sub.stream!;
    let total = 0;
    for (const i of indices) total += batch[i]!.byteLength;
    this.#bytesWritten += total;
    if (total > MAX_PART_COPY_BYTES) {
      for (const i of indices) if (!stream.sendBytes(batch[i]!)) return;
      return;
    }
    const key = indices.join(',');
    let bytes = shared.get(key);
    if (bytes === undefined) {
      bytes = Buffer.concat(indices.map((i) => batch[i]!));
      shared.set(key, bytes);
    }
    stream.sendBytes(bytes);
  }

  /**
   * Writes what the subscriber missed, then switches it to live without gap or duplicate:
   * live events held meanwhile are written only when they come after the last history read.
   *
   * Bounded like live delivery: what the stream buffers (its queue and the transport's buffer)
   * stays within `queueBytes`. History is read in pages no larger than the room left in the
   * stream, each event is written as it is (the same bytes other readers share, never a copy
   * of the page), and the replay waits for the client to drain before it reads on. A client
   * that stops reading therefore holds no page, only what its stream already buffers, until
   * the stream's stall timeout closes it.
   *
   * With a `budget` (the stream's, shared with other streams: one client address's in
   * `herald serve`), pages are also no larger than what is left of it, and the replay waits
   * for it to be given back (a stream of the group draining or closing) rather than overflow
   * it: a replay is never closed for the budget, only delayed.
   */
  async #replay(
    sub: HubSubscription,
    plan: ReplayPlan,
    open: (lastEventIdHeader: string) => EventStream,
    queueBytes: number,
    budget: ByteBudget | undefined,
  ): Promise<void> {
    const engine = this.engine;
    let stream: EventStream | undefined;
    let cursor: string | null = null;
    let after: string | { position: string } | undefined;
    let lastWritten = sub.lastEventId;
    // The oldest event the subscriber may see, met by the current read (for herald.gap): each
    // read looks for it, since any read may find its start evicted.
    let seeking = true;
    let oldestVisible: string | null = null;
    const match = (event: EngineEvent): boolean => {
      if (!seeking) return sub.wants(event);
      if (!sub.accepts(event)) return false;
      seeking = false;
      oldestVisible = event.id;
      return sub.selects(event);
    };
    // Resuming after an event the subscriber may not see answers as for an unknown id.
    const visible = (event: EngineEvent): boolean => sub.accepts(event);
    const concerns = (name: string): boolean => this.#concerns(sub, name);
    let gapPending = false;

    // Writes events one by one; waits for the client first when an event would take what the
    // stream buffers past queueBytes. (An event larger than the bound alone goes out once the
    // stream has drained: the transport takes it whole, and the queue never sees it.)
    const write = async (events: readonly EngineEvent[]): Promise<boolean> => {
      for (const event of events) {
        const bytes = this.#bytes(event, true);
        const buffered = stream!.bufferedBytes;
        if (buffered > 0 && buffered + bytes.byteLength > queueBytes) {
          if (!(await stream!.drained()) || sub.closed) return false;
        }
        // The budget is shared: other streams may take it back meanwhile, so wait until it
        // has room (a drain or a close of one of them gives bytes back). An event larger than
        // the whole budget never fits: it goes once nothing is held (and closes the stream).
        while (budget !== undefined && !budget.fits(bytes.byteLength) && budget.used > 0) {
          await budget.released();
          if (sub.closed || stream!.closed) return false;
        }
        stream!.sendBytes(bytes);
        lastWritten = event.id;
      }
      return true;
    };
    // The bytes the next page may take: the room left in the stream, once it has some. (No
    // wait before the first page: the stream opens right after the first read, as frameworks
    // that finish the response themselves expect.)
    const room = async (): Promise<number | undefined> => {
      if (stream === undefined) return budgetRoom(queueBytes);
      if (stream.bufferedBytes >= queueBytes && !(await stream.drained())) return undefined;
      while (budget !== undefined && budget.available === 0) {
        await budget.released();
        if (sub.closed || stream.closed) return undefined;
      }
      return budgetRoom(Math.max(1, queueBytes - stream.bufferedBytes));
    };
    // At most what is left of the budget (a page of one event when nothing is: the write waits).
    const budgetRoom = (bytes: number): number =>
      budget === undefined ? bytes : Math.max(1, Math.min(bytes, budget.available));

    if ('latest' in plan) {
      const result = await engine.latest({
        perTopic: plan.latest,
        match: (topic, event) => sub.selectsTopic(topic) && sub.accepts(event),
      });
      if (sub.closed) return;
      // The newest events of each topic do not resume after any one id: no header.
      stream = open('');
      if (!(await write(result.events))) return;
      cursor = result.cursor;
    } else {
      after = plan.after;
    }

    let first = stream === undefined;
    const fromEarliest = 'after' in plan && plan.after === EARLIEST;
    for (;;) {
      while (after !== undefined) {
        sub.pendingOverflowed = false;
        const maxBytes = stream === undefined ? budgetRoom(queueBytes) : await room();
        if (maxBytes === undefined || sub.closed) return;
        if (!gapPending) {
          seeking = true;
          oldestVisible = null;
        }
        const result = await engine.history({
          after,
          match,
          visible,
          concerns,
          limit: this.#pageSize,
          maxBytes,
        });
        if (sub.closed) return;
        if (first) {
          // Mercure (reconciliation): "To detect data loss, the subscriber MAY compare the value
          // of the `Last-Event-ID` response HTTP header with the last event ID it requested." So
          // after a loss the header is never the requested id, though a known one is still where
          // the replay resumes: the event before the first one sent was evicted (nothing the
          // subscriber may be told of), hence `earliest`, "if there is no preceding event".
          stream = open(fromEarliest || !result.found ? EARLIEST : sub.lastEventId);
          first = false;
        }
        if (!result.found) gapPending = true;
        if (gapPending && (!seeking || !result.more)) {
          // Herald: the client asked to resume after an id whose successors it could receive
          // are no longer all retained, or an id unknown (or that it may not see); say so
          // in-band, then replay what is retained from where the engine resumed (right after a
          // known id, after the newest eviction otherwise). `oldestAvailable` is the oldest
          // event from there that the subscriber may see (null when none): never the id of an
          // event it is not authorized for.
          stream!.send({
            event: GAP_EVENT_TYPE,
            data: JSON.stringify({ lastEventId: lastWritten, oldestAvailable: oldestVisible }),
          });
          gapPending = false;
        }
        // This turn of the event loop must have replay budget left for the page.
        const turn = this.#replayTurns.take(maxBytes);
        if (turn !== undefined) {
          await turn;
          if (sub.closed) return;
        }
        if (!(await write(result.events))) return;
        if (sub.closed) return;
        cursor = result.cursor ?? cursor;
        after = result.more && cursor !== null ? { position: cursor } : undefined;
      }
      // The held events go out next, without a pause: make room for them first.
      if (!(await stream!.drained())) return;
      // Live events held during the replay outgrew their bound and were let go: they are in
      // history, so read on from where the replay stands.
      if (!sub.pendingOverflowed) break;
      after = cursor === null ? EARLIEST : { position: cursor };
    }

    // No await from here on: nothing can arrive between taking the held events and going live.
    // They are bounded by queueBytes (their sizes are at least their encoded sizes), so the
    // drained stream's queue takes them all — unless its budget cannot: the stream then closes
    // (reason 'budget') and its client resumes from history, where they are.
    const held = sub.takePending();
    for (const event of held) {
      if (cursor === null || engine.compare(event.position, cursor) > 0) {
        stream!.sendBytes(this.#bytes(event));
      }
    }
    // The engine's live delivery may still be behind what the replay read (see #visit).
    if (cursor !== null) sub.liveAfter = cursor;
    sub.goLive();
  }
}

/**
 * Creates a hub. Without an `engine`, history lives in memory, bounded by `history`
 * (`{ maxEvents, maxBytes, ttlMs }`).
 *
 * ```ts
 * const hub = createHub({ history: { maxEvents: 1000, ttlMs: 3_600_000 } });
 * http.createServer((req, res) => hub.subscribe(req, res, { topics: ['/chat/{room}'] }));
 * await hub.publish({ topics: '/chat/lobby', data: { from: 'ada', text: 'hi' } });
 * ```
 *
 * @throws {@link HeraldHubError} `INVALID_OPTIONS`
 */
export function createHub(options: HubOptions = {}): Hub {
  return new Hub(options);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new HeraldHubError(
      'INVALID_OPTIONS',
      `${name} must be a positive integer (got ${String(value)})`,
    );
  }
  return value;
}

function serialize(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data === undefined) return '';
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new HeraldHubError(
      'INVALID_PUBLISH',
      `data could not be serialized as JSON (${(error as Error).message}); pass a string instead`,
    );
  }
  if (json === undefined) {
    throw new HeraldHubError(
      'INVALID_PUBLISH',
      `data of type ${typeof data} cannot be serialized as JSON; pass a string instead`,
    );
  }
  return json;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Whether `value` is a node:http (or http2 compatibility) response, not subscribe's options. */
function isNodeResponse(value: unknown): value is NodeResponse {
  return isObject(value) && typeof value.writeHead === 'function';
}

/**
 * Why `options` cannot be subscribed, or `undefined`. What a request decides (its selectors,
 * `replayLast`, `lastEventId`) is the client's to fix: 400. What only the application's code
 * decides (the options' shape, `filter`) is the server's: 500.
 */
function checkSubscribe(options: SubscribeOptions): SubscribeRefusal | undefined {
  const bad = (status: 400 | 500, message: string): SubscribeRefusal => ({
    status,
    error: new HeraldHubError('INVALID_SUBSCRIBE', message),
  });
  if (!isObject(options)) return bad(500, 'subscribe needs options: { topics }');
  if (!Array.isArray(options.topics) || options.topics.length === 0) {
    return bad(400, 'subscribe needs at least one topic selector (topics: string[])');
  }
  for (const t of options.topics) {
    if (typeof t !== 'string' || t === '') {
      return bad(400, `every topic selector must be a non-empty string (got ${JSON.stringify(t)})`);
    }
  }
  const n = options.replayLast;
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) {
    return bad(400, `replayLast must be a non-negative integer (got ${String(n)})`);
  }
  if (options.lastEventId !== undefined && typeof options.lastEventId !== 'string') {
    return bad(400, `lastEventId must be a string (got ${typeof options.lastEventId})`);
  }
  if (options.filter !== undefined && typeof options.filter !== 'function') {
    return bad(500, 'filter must be a function (event) => boolean');
  }
  return undefined;
}

/** Writes a refusal as a plain-text answer, unless the response has already started. */
function answerRefusal(res: NodeResponse, refusal: SubscribeRefusal): void {
  if (res.headersSent || res.writableEnded) return;
  const body = `${refusal.error.message}\n`;
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(body)),
  };
  if (refusal.status === 503) headers['retry-after'] = '1';
  res.writeHead(refusal.status, headers);
  res.end(body);
}

/** The closed subscription a refused subscribe call returns. */
function refusedSubscription(options: SubscribeOptions, refusal: SubscribeRefusal): Subscription {
  const topics =
    isObject(options) && Array.isArray(options.topics)
      ? options.topics.filter((t): t is string => typeof t === 'string')
      : [];
  return {
    id: randomUUID(),
    topics,
    lastEventId: '',
    stream: undefined,
    ready: Promise.resolve(),
    closed: true,
    refused: refusal,
    close: () => {},
  };
}
