/**
 * `herald/adapters/express`: event streams and hub subscriptions as Express handlers, for
 * Express 5 and 4.
 *
 * Express's `req` / `res` are node:http's, so this only names the Express types and forwards
 * errors to `next` (Express 4 does not catch a rejected handler). Express's `compression`
 * middleware leaves event streams alone: it skips responses whose `Cache-Control` has
 * `no-transform`, which every event stream sends.
 *
 * ```ts
 * import express from 'express';
 * import { createHub } from 'herald';
 * import { subscribe } from 'herald/adapters/express';
 *
 * const hub = createHub();
 * const app = express();
 * app.get('/events', subscribe(hub, (req) => ({ topics: [`/rooms/${req.query.room}`] })));
 * ```
 * @packageDocumentation
 */
import type { NextFunction, Request, Response } from 'express';
import {
  createEventStream,
  type EventStream,
  type EventStreamOptions,
  type Hub,
  type SubscribeOptions,
} from '../index.js';

/**
 * What {@link subscribe} subscribes a request with: fixed options, or a function of the request
 * that returns them (or a promise of them). A function that throws (or rejects) hands the error
 * to `next`, so `throw createError(401)` answers 401 through your error handler.
 */
export type ExpressSubscribeOptions =
  | SubscribeOptions
  | ((req: Request, res: Response) => SubscribeOptions | Promise<SubscribeOptions>);

/**
 * Answers an Express request with an event stream: `createEventStream(req, res, options)`,
 * typed for Express. Headers set earlier with `res.set()` / `res.setHeader()` (CORS, …) are
 * kept.
 *
 * ```ts
 * app.get('/ticks', (req, res) => {
 *   const stream = eventStream(req, res);
 *   const timer = setInterval(() => stream.send({ data: new Date().toISOString() }), 1000);
 *   stream.signal.addEventListener('abort', () => clearInterval(timer));
 * });
 * ```
 *
 * @throws HeraldStreamError `HEADERS_ALREADY_SENT` or `INVALID_OPTION`, before anything is
 *   written (so an error handler can still answer)
 */
export function eventStream(
  req: Request,
  res: Response,
  options?: EventStreamOptions,
): EventStream {
  return createEventStream(req, res, options);
}

/**
 * An Express handler that subscribes each request to `hub`: replay after `Last-Event-ID` (or the
 * `lastEventID` query parameter), then live events, until the client leaves or the hub closes.
 * Errors from `options` when it is a function go to `next(error)`, on Express 4 and 5 alike; a
 * call the hub refuses (no topic selector, the hub closed…) is answered by the hub with its
 * status and reason (400, 500 or 503) and reported on its `'error'` event.
 *
 * ```ts
 * app.get('/events', subscribe(hub, { topics: ['/news'] }));
 * app.get('/rooms/:room/events', subscribe(hub, (req) => ({ topics: [`/rooms/${req.params.room}`] })));
 * ```
 */
export function subscribe(
  hub: Hub,
  options: ExpressSubscribeOptions,
): (req: Request, res: Response, next: NextFunction) => Promise<void> {
  return async (req, res, next) => {
    try {
      hub.subscribe(req, res, typeof options === 'function' ? await options(req, res) : options);
    } catch (error) {
      next(error);
    }
  };
}
