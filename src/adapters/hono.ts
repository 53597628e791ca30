/**
 * `herald/adapters/hono`: event streams and hub subscriptions as Hono 4 handlers, on any
 * runtime with Web-standard `Request` / `Response` (tested on `@hono/node-server`).
 *
 * A Hono handler returns a `Response`; these return the body of `createEventStreamResponse`
 * through `c.newResponse()`, so headers set earlier with `c.header()` are kept (the stream's own
 * headers win). The stream closes when the body is cancelled or `c.req.raw.signal` aborts, which
 * is what `@hono/node-server` does when the client disconnects. `hono/compress` leaves event
 * streams alone by default (it skips `text/event-stream` and `Cache-Control: no-transform`).
 *
 * ```ts
 * import { serve } from '@hono/node-server';
 * import { Hono } from 'hono';
 * import { createHub } from 'herald';
 * import { subscribe } from 'herald/adapters/hono';
 *
 * const hub = createHub();
 * const app = new Hono();
 * app.get('/events', subscribe(hub, { topics: ['/news'] }));
 * serve({ fetch: app.fetch, port: 8080 });
 * ```
 * @packageDocumentation
 */
import type { Context } from 'hono';
import {
  createEventStreamResponse,
  type EventStream,
  type EventStreamOptions,
  type FetchEventStream,
  type Hub,
  type SubscribeOptions,
} from '../index.js';

/**
 * What {@link subscribe} subscribes a request with: fixed options, or a function of the context
 * that returns them (or a promise of them). A function that throws (or rejects) goes to
 * `app.onError` as usual (`throw new HTTPException(401)` answers 401).
 *
 * Stream options come from `stream` only: the hub's `heartbeatMs` / `queueBytes` / `overflow`
 * apply to the streams the hub creates itself (node:http), not to this Fetch-API one.
 */
export type HonoSubscribeOptions =
  | SubscribeOptions
  | ((c: Context) => SubscribeOptions | Promise<SubscribeOptions>);

/** The stream's `Response`, as Hono's own: headers set with `c.header()` join its headers. */
function respond(c: Context, stream: FetchEventStream): Response {
  return c.newResponse(stream.response.body, stream.response);
}

/**
 * Answers with an event stream: calls `setup` with the stream (to start sending, or to keep it
 * somewhere) and returns the `Response` for the handler to return.
 *
 * ```ts
 * app.get('/ticks', (c) =>
 *   eventStream(c, (stream) => {
 *     const timer = setInterval(() => stream.send({ data: new Date().toISOString() }), 1000);
 *     stream.signal.addEventListener('abort', () => clearInterval(timer));
 *   }),
 * );
 * ```
 *
 * If `setup` throws, the stream is closed (its response will never be read) and the error
 * goes to Hono's error handling.
 *
 * @throws HeraldStreamError `INVALID_OPTION` for a bad option
 */
export function eventStream(
  c: Context,
  setup: (stream: EventStream) => void,
  options?: EventStreamOptions,
): Response {
  const stream = createEventStreamResponse(c.req.raw, options);
  try {
    setup(stream);
  } catch (error) {
    stream.close();
    throw error;
  }
  return respond(c, stream);
}

/**
 * A Hono handler that subscribes each request to `hub`: replay after `Last-Event-ID` (or the
 * `lastEventID` query parameter), then live events, until the client leaves or the hub closes.
 * A call the hub refuses (no topic selector, the hub closed…) is answered with its status and
 * reason (400, 500 or 503) and reported on the hub's `'error'` event; an error thrown by
 * `options` goes to Hono's error handling.
 *
 * Unlike the node:http form of `hub.subscribe`, the response has no `Last-Event-ID` header, and
 * overflows are reported by `stream.onOverflow`, not the hub's `'overflow'` event.
 *
 * ```ts
 * app.get('/rooms/:room/events', subscribe(hub, (c) => ({ topics: [`/rooms/${c.req.param('room')}`] })));
 * ```
 */
export function subscribe(
  hub: Hub,
  options: HonoSubscribeOptions,
): (c: Context) => Promise<Response> {
  return async (c) => {
    const resolved = typeof options === 'function' ? await options(c) : options;
    const stream = createEventStreamResponse(c.req.raw, resolved.stream);
    const sub = hub.subscribe(stream, resolved);
    // Refused (no topic, the hub closed…): the hub closed the stream, whose Response is not
    // sent yet, so the request gets the hub's status and reason instead.
    if (sub.refused !== undefined) {
      return c.text(`${sub.refused.error.message}\n`, sub.refused.status, {
        'cache-control': 'no-store',
        ...(sub.refused.status === 503 ? { 'retry-after': '1' } : {}),
      });
    }
    return respond(c, stream);
  };
}
