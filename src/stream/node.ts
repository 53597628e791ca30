import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants, type Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { HeraldStreamError } from './errors.js';
import { EventStreamCore } from './event-stream.js';
import { eventStreamHeaders } from './headers.js';
import { readLastEventId } from './last-event-id.js';
import { resolveOptions } from './options.js';
import type { Transport, TransportSink } from './transport.js';
import type { EventStream, EventStreamOptions } from './types.js';

/** A request from node:http (HTTP/1.x) or from node:http2's compatibility API. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;
/** A response from node:http (HTTP/1.x) or from node:http2's compatibility API. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** Express's `compression` (and similar middleware) add `res.flush()` to push out zlib output. */
interface Flushable {
  flush?: unknown;
}

/** What both response types offer that the transport uses. */
interface ResponseLike {
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  destroy(): unknown;
  readonly writableLength: number;
  on(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
  off(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
}

/** node:http2's compat response has `flushHeaders()` at runtime, but @types/node omits it. */
interface HeaderFlusher {
  flushHeaders(): void;
}

/** Moves bytes through a node:http `ServerResponse` or a node:http2 `Http2ServerResponse`. */
class NodeResponseTransport implements Transport {
  readonly #response: NodeResponse;
  readonly #res: ResponseLike;
  readonly #flush: (() => void) | undefined;
  #sink: TransportSink | undefined;

  constructor(res: NodeResponse) {
    this.#response = res;
    this.#res = res;
    // If compression is active anyway (someone removed `no-transform`), zlib holds bytes back
    // until flushed; `res.flush()` after each write keeps events flowing.
    const flush = (res as Flushable).flush;
    this.#flush = typeof flush === 'function' ? () => flush.call(res) : undefined;
  }

  get writableLength(): number {
    return this.#res.writableLength;
  }

  write(chunk: Uint8Array): boolean {
    const ok = this.#res.write(chunk);
    if (this.#flush !== undefined) this.#flush();
    return ok;
  }

  end(): void {
    this.#res.end();
  }

  abort(): void {
    const res = this.#response;
    if (res instanceof Http2ServerResponse) {
      // RST_STREAM(CANCEL) ends this stream only; the HTTP/2 connection stays up.
      if (!res.stream.destroyed) res.stream.close(constants.NGHTTP2_CANCEL);
    } else {
      res.destroy();
    }
  }

  attach(sink: TransportSink): boolean {
    if (isGone(this.#response)) return false;
    this.#sink = sink;
    const res = this.#res;
    res.on('drain', this.#onDrain);
    res.on('close', this.#onClose);
    res.on('error', this.#onError);
    return true;
  }

  // 'close' and 'error' stay until the response really closes: an error after a graceful end()
  // must still find a listener rather than crash the process.
  detach(): void {
    this.#res.off('drain', this.#onDrain);
  }

  #onDrain = (): void => {
    this.#sink?.drain();
  };

  // node:http emits 'close' on the response when it finished or when the connection went away
  // (client abort, socket error); the compat API forwards the HTTP/2 stream's 'close'.
  #onClose = (): void => {
    const res = this.#res;
    res.off('drain', this.#onDrain);
    res.off('close', this.#onClose);
    res.off('error', this.#onError);
    this.#sink?.gone('client');
  };

  #onError = (): void => {
    this.#sink?.gone('error');
    this.#res.destroy();
  };
}

function isGone(res: NodeResponse): boolean {
  if (res instanceof Http2ServerResponse) return res.stream.destroyed || res.stream.closed;
  return res.destroyed;
}

/**
 * Turns a node:http or node:http2-compat response into an event stream. See
 * `createEventStream` for the contract.
 * @internal
 */
export function createNodeEventStream(
  req: NodeRequest,
  res: NodeResponse,
  options?: EventStreamOptions,
): EventStream {
  const resolved = resolveOptions(options);
  if (res.headersSent || res.writableEnded) {
    throw new HeraldStreamError(
      'HEADERS_ALREADY_SENT',
      `createEventStream() needs a response that has not started yet, but this one already ${
        res.writableEnded ? 'ended' : `sent its headers (status ${res.statusCode})`
      }. Call createEventStream before anything writes to the response (res.write, res.end, res.json, a middleware).`,
    );
  }
  const http2 = req.httpVersionMajor >= 2;
  const lastEventId = readLastEventId(req.headers['last-event-id'], req.url);
  const transport = new NodeResponseTransport(res);
  if (!isGone(res)) {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of eventStreamHeaders(
      // node:http decided from the request (HTTP/1.0 or `Connection: close`) and the server's
      // limits whether this connection stays open; announce keep-alive only when it does.
      {
        allowConnectionHeaders: !http2,
        keepAlive: !http2 && (res as ServerResponse).shouldKeepAlive,
      },
      resolved.headers,
    )) {
      headers[http2 ? name.toLowerCase() : name] = typeof value === 'object' ? [...value] : value;
    }
    res.writeHead(200, headers);
    // Send the status line and headers now, not with the first event, so the client (and every
    // proxy on the way) sees the stream open at once.
    (res as HeaderFlusher).flushHeaders();
    // Events are small and latency-sensitive: no Nagle delay. (node:http already defaults to
    // noDelay; the http2 compat socket proxy forwards this to the real socket.)
    try {
      req.socket?.setNoDelay(true);
    } catch {
      // A socket that refuses manipulation (some HTTP/2 setups): the server's noDelay option
      // applies instead.
    }
  }
  return new EventStreamCore(transport, resolved, lastEventId);
}
