import { BRIEF, ERRORS_DOC } from '../protocol/brief.js';
import type { ParsedEvent } from '../protocol/index.js';
import { backoffDelay, retryAfterMs } from './backoff.js';
import { openConnection, type ReadyState } from './connection.js';
import { createDedupe } from './dedupe.js';
import { HeraldClientError } from './errors.js';
import { fetchGuarded } from './redirect.js';
import { refusalReason } from './refusal.js';
import { type FetchLike, globalFetch, resolveUrl, streamHeaders } from './request.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import { systemTimers, type Timers } from './timers.js';

/** What `new Headers(…)` takes: a record, pairs, or a `Headers`. */
export type HeadersLike = ConstructorParameters<typeof Headers>[0];

/** Event types and the type of their data, e.g. `{ tick: Quote; alert: Alert }`. */
export type EventMap = Record<string, unknown>;

/** The event map without `json`: every event's data is a string. */
export type StringEvents = Record<string, string>;

/** One delivered event. */
export interface HeraldEvent<K extends string = string, T = unknown> {
  /** The event type (`event:`), `message` by default. */
  readonly type: K;
  /** The data: the raw text, or (with `json: true`) its parsed, validated value. */
  readonly data: T;
  /** The data as received. */
  readonly raw: string;
  /** The last event ID as of this event (events without `id:` keep the previous one). */
  readonly lastEventId: string;
  /** The serialized origin of the stream's final URL. */
  readonly origin: string;
}

/** The union of {@link HeraldEvent}s an event map describes, discriminated by `type`. */
export type HeraldEventOf<E extends EventMap> = {
  [K in keyof E & string]: HeraldEvent<K, E[K]>;
}[keyof E & string];

/** What a `herald.gap` event says: part of what the client asked to resume is gone. */
export interface GapInfo {
  /** The id the client resumed after. */
  lastEventId: string;
  /** The oldest event id the server still has (replay starts there), or `null`. */
  oldestAvailable: string | null;
}

/** An event whose data a `schema` refused; it is not delivered. */
export interface InvalidEventInfo {
  /** The event type. */
  type: string;
  /** The value that was validated (parsed JSON, or the raw text). */
  data: unknown;
  /** The data as received. */
  raw: string;
  /** The event's last event ID. */
  lastEventId: string;
  /** What the validator found wrong. */
  issues: ReadonlyArray<StandardSchemaV1.Issue>;
}

/** A `document`-like source of page visibility, for `pauseWhenHidden`. */
export interface VisibilitySource {
  /** `'visible'` or `'hidden'`. */
  readonly visibilityState: string;
  /** Registers the `visibilitychange` listener. */
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  /** Removes it. */
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

/** Options of {@link subscribe}. All optional. */
export interface SubscribeOptions<E extends EventMap = StringEvents> {
  /** Request headers (e.g. `Authorization`), or a function called before every attempt. */
  headers?: HeadersLike | (() => HeadersLike | Promise<HeadersLike>);
  /** The request method. Default `GET`; `POST` streams (as LLM APIs use) work too. */
  method?: string;
  /** The request body (not a stream: with `reconnect: 'always'` it is sent again). */
  body?: Exclude<RequestInit['body'], ReadableStream>;
  /**
   * Whether the request is ever sent again (after a failure, the end of the stream, or a pause):
   * - `'auto'` (default): only for an idempotent method (`GET`, `HEAD`, `OPTIONS`, `TRACE`,
   *   `PUT`, `DELETE`). A `POST` (or other) stream is sent once: its end closes the subscription
   *   normally, a failure is final, `pauseWhenHidden` is ignored.
   * - `'always'`: any method, with `Last-Event-ID` — safe only when the server resumes the
   *   stream after that id rather than repeating the request's action (see docs/client.md).
   * - `'never'`: one request, whatever the method.
   *
   * Statuses in `retryOn` (the server refused, so did not act) and `shouldRetry` still apply.
   */
  reconnect?: 'auto' | 'always' | 'never';
  /** Fetch's credentials mode. Default `same-origin`; `include` sends cookies cross-origin. */
  credentials?: RequestInit['credentials'];
  /**
   * The fetch to use. Default: the global `fetch`. In Node, pass one with a dispatcher whose
   * `bodyTimeout` is 0 to keep a silent stream past undici's 300 s limit (see docs/client.md).
   */
  fetch?: FetchLike;
  /** Closes the subscription when aborted. */
  signal?: AbortSignal;
  /** Resume after this event id: sent as `Last-Event-ID` from the first request on. */
  lastEventId?: string;

