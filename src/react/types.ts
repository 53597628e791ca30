import type { HeraldClientError } from '../client/errors.js';
import type {
  EventMap,
  HeraldEventOf,
  StringEvents,
  SubscribeOptions,
} from '../client/subscribe.js';

/**
 * Where a subscription stands: `connecting` (first attempt, or waiting to reconnect), `open`,
 * `closed` (no URL, or the component let go of it) or `error` (it gave up: see `error`).
 */
export type SubscriptionStatus = 'connecting' | 'open' | 'closed' | 'error';

/**
 * Options of `useSubscription`: every `subscribe()` option but `signal` (the component's
 * lifetime decides when the stream closes), plus the hub's topics and the hook's own.
 *
 * Nothing here reconnects by changing, except what names the stream: the URL, `topics`,
 * `method`, a string `body` and `key`. Callbacks and `headers` / `token` are always the latest
 * ones (a header function or token is asked again before every attempt); the other options are
 * read when a connection opens.
 */
export interface UseSubscriptionOptions<E extends EventMap = StringEvents>
  extends Omit<SubscribeOptions<E>, 'signal'> {
  /**
   * Subscribe to a Mercure-compatible hub: one `topic` query parameter per selector is added
   * to the URL (as `subscribeHub` does). Changing them (by value) reconnects.
   */
  topics?: string | readonly string[];
  /**
   * A subscriber JWT sent as `Authorization: Bearer …` (with `topics`, as `subscribeHub`
   * does); a function is called before every attempt.
   */
  token?: string | (() => string | Promise<string>);
  /** Reconnects when it changes: for what the hook cannot compare, such as a `FormData` body. */
  key?: string | number;
  /**
   * When the stream changes (URL, `topics`, `method`, `body`, `key`), resume the new one after
   * the last event ID received so far (sent as `Last-Event-ID`) and keep `data`, `event` and
   * `events`. Default `false`: the new stream starts afresh (from the `lastEventId` option, if
   * given) with an empty state. The same stream is always resumed, never restarted.
   */
  resume?: boolean;
  /** How many of the latest events `events` holds. Default 0: `events` stays empty. */
  keep?: number;
}

/** What `useSubscription` returns: the latest state of the stream. */
export interface SubscriptionState<E extends EventMap = StringEvents> {
  /** Where the subscription stands. */
  readonly status: SubscriptionStatus;
  /** The data of the latest event (parsed with `json: true`), `undefined` before the first. */
  readonly data: HeraldEventOf<E>['data'] | undefined;
  /** The latest event, `undefined` before the first. */
  readonly event: HeraldEventOf<E> | undefined;
  /**
   * The latest `keep` events, oldest first (a new array on each event). Several events that
   * arrive between two renders are all here, where `data` and `event` show only the last.
   */
  readonly events: readonly HeraldEventOf<E>[];
  /** The last event ID of the latest event (or the `lastEventId` option before it). */
  readonly lastEventId: string;
  /**
   * The latest failure: of the connection (while `status` is `connecting` it is being
   * retried; with `error` it gave up) or of one event's data (`INVALID_JSON`,
   * `EVENT_TOO_LARGE`). A `TypeError` when the URL or `lastEventId` is invalid. Cleared when
   * the stream opens.
   */
  readonly error: HeraldClientError | TypeError | undefined;
}
