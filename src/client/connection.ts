import { BRIEF, ERRORS_DOC } from '../protocol/brief.js';
import { createParser, type ParsedEvent } from '../protocol/index.js';
import { HeraldClientError } from './errors.js';
import { isEventStream } from './mime.js';
import type { fetchGuarded } from './redirect.js';
import type { refusalReason } from './refusal.js';
import type { FetchLike } from './request.js';
import { isRuntimeTimeout } from './runtime.js';
import type { Timers } from './timers.js';
import { createWatchdog } from './watchdog.js';

// The connection engine shared by EventSource and subscribe(): one event stream, fetched again
// and again, with the HTML standard's processing model (§9.2.3) and pluggable decisions.

/** `readyState` values: connecting (or waiting to reconnect), open, closed for good. */
export type ReadyState = 0 | 1 | 2;

/** What the engine needs from its owner. */
export interface ConnectionConfig {
  /** The URL of the first request. */
  url: string;
  /**
   * The fetch to call (never called as a method). It is only ever called with URLs on the origin
   * of `url`, or (with `guard`) with a request that carries none of `init`'s own.
   */
  fetch: FetchLike;
  /**
   * Follows redirects by hand, so that `init`'s headers, body and credentials go only to the
   * origin of `url` (redirect.ts's `fetchGuarded`). Without it fetch follows them itself.
   * (Passed in rather than imported, so a bundle of EventSource alone leaves it out.)
   */
  guard?: typeof fetchGuarded | undefined;
  /** Reads a refused response's reason into the error (refusal.ts's `refusalReason`). */
  explain?: typeof refusalReason;
  /** Timer functions. */
  timers: Timers;
  /** The request of one attempt, given the last event ID string to send (`''`: none). */
  init(lastEventId: string): RequestInit | Promise<RequestInit>;
  /** The last event ID to start from (`''`: none). */
  lastEventId?: string;
  /** Abort and reconnect when no byte arrived for this long; 0 turns the watchdog off. */
  idleTimeoutMs?: number;
  /** Bound of one event, passed to the parser. */
  maxEventBytes?: number;
  /** Milliseconds to wait before reconnecting after `error`, or a negative number to give up. */
  decide(error: HeraldClientError): number;
  /** The response was accepted; `readyState` is OPEN. */
  onOpen(response: Response): void;
  /** An event was parsed (only while OPEN). */
  onEvent(event: ParsedEvent): void;
  /** A valid `retry:` field. */
  onRetry(ms: number): void;
  /** A failure: `readyState` is CONNECTING when a reconnection is scheduled, else CLOSED. */
  onError(error: HeraldClientError): void;
  /** An event was too large and dropped. */
  onTooLarge?(error: HeraldClientError): void;
}

/** A running connection. */
export interface Connection {
  /** CONNECTING (0), OPEN (1) or CLOSED (2). */
  readonly readyState: ReadyState;
  /** The last event ID string, sent as `Last-Event-ID` on reconnection. */
  readonly lastEventId: string;
  /** The serialized origin of the stream's final URL (after redirects). */
  readonly origin: string;
  /** Aborts the request and stops for good. No event is fired. */
  close(): void;
  /** Drops the connection without an event and waits for `resume()` (CONNECTING meanwhile). */
  pause(): void;
  /** Reconnects at once after `pause()`. */
  resume(): void;
}

/**
 * Starts a connection: fetches `config.url` and keeps an event stream going as the HTML
 * standard's processing model says, with the decisions (reconnect or not, and when) left to
 * `config.decide`.
 *
 * @param config - the request, the decisions and the callbacks
 */