  /** The shortest delay between attempts, and the backoff's base, in ms. Default 1000. */
  minDelayMs?: number;
  /** The longest delay between attempts, in ms. Default 30 000. */
  maxDelayMs?: number;
  /** Consecutive failed attempts before giving up (an opened stream resets the count). Default: no limit. */
  maxRetries?: number;
  /** Statuses to retry instead of failing, e.g. `[502, 503, 504]` (a `Retry-After` is honoured). */
  retryOn?: readonly number[];
  /**
   * Decides whether a failure is retried, overriding the default (network errors, idle
   * timeouts and the end of the stream are retried when `reconnect` lets the request be sent
   * again; statuses only when in `retryOn`; other statuses and content types are not).
   * Receives the refused `Response` or the error.
   */
  shouldRetry?: (failure: HeraldClientError | Response, attempt: number) => boolean;
  /**
   * Abort and reconnect when no byte (event or heartbeat comment) arrived for this long, in ms.
   * Default 45 000 (three of Herald's default 15 s heartbeats); 0 turns the watchdog off.
   */
  idleTimeoutMs?: number;

  /** Deliver only these event types (default: all but Herald's reserved `herald.*` types). */
  events?: readonly (keyof E & string)[];
  /** Parse each event's data as JSON; a parse failure is an `INVALID_JSON` error, not a throw. */
  json?: boolean;
  /** A Standard Schema validator (zod, valibot, arktype, …) per event type. */
  schema?: { readonly [K in keyof E]?: StandardSchemaV1<unknown, E[K]> };
  /**
   * Drop events whose id was already delivered (replays after reconnecting): `true` remembers
   * the last 1000 ids, a number that many, `false` turns it off. Default `true`.
   */
  dedupe?: boolean | number;
  /** Bound of one event in UTF-16 code units (default 16 MiB); larger ones are dropped. */
  maxEventBytes?: number;
  /**
   * Disconnect while the page is hidden (`document.visibilityState`) and resume, with
   * `Last-Event-ID`, when it is shown again. Default `false`: stay connected.
   */
  pauseWhenHidden?: boolean;

  /** The stream opened (also after each reconnection). */
  onOpen?(response: Response): void;
  /** Every delivered event, of every type. */
  onEvent?(event: HeraldEventOf<E>): void;
  /** A failure: of the connection (then retried, or followed by `onClose`), or of one event's data. */
  onError?(error: HeraldClientError): void;
  /** An event refused by its `schema`; it is not delivered. */
  onInvalid?(info: InvalidEventInfo): void;
  /** The server could not replay everything after `lastEventId` (a `herald.gap` event). */
  onGap?(gap: GapInfo): void;
  /**
   * The subscription ended: `reason` is `undefined` after `close()` / abort or the end of a
   * stream that is not sent again (see `reconnect`), else why it gave up.
   */
  onClose?(reason: HeraldClientError | undefined): void;

