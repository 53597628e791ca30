/**
 * `herald/adapters/koa`: event streams and hub subscriptions as Koa middleware (Koa 2 and 3).
 *
 * Koa writes the response itself once the middleware chain settles; an event stream writes
 * `ctx.res` directly and stays open, so these set `ctx.respond = false` — Koa's documented way
 * to bypass its response handling — as soon as the stream owns the response. Koa then writes
 * nothing more, `koa-compress` sees the headers already sent and leaves the stream alone, and
 * `ctx.set()` after that is a no-op.
 *
 * ```ts
 * import Koa from 'koa';
 * import { createHub } from 'herald';
 * import { subscribe } from 'herald/adapters/koa';
 *
 * const hub = createHub();
 * const app = new Koa();
 * const events = subscribe(hub, (ctx) => ({ topics: [`/rooms/${String(ctx.query.room)}`] }));
 * app.use((ctx, next) => (ctx.path === '/events' ? events(ctx, next) : next()));
 * ```
 * @packageDocumentation
 */
import type { DefaultContext, DefaultState, Middleware, ParameterizedContext } from 'koa';
import {
  createEventStream,
  type EventStream,
  type EventStreamOptions,
  type Hub,
  type SubscribeOptions,
} from '../index.js';

/**
 * What {@link subscribe} subscribes a request with: fixed options, or a function of the context
 * that returns them (or a promise of them). A function that throws (or rejects) lets the error
 * propagate through Koa as usual (`ctx.throw(401)` answers 401).
 */
export type KoaSubscribeOptions<StateT = DefaultState, ContextT = DefaultContext> =
  | SubscribeOptions
  | ((ctx: ParameterizedContext<StateT, ContextT>) => SubscribeOptions | Promise<SubscribeOptions>);

/**
 * Answers the request of `ctx` with an event stream — `createEventStream(ctx.req, ctx.res,
 * options)` — and sets `ctx.respond = false` so Koa leaves the response to it. Headers set
 * earlier with `ctx.set()` (CORS, …) are kept.
 *
 * ```ts
 * router.get('/ticks', (ctx) => { // with @koa/router
 *   const stream = eventStream(ctx);
 *   const timer = setInterval(() => stream.send({ data: new Date().toISOString() }), 1000);
 *   stream.signal.addEventListener('abort', () => clearInterval(timer));
 * });
 * ```
 *
 * @throws HeraldStreamError `HEADERS_ALREADY_SENT` or `INVALID_OPTION`, before anything is
 *   written (`ctx.respond` is left alone, so Koa still answers with the error)
 */
export function eventStream(ctx: ParameterizedContext, options?: EventStreamOptions): EventStream {
  const stream = createEventStream(ctx.req, ctx.res, options);
  ctx.respond = false;
  return stream;
}

/**
 * Koa middleware that subscribes each request to `hub`: replay after `Last-Event-ID` (or the
 * `lastEventID` query parameter), then live events, until the client leaves or the hub closes.
 * It ends the chain (it does not call `next`). A call the hub refuses (no topic selector, the
 * hub closed…) is answered by the hub with its status and reason (400, 500 or 503) and
 * reported on its `'error'` event; an error thrown by `options` goes to Koa's error handling.
 *
 * ```ts
 * // with @koa/router:
 * router.get('/rooms/:room/events', subscribe(hub, (ctx) => ({ topics: [`/rooms/${ctx.params.room}`] })));
 * ```
 */
export function subscribe<StateT = DefaultState, ContextT = DefaultContext>(
  hub: Hub,
  options: KoaSubscribeOptions<StateT, ContextT>,
): Middleware<StateT, ContextT> {
  return async (ctx) => {
    hub.subscribe(ctx.req, ctx.res, typeof options === 'function' ? await options(ctx) : options);
    // The hub answers now, or after reading history (a replay): either way the response is its.
    ctx.respond = false;
  };
}
