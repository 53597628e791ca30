import {
  type Agent,
  type ClientRequest,
  get as httpGet,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import type { Readable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Collector, withTimeout } from './async.js';

/**
 * Reads an event stream off a Node readable (an http response, an http2 stream, a socket) and
 * keeps both the raw text and the parsed events. Parsing uses the independent
 * `eventsource-parser` package, so tests do not trust herald's own parser.
 */
export class StreamReader {
  /** Every chunk as text, in order; `text` is their concatenation. */
  readonly chunks = new Collector<string>();
  readonly events = new Collector<EventSourceMessage>();
  readonly comments = new Collector<string>();
  readonly retries = new Collector<number>();
  readonly ended: Promise<void>;
  #text = '';
  readonly #decoder = new TextDecoder();
  readonly #parser = createParser({
    onEvent: (event) => this.events.push(event),
    onComment: (comment) => this.comments.push(comment),
    onRetry: (retry) => this.retries.push(retry),
  });

  constructor(readable: Readable) {
    readable.on('data', (chunk: Uint8Array | string) => this.feed(chunk));
    this.ended = new Promise((resolve) => {
      readable.once('end', () => resolve());
      readable.once('close', () => resolve());
      readable.once('error', () => resolve());
    });
  }

  get text(): string {
    return this.#text;
  }

  feed(chunk: Uint8Array | string): void {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    this.#text += text;
    this.#parser.feed(text);
    this.chunks.push(text);
  }

  /** Resolves once the accumulated text satisfies `check`. */
  untilText(check: (text: string) => boolean, what: string, ms?: number): Promise<string> {
    return this.chunks.until(() => check(this.#text), what, ms).then(() => this.#text);
  }

  /** Resolves when the stream ended (end, close or error). */
  end(what = 'the end of the stream', ms?: number): Promise<void> {
    return withTimeout(this.ended, what, ms);
  }
}

/** Reads a WHATWG `ReadableStream` of bytes (a Fetch body) into a {@link StreamReader}-like. */
export class WebStreamReader {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly chunks = new Collector<string>();
  readonly events = new Collector<EventSourceMessage>();
  readonly done: Promise<'done' | 'error'>;
  #text = '';
  readonly #decoder = new TextDecoder();
  readonly #parser = createParser({ onEvent: (event) => this.events.push(event) });

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
    this.done = this.#pump();
  }

  get text(): string {
    return this.#text;
  }

  async #pump(): Promise<'done' | 'error'> {
    try {
      for (;;) {
        const { done, value } = await this.reader.read();
        if (done) return 'done';
        const text = this.#decoder.decode(value, { stream: true });
        this.#text += text;
        this.#parser.feed(text);
        this.chunks.push(text);
      }
    } catch {
      return 'error';
    }
  }

  untilText(check: (text: string) => boolean, what: string, ms?: number): Promise<string> {
    return this.chunks.until(() => check(this.#text), what, ms).then(() => this.#text);
  }
}

/** A raw HTTP/1.1 GET of an event stream: the response (headers) and a reader of its body. */
export interface OpenedStream {
  req: ClientRequest;
  res: IncomingMessage;
  reader: StreamReader;
}

/**
 * GETs `url` with node:http and resolves once the response headers arrived, with a
 * {@link StreamReader} already attached to the body. Without `agent`, a fresh connection is
 * used (and node:http then sends `Connection: close`).
 */
export function openStream(
  url: string,
  headers: OutgoingHttpHeaders = {},
  agent: Agent | false = false,
): Promise<OpenedStream> {
  return withTimeout(
    new Promise<OpenedStream>((resolve, reject) => {
      const req = httpGet(url, { headers, agent }, (res) =>
        resolve({ req, res, reader: new StreamReader(res) }),
      );
      // Stays attached: a test that destroys the request later must not crash on its error.
      req.on('error', reject);
    }),
    `response headers from ${url}`,
  );
}
