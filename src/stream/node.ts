import { type IncomingMessage, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants, type Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { HeraldStreamError } from './errors.js';
import { EventStreamCore } from './event-stream.js';
import { eventStreamHeaders } from './headers.js';
import { guardPeerReset } from './http2-reset.js';
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

/** Where a response's listeners find their transport (see the shared listeners below). */
const TRANSPORT = Symbol('herald.transport');

/** A response as the shared listeners see it (`this` of an EventEmitter listener). */
interface TaggedResponse extends ResponseLike {
  [TRANSPORT]?: NodeResponseTransport;
}

/** Moves bytes through a node:http `ServerResponse` or a node:http2 `Http2ServerResponse`. */
class NodeResponseTransport implements Transport {
  // The response's listeners are shared by every transport and find theirs through a symbol
  // property of the response: no closures per subscriber. `this` is the response.
  static readonly #onDrain = function (this: TaggedResponse): void {
    const transport = this[TRANSPORT];
    if (transport !== undefined) transport.#sink?.drain();
  };

  // node:http emits 'close' on the response when it finished or when the connection went away
  // (client abort, socket error); the compat API forwards the HTTP/2 stream's 'close'.
  static readonly #onClose = function (this: TaggedResponse): void {
    const transport = this[TRANSPORT];
    this.off('drain', NodeResponseTransport.#onDrain);
    this.off('close', NodeResponseTransport.#onClose);
    this.off('error', NodeResponseTransport.#onError);
    if (transport !== undefined) transport.#sink?.gone('client');
  };

  static readonly #onError = function (this: TaggedResponse): void {
    const transport = this[TRANSPORT];
    if (transport !== undefined) transport.#sink?.gone('error');
    this.destroy();
  };

  readonly #response: NodeResponse;
  readonly #res: ResponseLike;
  readonly #flush: (() => void) | undefined;
  /** The response when it is node:http's (HTTP/1.x), whose socket `write` corks. */
  readonly #http1: ServerResponse | undefined;
  #sink: TransportSink | undefined;

  constructor(res: NodeResponse) {
    this.#response = res;
    this.#res = res;
    this.#http1 = res instanceof ServerResponse ? res : undefined;
    // If compression is active anyway (someone removed `no-transform`), zlib holds bytes back
    // until flushed; `res.flush()` after each write keeps events flowing.
    const flush = (res as Flushable).flush;
    this.#flush = typeof flush === 'function' ? () => flush.call(res) : undefined;
  }

  get writableLength(): number {
    return this.#res.writableLength;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#flush !== undefined) {
      const ok = this.#res.write(chunk);
      this.#flush();
      return ok;
    }
    // node:http corks the socket on every write and uncorks it on the next tick: a fan-out to N
    // subscribers would queue N process.nextTick callbacks and send nothing until all N writes
    // are done. Corking around the write here sends this subscriber's chunk (size line, bytes,
    // CRLF) at once, in one writev, without the tick.
    const socket = this.#http1?.socket;
    if (socket == null || socket.writableCorked > 0) return this.#res.write(chunk);
    socket.cork();
    const ok = this.#res.write(chunk);
    socket.uncork();
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
    const res = this.#res as TaggedResponse;
    res[TRANSPORT] = this;
    res.on('drain', NodeResponseTransport.#onDrain);
    res.on('close', NodeResponseTransport.#onClose);
    res.on('error', NodeResponseTransport.#onError);
    return true;
  }

  // 'close' and 'error' stay until the response really closes: an error after a graceful end()
  // must still find a listener rather than crash the process.
  detach(): void {
    this.#res.off('drain', NodeResponseTransport.#onDrain);
  }
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
  // A reset with NO_ERROR can leave the HTTP/2 stream without 'close' (see http2-reset.ts).
  if (res instanceof Http2ServerResponse) guardPeerReset(res.stream);
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
    // A HEAD request asks for the headers a GET would get and no body (RFC 9110, 9.3.2: "The
    // server SHOULD send the same header fields in response to a HEAD request as it would have
    // sent if the request method had been GET"): node:http never sends the headers of a HEAD
    // response that does not end, so end it here; the stream closes at once, nothing is sent.
    if (req.method === 'HEAD') res.end();
    // The client (and every proxy on the way) must see the stream open at once, not with the
    // first event. When the stream starts with a comment or a retry (the default), that write
    // carries the headers in the same packet, in this tick; else send them now on their own.
    // (One write instead of two per subscriber: the connect storm is mostly system calls.)
    if (resolved.initialComment === false && resolved.retry === undefined) {
      (res as HeaderFlusher).flushHeaders();
    }
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
