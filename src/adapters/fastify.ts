/**
 * `herald/adapters/fastify`: event streams and hub subscriptions as Fastify 5 route handlers.
 *
 * The stream writes `reply.raw` itself and stays open, so these call `reply.hijack()`: Fastify
 * then neither sends nor serializes anything, and runs no `onSend` hooks — which is also why
 * `@fastify/compress` never touches an event stream. Headers already set with `reply.header()`
 * (by `@fastify/cors`, an `onRequest` hook, …) live in the reply, not in `reply.raw`; they are
 * handed to the stream so they are not lost with the hijack.
 *
 * Fastify's `onResponse` hooks and its "request completed" log line follow `reply.raw`'s
 * `'finish'`: they run when the server ends the stream (`stream.close()`, `subscription.close()`,
 * `hub.close()`), not when the client disconnects — that is `onRequestAbort`'s job.
 *
 * ```ts
 * import Fastify from 'fastify';
 * import { createHub } from 'herald';
 * import { subscribe } from 'herald/adapters/fastify';
 *
 * const hub = createHub();
 * const app = Fastify({ logger: true });
 * app.get('/events', subscribe(hub, { topics: ['/news'] }));
 * ```
 * @packageDocumentation
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  createEventStream,
  type EventStream,
  type EventStreamOptions,
  type HeaderValue,
  type Hub,
  type SubscribeOptions,
} from '../index.js';

/**
 * What {@link subscribe} subscribes a request with: fixed options, or a function of the request
 * that returns them (or a promise of them). A function that throws (or rejects) goes to
 * Fastify's error handler as usual.
 */
export type FastifySubscribeOptions<Request extends FastifyRequest = FastifyRequest> =
  | SubscribeOptions
  | ((request: Request, reply: FastifyReply) => SubscribeOptions | Promise<SubscribeOptions>);

/** The headers Fastify holds for the reply, under the stream's own `headers` option. */
function withReplyHeaders(
  reply: FastifyReply,
  options: EventStreamOptions | undefined,
): EventStreamOptions {
  const headers: Record<string, HeaderValue> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) headers[name] = value;
  }
  return { ...options, headers: { ...headers, ...options?.headers } };
}

/**
 * Answers a Fastify request with an event stream — `createEventStream(request.raw, reply.raw,
 * options)` with the reply's headers — and hijacks the reply so Fastify leaves it alone.
 *
 * ```ts
 * app.get('/ticks', (request, reply) => {
 *   const stream = eventStream(request, reply);
 *   const timer = setInterval(() => stream.send({ data: new Date().toISOString() }), 1000);
 *   stream.signal.addEventListener('abort', () => clearInterval(timer));
 * });
 * ```
 *
 * @throws HeraldStreamError `HEADERS_ALREADY_SENT` or `INVALID_OPTION`, before anything is
 *   written and before the hijack, so Fastify's error handler still answers
 */
export function eventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  options?: EventStreamOptions,
): EventStream {
  const stream = createEventStream(request.raw, reply.raw, withReplyHeaders(reply, options));
  reply.hijack();
  return stream;
}

/**
 * A Fastify route handler that subscribes each request to `hub`: replay after `Last-Event-ID`
 * (or the `lastEventID` query parameter), then live events, until the client leaves or the hub
 * closes. A call the hub refuses (no topic selector, the hub closed…) is answered by the hub
 * with its status and reason (400, 500 or 503) and reported on its `'error'` event; an error
 * thrown by `options` goes to Fastify's error handler.
 *
 * ```ts
 * app.get<{ Params: { room: string } }>(
 *   '/rooms/:room/events',
 *   subscribe(hub, (request) => ({ topics: [`/rooms/${request.params.room}`] })),
 * );
 * ```
 */
export function subscribe<Request extends FastifyRequest = FastifyRequest>(
  hub: Hub,
  options: FastifySubscribeOptions<Request>,
): (request: Request, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    const resolved = typeof options === 'function' ? await options(request, reply) : options;
    hub.subscribe(request.raw, reply.raw, {
      ...resolved,
      stream: withReplyHeaders(reply, resolved.stream),
    });
    // The hub answers now, or after reading history (a replay): either way the response is its.
    reply.hijack();
  };
}
