import { type Connection, openConnection, type ReadyState } from './connection.js';
import { type FetchLike, globalFetch, resolveUrl, streamHeaders } from './request.js';
import { systemTimers, type Timers } from './timers.js';

/**
 * The second argument of `new EventSource(url, init)`: the standard `withCredentials`, plus two
 * Herald extensions that browsers ignore.
 */
export interface HeraldEventSourceInit {
  /** Send credentials (cookies, HTTP authentication) to other origins too. Default `false`. */
  withCredentials?: boolean;
  /** The fetch to use (default: the global `fetch`), e.g. one with a custom dispatcher. */
  fetch?: FetchLike;
  /** Timer functions (default: the global ones); tests pass a fake clock. */
  timers?: Timers;
}

/** The events an EventSource fires itself; any other type a stream names is a `MessageEvent`. */
export interface EventSourceEventMap {
  /** The connection opened. */
  open: Event;
  /** An event without an `event:` field (or with `event: message`). */
  message: MessageEvent;
  /** The connection failed or is being re-established. */
  error: Event;
}

/** What an `on…` event handler attribute holds: a handler of that event, or `null`. */
export type EventHandlerValue<E extends Event = Event> =
  | ((this: EventSource, event: E) => unknown)
  | null;

type ListenerOptions = Parameters<EventTarget['addEventListener']>[2];
type Listener = Parameters<EventTarget['addEventListener']>[1];

interface HandlerSlot {
  value: object;
  listener: (event: Event) => void;
}

/**
 * "This must initially be an implementation-defined value, probably in the region of a few
 * seconds": 3 s, as browsers use.
 */
const DEFAULT_RECONNECTION_TIME = 3000;

/**
 * The WHATWG `EventSource` (HTML standard §9.2), on `fetch` and `ReadableStream`, for Node ≥ 20,
 * browsers, workers, Deno and Bun — a drop-in for the browser's own.
 *
 * - Requests carry `Accept: text/event-stream`, cache mode `no-store` (so `Cache-Control:
 *   no-cache`), `Last-Event-ID` only when the last event ID is not empty (as UTF-8), and
 *   credentials per `withCredentials`.
 * - A `200` with `Content-Type: text/event-stream` (parameters allowed, any case) opens; any
 *   other status (204 included) or type fails the connection: `error`, `CLOSED`, no reconnect.
 * - A network error or the end of the stream reconnects after the reconnection time (3 s, or
 *   what `retry:` set), with `error` fired in between and `readyState` `CONNECTING`.
 * - Redirects are followed; events' `origin` is the final URL's origin.
 *
 * Events are `MessageEvent`s (`data`, `origin`, `lastEventId`); `open` and `error` are plain
 * `Event`s. Unlike a browser's, dispatched events have `isTrusted` `false`: only the browser can
 * make trusted events.
 */
export class EventSource extends EventTarget {
  /** The connection has not been established yet, or is being re-established. */
  declare static readonly CONNECTING: 0;
  /** The connection is open and events are dispatched as they arrive. */
  declare static readonly OPEN: 1;
  /** The connection is closed for good: `close()` was called or the connection failed. */
  declare static readonly CLOSED: 2;
  /** `0`: see {@link EventSource.CONNECTING}. */
  declare readonly CONNECTING: 0;
  /** `1`: see {@link EventSource.OPEN}. */
  declare readonly OPEN: 1;
  /** `2`: see {@link EventSource.CLOSED}. */
  declare readonly CLOSED: 2;

  /** Handler of `open` events, or `null`. */
  declare onopen: EventHandlerValue;
  /** Handler of `message` events (events without an `event:` field), or `null`. */
  declare onmessage: EventHandlerValue<MessageEvent>;
  /** Handler of `error` events, or `null`. */
  declare onerror: EventHandlerValue;

  readonly #url: string;
  readonly #withCredentials: boolean;
  readonly #connection: Connection;
  #reconnectionTime = DEFAULT_RECONNECTION_TIME;
  readonly #handlers = new Map<string, HandlerSlot>();

