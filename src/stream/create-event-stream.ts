import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { HeraldStreamError } from './errors.js';
import { createHttp2EventStream } from './http2.js';
import { createNodeEventStream, type NodeRequest, type NodeResponse } from './node.js';
import type { EventStream, EventStreamOptions } from './types.js';

/**
 * Answers a request with a Server-Sent Events stream and returns the stream to send events on.
 *
 * Works with node:http (HTTP/1.x) and node:http2's compatibility API — `(req, res)` as a
 * request handler, Express, Koa's `ctx.req`/`ctx.res`, Fastify's `request.raw`/`reply.raw` —
 * and with raw HTTP/2 streams: `(stream, headers)` from the server's `'stream'` event.
 *
 * At once it sends status 200 with `Content-Type: text/event-stream; charset=utf-8`,
 * `Cache-Control: no-cache, no-transform`, `X-Accel-Buffering: no` (and
 * `Connection: keep-alive` on HTTP/1.1, never on HTTP/2), then a comment line, so clients and
 * proxies see the stream open before the first event.
 *
 * ```ts
 * http.createServer((req, res) => {
 *   const stream = createEventStream(req, res, { heartbeatMs: 15_000 });
 *   const timer = setInterval(() => stream.send({ event: 'tick', data: String(Date.now()) }), 1000);
 *   stream.signal.addEventListener('abort', () => clearInterval(timer));
 * });
 * ```
 *
 * @param req - the incoming request (for `Last-Event-ID` / `lastEventID`)
 * @param res - its response; nothing may have been written to it yet
 * @param options - see {@link EventStreamOptions}
 * @throws HeraldStreamError `HEADERS_ALREADY_SENT` when the response already started,
 *   `INVALID_OPTION` for a bad option — before anything is written
 */
export function createEventStream(
  req: NodeRequest,
  res: NodeResponse,
  options?: EventStreamOptions,
): EventStream;
/**
 * Answers a raw node:http2 stream with a Server-Sent Events stream.
 *
 * ```ts
 * server.on('stream', (stream, headers) => {
 *   if (headers[':path'] === '/events') createEventStream(stream, headers).send({ data: 'hi' });
 * });
 * ```
 *
 * The session socket cannot be reached from a stream to disable Nagle's algorithm: create the
 * server with `http2.createSecureServer({ noDelay: true, … })`.
 *
 * @param stream - the stream from the server's `'stream'` event; not yet responded to
 * @param headers - its request headers (for `Last-Event-ID` and `:path`'s `lastEventID`)
 * @param options - see {@link EventStreamOptions}
 * @throws HeraldStreamError `HEADERS_ALREADY_SENT` when `stream.respond()` was already called,
 *   `INVALID_OPTION` for a bad option
 */
export function createEventStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  options?: EventStreamOptions,
): EventStream;
export function createEventStream(
  first: NodeRequest | ServerHttp2Stream,
  second: NodeResponse | IncomingHttpHeaders,
  options?: EventStreamOptions,
): EventStream {
  if (isResponse(second)) return createNodeEventStream(first as NodeRequest, second, options);
  if (isHttp2Stream(first) && typeof second === 'object' && second !== null) {
    return createHttp2EventStream(first, second, options);
  }
  throw new HeraldStreamError(
    'INVALID_ARGUMENTS',
    'createEventStream() takes (req, res) from a node:http or node:http2 request handler, or (stream, headers) from an http2 server\'s "stream" event. For a Fetch-API Request, use createEventStreamResponse(request).',
  );
}

function isResponse(value: unknown): value is NodeResponse {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<NodeResponse>).writeHead === 'function' &&
    typeof (value as Partial<NodeResponse>).write === 'function'
  );
}

function isHttp2Stream(value: unknown): value is ServerHttp2Stream {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<ServerHttp2Stream>).respond === 'function' &&
    typeof (value as Partial<ServerHttp2Stream>).write === 'function'
  );
}