export function openConnection(config: ConnectionConfig): Connection {
  const { timers, idleTimeoutMs = 0 } = config;
  const fetchStream = config.fetch;
  const home = new URL(config.url).origin;
  let url = config.url;
  let state: ReadyState = 0;
  let origin = '';
  let paused = false;
  // The current attempt: callbacks of an attempt that is no longer current do nothing.
  let current: AbortController | undefined;
  let idle = false;
  let reconnectTimer: unknown;
  const watchdog = createWatchdog(idleTimeoutMs, timers, () => {
    idle = true;
    current?.abort();
  });
  const parser = createParser(
    {
      onEvent(event) {
        if (state === 1) config.onEvent(event);
      },
      onRetry: (ms) => config.onRetry(ms),
      onError(error) {
        config.onTooLarge?.(
          new HeraldClientError('EVENT_TOO_LARGE', error.message, { cause: error }),
        );
      },
    },
    { maxEventBytes: config.maxEventBytes },
  );
  // The parser starts with an empty last event ID: an id-only block sets a given one exactly
  // ("id: " and the value; the single space after the colon is removed).
  if (config.lastEventId) parser.feed(`id: ${config.lastEventId}\n\n`);

  function stop(): void {
    timers.clearTimeout(reconnectTimer);
    watchdog.stop();
    const controller = current;
    current = undefined;
    controller?.abort();
    // Forget any partial event; from inside a handler, this also stops the chunk being parsed.
    parser.reset();
  }

  function fail(error: HeraldClientError): void {
    stop();
    const delay = config.decide(error);
    if (delay < 0) {
      // "Fail the connection": "sets the readyState attribute to CLOSED and fires an event
      // named error at the EventSource object. Once the user agent has failed the connection,
      // it does not attempt to reconnect."
      state = 2;
      config.onError(error);
      return;
    }
    // "Reestablish the connection": "Set the readyState attribute to CONNECTING. Fire an event
    // named error at the EventSource object." Then "Wait a delay equal to the reconnection
    // time of the event source." A handler that called close() stops it.
    state = 0;
    config.onError(error);
    if (state === 0 && !paused && current === undefined) {
      reconnectTimer = timers.setTimeout(attempt, delay);
    }
  }

  function networkError(error: unknown): HeraldClientError {
    return idle || isRuntimeTimeout(error)
      ? new HeraldClientError(
          'IDLE_TIMEOUT',
          BRIEF
            ? `${url} went silent${ERRORS_DOC}`
            : `${url} sent nothing for too long: send heartbeats more often`,
          { cause: error },
        )
      : new HeraldClientError(
          'NETWORK',
          `${url}: ${error}${BRIEF ? ERRORS_DOC : ' (is it reachable, with CORS?)'}`,
          { cause: error },
        );
  }

  async function attempt(): Promise<void> {
    const controller = new AbortController();
    current = controller;
    idle = false;
    const { protocol } = new URL(url);
    if (protocol !== 'http:' && protocol !== 'https:') {
      // "Network errors […] should cause the user agent to reestablish the connection […]
      // unless the user agent knows that to be futile, in which case the user agent may fail
      // the connection." A scheme fetch cannot stream from is futile.
      fail(
        new HeraldClientError(
          'UNSUPPORTED_URL',
          BRIEF ? `${url}: not http(s)${ERRORS_DOC}` : `${url}: use http: or https:`,
        ),
      );
      return;
    }
    watchdog.kick();
    let response: Response;
    let answered = url;
    try {
      const init = { ...(await config.init(parser.lastEventId)), signal: controller.signal };
      if (current !== controller) return;
      if (config.guard) ({ response, url: answered } = await config.guard(fetchStream, url, init));
      else response = await fetchStream(url, init);
    } catch (error) {
      if (current === controller) {
        fail(error instanceof HeraldClientError ? error : networkError(error));
      }
      return;
    }
    const body = response.body;
    if (current !== controller) {
      body?.cancel().catch(() => {});
      return;
    }
    // "If res's status is not 200, or if res's `Content-Type` is not `text/event-stream`, then
    // fail the connection." (Whether it is, is the owner's decision: subscribe() may retry.)
    const contentType = response.headers.get('content-type');
    if (response.status !== 200 || !isEventStream(contentType)) {
      let reason: string | undefined;
      if (config.explain) {
        reason = await config.explain(response, timers);
        if (current !== controller) return;
      } else {
        body?.cancel().catch(() => {});
      }
      const why = `${reason === undefined ? '' : `: ${reason}`}${BRIEF ? ERRORS_DOC : ''}`;
      fail(
        response.status !== 200
          ? new HeraldClientError(
              'BAD_STATUS',
              `${url} answered ${response.status}${BRIEF ? '' : ', not 200'}${why}`,
              { response, reason },
            )
          : new HeraldClientError(
              'BAD_CONTENT_TYPE',
              `${url} answered ${contentType}${BRIEF ? '' : ', not text/event-stream'}${why}`,
              { response, reason },
            ),
      );
      return;
    }
    // Redirects were followed: the stream's origin is its final URL's ("the serialization of
    // the origin of the event stream's final URL"). Reconnections fetch "ev's request" again,
    // whose URL list ends with that URL, so they go there too, as Chromium does — but only when
    // it is on the origin the caller named. A final URL on another origin is never fetched
    // directly: the caller's headers, body, credentials (or a fetch of theirs that adds a
    // token) were given for their origin only, so reconnections start again from their URL.
    const final = new URL(response.url || answered);
    origin = final.origin;
    url = origin === home ? final.href : config.url;
    parser.reset();
    // "Announce the connection": "if the readyState attribute is set to a value other than
    // CLOSED, sets the readyState attribute to OPEN and fires an event named open".
    state = 1;
    config.onOpen(response);
    if (current !== controller) return;
    try {
      const reader = body?.getReader();
      for (;;) {
        const chunk = reader === undefined ? { done: true as const } : await reader.read();
        if (current !== controller) return;
        if (chunk.done) break;
        watchdog.kick();
        parser.feed(chunk.value);
        if (current !== controller) return;
      }
    } catch (error) {
      if (current === controller) fail(networkError(error));
      return;
    }
    // The end of a 200 body (graceful or not) reestablishes the connection. "If the file ends
    // in the middle of an event, before the final empty line, the incomplete event is not
    // dispatched" (stop() resets the parser, which drops it).
    fail(
      new HeraldClientError('STREAM_ENDED', `${url} ended the stream${BRIEF ? ERRORS_DOC : ''}`),
    );
  }

  // Start after the caller's synchronous code, so its listeners are in place for every event
  // (the standard queues each as a task).
  Promise.resolve().then(() => {
    if (state !== 2 && !paused && current === undefined) attempt();
  });
  return {
    get readyState() {
      return state;
    },
    get lastEventId() {
      return parser.lastEventId;
    },
    get origin() {
      return origin;
    },
    close() {
      state = 2;
      paused = false;
      stop();
    },
    pause() {
      if (state === 2 || paused) return;
      paused = true;
      state = 0;
      stop();
    },
    resume() {
      if (!paused) return;
      paused = false;
      attempt();
    },
  };
}
