import type { Engine, EngineEvent, EngineGap } from '../engines/engine.js';
import type { MemoryEngineOptions } from '../engines/memory.js';
import type { EventStream, EventStreamOptions, OverflowInfo } from '../stream/index.js';
import type { HeraldHubError } from './errors.js';

/** Options of `createHub`. Every option is optional. */
export interface HubOptions {
  /**
   * Orders, stores and carries events. Default: a {@link MemoryEngineOptions | memory engine}
   * built from `history`. A hub closes the engine it built, never one it was given.
   */
  engine?: Engine;
  /** History bounds of the default memory engine (ignored when `engine` is given). */
  history?: MemoryEngineOptions;
  /** Idle time before a heartbeat comment on each subscriber's stream. Default 15 000 ms. */
  heartbeatMs?: number;
  /** Bound of each subscriber's stream queue, in bytes. Default 1 MiB. */
  queueBytes?: number;
  /** What a full subscriber queue does. Default `'close'`: the client resumes from history. */
  overflow?: EventStreamOptions['overflow'];
  /**
   * The reconnection delay (ms) sent to every stream when the hub closes, so clients come back
   * after a restart rather than at once. Default 1000.
   */
  closeRetryMs?: number;
  /** Most events read from the engine per history page during a replay. Default 512. */
  replayPageSize?: number;
  /**
   * Close a subscriber's stream when its transport has not drained for this many ms (the
   * client stopped reading), live or replaying. Default 30 000; 0 = never. See
   * `EventStreamOptions.stallTimeoutMs`.
   */
  stallTimeoutMs?: number;
  /**
   * Refuse to publish (`EVENT_TOO_LARGE`) an event whose encoded size — data lines, id, type,
   * retry, as on the wire — is more than this many bytes. Default: `queueBytes` (1 MiB), the
   * most a subscriber's queue holds: a larger event could not be queued behind anything, so it
   * would cut off subscribers that were reading.
   */
  maxEventBytes?: number;
  /**
   * Bytes of encoded events kept by position for replays, so that subscribers replaying the
   * same history from an engine that hands each reader its own copy (Redis, NATS) share one
   * encoding in their buffers. Sized to hold the encoded history and its data (about twice the
   * engine's history bytes), every retained event is encoded once however many replay it.
   * Default 32 MiB; 0 turns it off.
   */
  replayCacheBytes?: number;
  /**
   * Most topics one event may have (its canonical topic and alternates); `publish` refuses more
   * with `INVALID_PUBLISH`. Every topic costs a lookup on each publish and bytes in history.
   * Default 100.
   */
  maxEventTopics?: number;
}

/** What `hub.publish` takes. */
export interface PublishInput {
  /** One topic or several: the first is canonical, the others are alternates (Mercure). */
  topics: string | readonly string[];
  /**
   * The payload: a string is sent verbatim, any other value is JSON-serialized once;
   * `undefined` sends an empty `data:` line.
   */
  data?: unknown;
  /** The SSE event type (`event:`), e.g. `'chat.message'`. */
  type?: string;
  /** A custom event id (unique among retained events); default: one the engine generates. */
  id?: string;
  /** The reconnection delay to advertise with this event (`retry:`), in ms. */
  retry?: number;
  /**
   * Mercure private update: delivered only to subscribers whose `authorized` selectors match
   * one of its topics.
   */
  private?: boolean;
}

/** What `hub.publish` answers. */
export interface PublishResult {
  /** The event's SSE id. */
  id: string;
}

/** Options of `hub.subscribe`. */
export interface SubscribeOptions {
  /** Topic selectors: exact topics, `*`, or URI templates. At least one. */
  topics: readonly string[];
  /**
   * Resume after this event id; `'earliest'` replays all retained history. Default: the
   * request's `Last-Event-ID` header, else its `lastEventID` query parameter (the stream's
   * `lastEventId`).
   */
  lastEventId?: string;
  /**
   * Selectors this subscriber is authorized for (Mercure's `mercure.subscribe` claim): private
   * updates reach it only when one of these matches one of their topics. Default: none.
   */
  authorized?: readonly string[];
  /** An extra predicate: events it rejects are neither replayed nor delivered. */
  filter?: (event: EngineEvent) => boolean;
  /**
   * Without a last event id, first send the newest `replayLast` events of each subscribed
   * topic ("the last message of each topic"). Default 0.
   */
  replayLast?: number;
  /** Called once when the subscription ends, for whatever reason. */
  onClose?: () => void;
  /** Options for the stream the hub creates (`(req, res)` form only); hub options fill the rest. */
  stream?: EventStreamOptions;
}

