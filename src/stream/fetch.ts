import { EventStreamCore } from './event-stream.js';
import { eventStreamHeaders } from './headers.js';
import { readLastEventId } from './last-event-id.js';
import { type ResolvedOptions, resolveOptions } from './options.js';
import type { Transport, TransportSink } from './transport.js';
import type { EventStreamOptions, FetchEventStream } from './types.js';

/**
 * How many bytes the response body buffers before the stream applies backpressure (queues in
 * its own bounded queue instead). Close to Node's default stream high-water mark.
 */
const BODY_HIGH_WATER_MARK = 16 * 1024;

/** Moves bytes into the `ReadableStream` that is the body of a Fetch `Response`. */
class ReadableStreamTransport implements Transport {
  readonly #signal: AbortSignal;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #sink: TransportSink | undefined;
  /** The body was closed, errored or cancelled: the controller must not be touched again. */
  #done = false;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  get writableLength(): number {
    const desired = this.#done ? null : (this.#controller?.desiredSize ?? null);
    return desired === null ? 0 : Math.max(0, BODY_HIGH_WATER_MARK - desired);
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  /** The reader wants more (the body's queue is below its high-water mark). */
  pull(): void {
    this.#sink?.drain();
  }

  /** The reader cancelled the body: the client went away. */
  cancel(): void {
    this.#done = true;
    this.#sink?.gone('client');
  }

  write(chunk: Uint8Array): boolean {
    const controller = this.#controller;
    if (this.#done || controller === undefined) return false;
    controller.enqueue(chunk);
    return (controller.desiredSize ?? 0) > 0;
  }

  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller?.close();
  }

  abort(): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller?.error(
      new Error(
        'herald: event stream aborted because the client did not keep up (queue overflow or stalled)',
      ),
    );
  }

  attach(sink: TransportSink): boolean {
    if (this.#signal.aborted) return false;
    this.#sink = sink;
    this.#signal.addEventListener('abort', this.#onAbort);
    return true;
  }

  detach(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
  }

  // Servers that implement the Fetch API abort `request.signal` when the client disconnects.
  // The body then ends normally: nobody reads it any more, and an error would only be logged
  // as a failure by servers that report body errors (e.g. @hono/node-server).
  #onAbort = (): void => {
    this.#sink?.gone('client');
    if (!this.#done) {
      this.#done = true;
      this.#controller?.close();
    }
  };
}

class FetchEventStreamCore extends EventStreamCore implements FetchEventStream {
  readonly response: Response;

  constructor(
    transport: Transport,
    options: ResolvedOptions,
    lastEventId: string,
    response: Response,
  ) {
    super(transport, options, lastEventId);
    this.response = response;
  }

  toResponse(): Response {
    return this.response;
  }
}

/**
 * Creates an event stream for a Web-standard (Fetch API) handler — Hono, Bun, Deno, Cloudflare
 * Workers, Node's fetch-style adapters: return `stream.response` from the handler and keep
 * `stream` to send events.
 *
 * ```ts
 * app.get('/events', (c) => {
 *   const stream = createEventStreamResponse(c.req.raw, { onClose: () => unsubscribe() });
 *   const unsubscribe = feed.subscribe((tick) => stream.send({ event: 'tick', data: tick }));
 *   return stream.response;
 * });
 * ```
 *
 * The body is a `ReadableStream` whose high-water mark (16 KiB) plays the role of the socket
 * buffer: beyond it, events wait in the stream's bounded queue (`queueBytes`, `overflow`).
 * The stream closes with reason `'client'` when the body is cancelled or `request.signal`
 * aborts. No `Connection` header is set: the HTTP version is not known here, and HTTP/1.1
 * servers keep the connection alive by default.
 *
 * @param request - the incoming request (for `Last-Event-ID`, `lastEventID`, `signal`)
 * @param options - see {@link EventStreamOptions}
 * @throws HeraldStreamError for an invalid option
 */
export function createEventStreamResponse(
  request: Request,
  options?: EventStreamOptions,
): FetchEventStream {
  const resolved = resolveOptions(options);
  const lastEventId = readLastEventId(request.headers.get('last-event-id'), request.url);
  const transport = new ReadableStreamTransport(request.signal);
  // A plain (not 'bytes') ReadableStream: a byte stream would transfer, and so detach, each
  // chunk — and the same bytes are shared by every subscriber of an event.
  const body = new ReadableStream<Uint8Array>(
    {
      start: (controller) => transport.start(controller),
      pull: () => transport.pull(),
      cancel: () => transport.cancel(),
    },
    new ByteLengthQueuingStrategy({ highWaterMark: BODY_HIGH_WATER_MARK }),
  );
  const headers = new Headers();
  for (const [name, value] of eventStreamHeaders(
    { allowConnectionHeaders: false, keepAlive: false },
    resolved.headers,
  )) {
    if (typeof value === 'object') for (const item of value) headers.append(name, item);
    else headers.set(name, String(value));
  }
  const response = new Response(body, { status: 200, headers });
  return new FetchEventStreamCore(transport, resolved, lastEventId, response);
}