  /**
   * Opens an event stream at `url`.
   *
   * @param url - the stream's URL, resolved against the document's base URL in a page (it must
   *   be absolute elsewhere)
   * @param init - `withCredentials` (send cookies cross-origin), and Herald's `fetch` / `timers`
   * @throws DOMException `SyntaxError` when `url` is not a valid URL
   */
  constructor(url: string | URL, init: HeraldEventSourceInit = {}) {
    super();
    // WebIDL: a missing required argument is a TypeError (undefined would be the URL "undefined").
    // biome-ignore lint/complexity/noArguments: only the argument count can tell them apart
    if (arguments.length === 0) {
      throw new TypeError('EventSource: 1 argument required');
    }
    let record: URL;
    try {
      record = resolveUrl(url);
    } catch {
      // "If urlRecord is failure, then throw a "SyntaxError" DOMException."
      throw new DOMException(`The URL '${String(url)}' is invalid.`, 'SyntaxError');
    }
    this.#url = record.href;
    // "If the value of eventSourceInitDict's withCredentials member is true, then set
    // corsAttributeState to Use Credentials and set ev's withCredentials attribute to true."
    const withCredentials = Boolean(init.withCredentials);
    this.#withCredentials = withCredentials;
    const connection = openConnection({
      url: this.#url,
      fetch: init.fetch ?? globalFetch,
      timers: init.timers ?? systemTimers,
      // "Set request's cache mode to "no-store"." Anonymous CORS uses credentials mode
      // "same-origin"; Use Credentials, "include".
      init: (lastEventId) => ({
        headers: streamHeaders(lastEventId),
        cache: 'no-store',
        credentials: withCredentials ? 'include' : 'same-origin',
      }),
      // Network errors and the end of the stream reestablish the connection; "Any other HTTP
      // response code not listed here, as well as the cancelation of the fetch algorithm by the
      // user agent (e.g. in response to window.stop() […]) must cause the user agent to fail
      // the connection." (close() aborts too, but then nothing is decided.)
      decide: (error) =>
        error.response !== undefined ||
        error.code === 'UNSUPPORTED_URL' ||
        (error.cause as Error | undefined)?.name === 'AbortError'
          ? -1
          : this.#reconnectionTime,
      // "If the field value consists of only ASCII digits, then interpret the field value as an
      // integer in base ten, and set the event stream's reconnection time to that integer."
      onRetry: (ms) => {
        this.#reconnectionTime = ms;
      },
      onOpen: () => this.dispatchEvent(new Event('open')),
      // "Initialize event's type attribute to "message", its data attribute to data, its origin
      // attribute to the serialization of the origin of the event stream's final URL (i.e., the
      // URL after redirects), and its lastEventId attribute to the last event ID string of the
      // event source." The engine only calls this while the readyState is not CLOSED.
      onEvent: (event) =>
        this.dispatchEvent(
          new MessageEvent(event.type, {
            data: event.data,
            origin: connection.origin,
            lastEventId: event.lastEventId,
          }),
        ),
      onError: () => this.dispatchEvent(new Event('error')),
    });
    this.#connection = connection;
  }

  /** The stream's URL, resolved and serialized (the URL given, not where redirects led). */
  get url(): string {
    return this.#url;
  }

  /** `true` when constructed with `withCredentials: true`. */
  get withCredentials(): boolean {
    return this.#withCredentials;
  }

  /** {@link EventSource.CONNECTING} (0), {@link EventSource.OPEN} (1) or {@link EventSource.CLOSED} (2). */
  get readyState(): ReadyState {
    return this.#connection.readyState;
  }

  /**
   * Herald extension: the last event ID string, which is sent as `Last-Event-ID` when
   * reconnecting (browsers expose it only on each `MessageEvent`).
   */
  get lastEventId(): string {
    return this.#connection.lastEventId;
  }

  /**
   * Adds a listener: `open` and `error` get `Event`s, every other type (`message` or a name
   * from `event:`) `MessageEvent`s.
   */
  override addEventListener<K extends keyof EventSourceEventMap>(
    type: K,
    listener: (this: EventSource, event: EventSourceEventMap[K]) => unknown,
    options?: ListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: (this: EventSource, event: MessageEvent) => unknown,
    options?: ListenerOptions,
  ): void;
  override addEventListener(type: string, listener: Listener, options?: ListenerOptions): void;
  override addEventListener(type: string, listener: unknown, options?: ListenerOptions): void {
    super.addEventListener(type, listener as Listener, options);
  }

  /**
   * Aborts the request and sets `readyState` to `CLOSED`, for good; no event is fired and no
   * reconnection follows. Events already parsed but not yet dispatched are dropped.
   */
  close(): void {
    // "The close() method must abort any instances of the fetch algorithm started for this
    // EventSource object, and must set the readyState attribute to CLOSED."
    this.#connection.close();
  }

  static {
    // HTML's event handler attributes: the first non-null value adds one listener, in order
    // with addEventListener's; later values replace the callback in place; null removes it.
    // With [LegacyTreatNonObjectAsNull], a non-object becomes null and a non-callable object is
    // kept (and does nothing).
    for (const type of ['open', 'message', 'error']) {
      Object.defineProperty(EventSource.prototype, `on${type}`, {
        get(this: EventSource) {
          return this.#handlers.get(type)?.value ?? null;
        },
        set(this: EventSource, value: unknown) {
          const slot = this.#handlers.get(type);
          if ((typeof value !== 'object' && typeof value !== 'function') || value === null) {
            if (slot !== undefined) {
              this.removeEventListener(type, slot.listener);
              this.#handlers.delete(type);
            }
          } else if (slot !== undefined) {
            slot.value = value;
          } else {
            const added: HandlerSlot = {
              value,
              listener: (event) => {
                const handler = added.value;
                if (typeof handler === 'function') handler.call(this, event);
              },
            };
            this.#handlers.set(type, added);
            this.addEventListener(type, added.listener);
          }
        },
        enumerable: true,
        configurable: true,
      });
    }
  }
}

// WebIDL constants: on the interface object and its prototype, read-only and enumerable.
const constants: PropertyDescriptorMap = {
  CONNECTING: { value: 0, enumerable: true },
  OPEN: { value: 1, enumerable: true },
  CLOSED: { value: 2, enumerable: true },
};
Object.defineProperties(EventSource, constants);
Object.defineProperties(EventSource.prototype, {
  ...constants,
  [Symbol.toStringTag]: { value: 'EventSource', configurable: true },
});
