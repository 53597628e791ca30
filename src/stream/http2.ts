import type { OutgoingHttpHeaders } from 'node:http';
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { HeraldStreamError } from './errors.js';
import { EventStreamCore } from './event-stream.js';
import { eventStreamHeaders } from './headers.js';
import { guardPeerReset } from './http2-reset.js';
import { readLastEventId } from './last-event-id.js';
import { resolveOptions } from './options.js';
import type { Transport, TransportSink } from './transport.js';
import type { EventStream, EventStreamOptions } from './types.js';

/** Moves bytes through a raw node:http2 `ServerHttp2Stream` (the server's 'stream' event). */
class Http2StreamTransport implements Transport {
  readonly #stream: ServerHttp2Stream;
  #sink: TransportSink | undefined;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
  }

  get writableLength(): number {
    return this.#stream.writableLength;
  }

  write(chunk: Uint8Array): boolean {
    return this.#stream.write(chunk);
  }

  end(): void {
    this.#stream.end();
  }

  abort(): void {
    // RST_STREAM(CANCEL) ends this stream only; the HTTP/2 connection stays up.
    if (!this.#stream.destroyed) this.#stream.close(constants.NGHTTP2_CANCEL);
  }

  attach(sink: TransportSink): boolean {
    const stream = this.#stream;
    if (stream.destroyed || stream.closed) return false;
    this.#sink = sink;
    stream.on('drain', this.#onDrain);
    stream.on('close', this.#onClose);
    stream.on('error', this.#onError);
    return true;
  }

  // 'close' and 'error' stay until the stream really closes: a reset that arrives after a
  // graceful end() emits 'error', which must find a listener rather than crash the process.
  detach(): void {
    this.#stream.off('drain', this.#onDrain);
  }

  #onDrain = (): void => {
    this.#sink?.drain();
  };

  #onClose = (): void => {
    const stream = this.#stream;
    stream.off('drain', this.#onDrain);
    stream.off('close', this.#onClose);
    stream.off('error', this.#onError);
    this.#sink?.gone('client');
  };

  // A stream reset with an error code (anything but NO_ERROR / CANCEL) is destroyed with an
  // error; 'close' follows.
  #onError = (): void => {
    this.#sink?.gone('error');
  };
}

/**
 * Turns a raw node:http2 stream into an event stream. See `createEventStream` for the contract.
 * @internal
 */
export function createHttp2EventStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  options?: EventStreamOptions,
): EventStream {
  const resolved = resolveOptions(options);
  if (stream.headersSent) {
    throw new HeraldStreamError(
      'HEADERS_ALREADY_SENT',
      'createEventStream() needs an HTTP/2 stream that has not responded yet, but stream.respond() was already called. Call createEventStream instead of stream.respond().',
    );
  }
  const lastEventId = readLastEventId(headers['last-event-id'], headers[':path']);
  // A reset with NO_ERROR can leave the stream without 'close' (see http2-reset.ts).
  guardPeerReset(stream);
  const transport = new Http2StreamTransport(stream);
  if (!stream.destroyed && !stream.closed) {
    const out: OutgoingHttpHeaders = { ':status': 200 };
    for (const [name, value] of eventStreamHeaders(
      { allowConnectionHeaders: false, keepAlive: false },
      resolved.headers,
    )) {
      out[name.toLowerCase()] = typeof value === 'object' ? [...value] : value;
    }
    // respond() sends HEADERS at once; the stream stays open for DATA frames. (The session's
    // socket refuses setNoDelay here — pass `noDelay: true` to http2.createServer instead.)
    stream.respond(out, { endStream: false });
  }
  return new EventStreamCore(transport, resolved, lastEventId);
}