  /** Timer functions (default: the global ones); tests pass a fake clock. */
  timers?: Timers;
  /** Random numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
  /** The current time in ms, for `Retry-After` dates. Default `Date.now`. */
  now?: () => number;
  /** The visibility source for `pauseWhenHidden`. Default: `globalThis.document`. */
  visibility?: VisibilitySource;
  /**
   * `sharedConnection()`: share one connection among the tabs of this origin that subscribe to
   * the same URL with the same request and options, through a SharedWorker (per-tab
   * connections where there is none). Each tab keeps its own listeners and options. See
   * docs/client.md, "Shared mode".
   */
  shared?: SharedMode;
}

/**
 * What `subscribe`'s `shared` option takes: made by `sharedConnection()` (shared.ts, which
 * builds on this file, so the type lives here).
 */
export interface SharedMode {
  /** Subscribes through the shared worker (or on its own where there is none). */
  subscribe<E extends EventMap>(url: string | URL, options: SubscribeOptions<E>): Subscription<E>;
}

/** A running subscription: listen with `on()`, or iterate with `for await`. */
export interface Subscription<E extends EventMap = StringEvents>
  extends AsyncIterable<HeraldEventOf<E>> {
  /** The URL subscribed to. */
  readonly url: string;
  /** CONNECTING (0, also while waiting to reconnect or paused), OPEN (1), CLOSED (2). */
  readonly readyState: ReadyState;
  /** The last event ID, sent as `Last-Event-ID` when reconnecting. */
  readonly lastEventId: string;
  /**
   * Settles when the subscription ends, with the reason it gave up (`undefined` after `close()`,
   * or when a stream that is not sent again ended).
   */
  readonly closed: Promise<HeraldClientError | undefined>;
  /**
   * Calls `listener` with the data of every delivered event of `type`.
   *
   * @returns a function that removes the listener
   */
  on<K extends keyof E & string>(
    type: K,
    listener: (data: E[K], event: HeraldEvent<K, E[K]>) => void,
  ): () => void;
  /** Ends the subscription: aborts the request, ends iterators, calls `onClose`. Idempotent. */
  close(): void;
  /**
   * Iterates over delivered events. Ends after `close()`, an abort or the end of a stream that is
   * not sent again; throws the reason when the subscription gives up. Leaving the loop early
   * (`break`) closes the subscription.
   */
  [Symbol.asyncIterator](): AsyncIterator<HeraldEventOf<E>, undefined>;
}

/** RFC 9110's idempotent methods: sending one again has the effect of sending it once. */
const IDEMPOTENT = ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'];

/** The in-band event type of a replay gap. */
const GAP = 'herald.gap';

/** Reports an error thrown by user code without breaking the stream (like a listener's). */
function report(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/**
 * Subscribes to an event stream with the extras applications need on top of `EventSource`:
 * headers and POST bodies, backoff with jitter, a heartbeat watchdog, dedupe by id, JSON and
 * schema validation, async iteration, gap reports and visibility pausing.
 *
 * ```ts
 * const sub = subscribe<{ tick: Quote }>('https://example.com/ticks', {
 *   json: true,
 *   headers: { authorization: `Bearer ${token}` },
 * });
 * sub.on('tick', (quote) => render(quote));
 * ```
 *
 * @param url - the stream's URL (resolved against the page's base URL in a browser)
 * @param options - see {@link SubscribeOptions}
 * @throws TypeError when `url` is invalid or `lastEventId` contains CR, LF or NUL
 */
export function subscribe(
  url: string | URL,
  options?: SubscribeOptions<StringEvents> & { json?: false },
): Subscription<StringEvents>;
/**
 * Subscribes with a typed event map: `subscribe<{ tick: Quote }>(url, { json: true })`.
 *
 * @param url - the stream's URL
 * @param options - see {@link SubscribeOptions}
 */
export function subscribe<E extends EventMap>(
  url: string | URL,
  options?: SubscribeOptions<E>,
): Subscription<E>;
export function subscribe<E extends EventMap>(
  url: string | URL,
  options: SubscribeOptions<E> = {},
): Subscription<E> {
  if (options.shared) return options.shared.subscribe(url, options);
  type Delivered = HeraldEventOf<E>;
  type Listener = (data: unknown, event: Delivered) => void;
  const {
    headers,
    signal,
    schema,
    json,
    events,
    retryOn = [],
    shouldRetry,
    maxRetries = Infinity,
    random = Math.random,
    now = Date.now,
    dedupe = true,
    lastEventId = '',
    reconnect = 'auto',
  } = options;
  if (/[\r\n\0]/.test(lastEventId)) {
    throw new TypeError('lastEventId: no CR, LF or NUL');
  }
  const href = resolveUrl(url).href;
  const policy = {
    minDelayMs: options.minDelayMs ?? 1000,
    maxDelayMs: options.maxDelayMs ?? 30_000,
  };
  const seen = dedupe === false ? undefined : createDedupe(dedupe === true ? 1000 : dedupe);
  const listeners = new Map<string, Set<Listener>>();
  const queues = new Set<{ push(event: Delivered): void; end(): void }>();
  let finished: { reason: HeraldClientError | undefined } | undefined;
  let resolveClosed!: (reason: HeraldClientError | undefined) => void;
  const closed = new Promise<HeraldClientError | undefined>((resolve) => {
    resolveClosed = resolve;
  });
  // A non-idempotent request is not repeated unless asked: an LLM prompt sent twice is a second
  // answer (and a second bill), not a resumed stream.
  const resend =
    reconnect === 'always' ||
    (reconnect === 'auto' && IDEMPOTENT.includes((options.method ?? 'GET').toUpperCase()));
  // The stream ended and is not sent again: a normal end, not a failure.
  let completed = false;
  let attempts = 0;
  let retryFloor = 0;
  let finalReason: HeraldClientError | undefined;
  // The last event ID before the current event: an event carries an id of its own when its
  // lastEventId differs (a MessageEvent cannot tell an id-less event from one that repeats it).
  let previousId = lastEventId;
  // Deliveries wait for each other only once a validator answered asynchronously.
  let tail: Promise<void> | undefined;

  const call = <A extends unknown[]>(fn: ((...args: A) => void) | undefined, ...args: A): void => {
    try {
      fn?.(...args);
    } catch (error) {
      report(error);
    }
  };

  const emit = (type: string, data: unknown, parsed: ParsedEvent): void => {
    if (finished) return;
    const event = {
      type,
      data,
      raw: parsed.data,
      lastEventId: parsed.lastEventId,
      origin: connection.origin,
    } as Delivered;
    call(options.onEvent, event);
    for (const listener of listeners.get(type) ?? []) call(listener, data, event);
    for (const queue of queues) queue.push(event);
  };

  const deliver = (parsed: ParsedEvent): void => {
    const { type, data: raw, lastEventId: id } = parsed;
    const ownId = id !== previousId;
    previousId = id;
    if (type === GAP) {
      let gap: GapInfo = { lastEventId: '', oldestAvailable: null };
      try {
        gap = { ...gap, ...JSON.parse(raw) };
      } catch {}
      call(options.onGap, gap);
      return;
    }
    if (events ? !events.includes(type) : type.startsWith('herald.')) return;
    if (seen && ownId && id !== '' && seen(id)) return;
    let data: unknown = raw;
    if (json) {
      try {
        data = JSON.parse(raw);
      } catch (cause) {
        call(
          options.onError,
          new HeraldClientError(
            'INVALID_JSON',
            BRIEF
              ? `A ${type} event: ${cause}${ERRORS_DOC}`
              : `A ${type} event was dropped: ${cause}`,
            {
              cause,
              raw,
              type,
            },
          ),
        );
        return;
      }
    }
    const validator = schema?.[type as keyof E];
    const step = (): void | Promise<void> => {
      if (!validator) return emit(type, data, parsed);
      const settle = (result: StandardSchemaV1.Result<unknown>): void => {
        if (result.issues) {
          if (!finished) {
            call(options.onInvalid, { type, data, raw, lastEventId: id, issues: result.issues });
          }
        } else emit(type, result.value, parsed);
      };
      try {
        const result = validator['~standard'].validate(data);
        if (!('then' in result)) return settle(result);
        return result.then(settle, report);
      } catch (error) {
        report(error);
      }
    };
    const run = tail ? tail.then(step) : step();
    if (run) {
      const next: Promise<void> = run.then(() => {
        if (tail === next) tail = undefined;
      });
      tail = next;
    }
  };

  const finish = (reason?: HeraldClientError): void => {
    if (finished) return;
    finished = { reason };
    connection.close();
    signal?.removeEventListener('abort', onAbort);
    visibility?.removeEventListener('visibilitychange', onVisibility);
    for (const queue of queues) queue.end();
    call(options.onClose, reason);
    resolveClosed(reason);
  };
  const onAbort = (): void => finish();

  const connection = openConnection({
    url: href,
    fetch: options.fetch ?? globalFetch,
    // Headers, a body and cookies are given for the URL's origin: redirects are followed by
    // hand so that none of them reaches another (a browser hides where a redirect leads, so
    // there such a redirect fails; without them, fetch follows redirects itself).
    explain: refusalReason,
    guard:
      headers !== undefined || options.body != null || options.credentials === 'include'
        ? fetchGuarded
        : undefined,
    timers: options.timers ?? systemTimers,
    lastEventId,
    idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
    maxEventBytes: options.maxEventBytes,
    init: async (id) => ({
      method: options.method,
      body: options.body,
      credentials: options.credentials,
      cache: 'no-store',
      headers: streamHeaders(id, typeof headers === 'function' ? await headers() : headers),
    }),
    decide(error) {
      const response = error.response;
      let retry =
        error.code !== 'UNSUPPORTED_URL' &&
        (response === undefined
          ? resend
          : error.code === 'BAD_STATUS' && retryOn.includes(response.status));
      if (shouldRetry && error.code !== 'UNSUPPORTED_URL') {
        try {
          retry = shouldRetry(response ?? error, attempts + 1);
        } catch (thrown) {
          report(thrown);
        }
      }
      if (!retry) {
        completed = !resend && error.code === 'STREAM_ENDED';
        finalReason = completed ? undefined : error;
        return -1;
      }
      if (++attempts > maxRetries) {
        finalReason = new HeraldClientError('RETRIES_EXHAUSTED', `${maxRetries} retries failed`, {
          cause: error,
        });
        return -1;
      }
      // The server's retry: (and Retry-After) is a floor under the jittered backoff.
      const floor = Math.max(
        retryFloor,
        retryAfterMs(response?.headers.get('retry-after') ?? null, now()),
      );
      return backoffDelay(attempts - 1, policy, random, floor);
    },
    onRetry(ms) {
      retryFloor = ms;
    },
    onOpen(response) {
      attempts = 0;
      call(options.onOpen, response);
    },
    onEvent: deliver,
    onError(error) {
      if (!completed) call(options.onError, error);
      if (connection.readyState === 2) finish(finalReason);
    },
    onTooLarge: (error) => call(options.onError, error),
  });

  // A pause drops the stream and resuming sends the request again: only when that is allowed.
  const visibility =
    options.pauseWhenHidden && resend
      ? (options.visibility ?? (globalThis as { document?: VisibilitySource }).document)
      : undefined;
  const onVisibility = (): void => {
    if (visibility?.visibilityState === 'hidden') connection.pause();
    else connection.resume();
  };
  visibility?.addEventListener('visibilitychange', onVisibility);
  if (visibility?.visibilityState === 'hidden') connection.pause();
  if (signal?.aborted) finish();
  else signal?.addEventListener('abort', onAbort, { once: true });

  return {
    url: href,
    get readyState() {
      return connection.readyState;
    },
    get lastEventId() {
      return connection.lastEventId;
    },
    closed,
    on(type, listener) {
      const set = listeners.get(type) ?? new Set();
      listeners.set(type, set);
      set.add(listener as Listener);
      return () => set.delete(listener as Listener);
    },
    close: () => finish(),
    [Symbol.asyncIterator]() {
      const buffer: Delivered[] = [];
      let wake: (() => void) | undefined;
      let thrown = false;
      const queue = {
        push(event: Delivered) {
          buffer.push(event);
          wake?.();
        },
        end: () => wake?.(),
      };
      if (!finished) queues.add(queue);
      return {
        async next(): Promise<IteratorResult<Delivered, undefined>> {
          for (;;) {
            if (buffer.length > 0) return { value: buffer.shift()!, done: false };
            if (finished) {
              queues.delete(queue);
              if (finished.reason && !thrown) {
                thrown = true;
                throw finished.reason;
              }
              return { value: undefined, done: true };
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
        },
        async return(): Promise<IteratorResult<Delivered, undefined>> {
          queues.delete(queue);
          finish();
          return { value: undefined, done: true };
        },
      };
    },
  };
}