/** One subscriber of a hub. */
export interface Subscription {
  /** A random id, unique within the process. */
  readonly id: string;
  /** The topic selectors, as given. */
  readonly topics: readonly string[];
  /** The last event id the subscriber asked to resume after (`''` when none). */
  readonly lastEventId: string;
  /**
   * The stream events go out on; `undefined` until it exists (the `(req, res)` form creates it
   * once the replay is known, so that the `Last-Event-ID` response header can tell where it
   * starts).
   */
  readonly stream: EventStream | undefined;
  /** Resolves when the replay is written and live events flow, or when the subscription closed. */
  readonly ready: Promise<void>;
  /** `true` once closed. */
  readonly closed: boolean;
  /** Ends the subscription and its stream. Idempotent. */
  close(): void;
  /**
   * Set when the hub refused the call (the subscription is then closed and was never
   * registered): the status it answered with and why.
   */
  readonly refused?: SubscribeRefusal;
}

/** Why `hub.subscribe` refused a call, and the HTTP status it answered the request with. */
export interface SubscribeRefusal {
  /**
   * 400: the request's part (topic selectors, `replayLast`, `lastEventId`) is invalid;
   * 500: the application's part (the options' shape, `filter`, stream options); 503: the hub
   * is closed (sent with `Retry-After: 1`).
   */
  readonly status: 400 | 500 | 503;
  /** The error, with code `INVALID_SUBSCRIBE` or `CLOSED` and a message a person can act on. */
  readonly error: HeraldHubError;
}

/** What `hub.stats()` reports. */
export interface HubStats {
  /** Open subscriptions. */
  subscribers: number;
  /** Distinct exact topics with at least one subscriber. */
  topics: number;
  /** Distinct URI-template selectors with at least one subscriber. */
  templates: number;
  /** Subscribers with the `*` selector. */
  wildcardSubscribers: number;
  /** Events delivered by the engine per second, averaged over the last 10 seconds. */
  eventsPerSecond: number;
  /** Events delivered by the engine since the hub started. */
  eventsTotal: number;
  /** Deliveries: events handed to subscribers, counted once per subscriber. */
  eventsDelivered: number;
  /** Bytes of live events written to subscriber streams (replays not included). */
  bytesWritten: number;
  /** Bytes accepted for subscribers but not yet handed to the operating system. */
  bytesQueued: number;
  /** Retained history, as the engine reports it. */
  history: { events: number; bytes: number };
}

/** The hub's events, for the presence and metrics layers: `hub.on(name, listener)`. */
export interface HubEventMap {
  /** A subscription started (before its replay). */
  subscribe: [subscription: Subscription];
  /** A subscription ended, for whatever reason. */
  unsubscribe: [subscription: Subscription];
  /** The engine delivered an event (published on this node or, with a shared engine, another). */
  publish: [event: EngineEvent];
  /** A subscriber's queue overflowed; with the `'close'` policy the subscription then ends. */
  overflow: [subscription: Subscription, info: OverflowInfo];
  /**
   * The engine failed during a subscription's replay; the subscription was closed (its client
   * reconnects with its last id). Without a listener the error is thrown from a microtask.
   * Also a subscribe call the hub refused and answered (`subscription.refused` is set): without
   * a listener, that one is only answered.
   */
  error: [error: unknown, subscription: Subscription];
  /**
   * The engine's live delivery skipped events evicted before this node read them; the
   * subscriptions they may concern (`closed` of them) were closed so that their clients resume
   * with `Last-Event-ID` and are told about the gap.
   */
  gap: [gap: EngineGap, closed: number];
}
