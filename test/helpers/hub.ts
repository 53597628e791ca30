// Helpers for the hub's integration tests: a server that hands each request to a hub (and tells
// the test which Subscription it created), a raw-socket SSE reader whose reading a test can
// pause, and sequence comparison with readable failures.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Subscription } from '../../src/index.js';
import { Collector, withTimeout } from './async.js';
import { startHttpServer, type TestHttpServer } from './server.js';

/** One request the hub server accepted, with what the hub made of it. */
export interface Subscribed {
  /** The `client` query parameter (or `''`), so a test can tell its clients apart. */
  name: string;
  sub: Subscription;
  req: IncomingMessage;
  res: ServerResponse;
}

/** A test server whose handler subscribes each request to a hub. */
export interface HubServer extends TestHttpServer {
  /** Every subscription the server made, in order. */
  subscribed: Collector<Subscribed>;
  /** Resolves with the `n`-th (0-based) subscription of client `name`. */
  nth(name: string, n: number, what?: string): Promise<Subscribed>;
  /** The newest subscription of client `name`, if any. */
  latest(name: string): Subscribed | undefined;
}

/**
 * Starts a node:http server on a free port whose every request is handed to `subscribe` (which
 * calls `hub.subscribe(req, res, …)` and returns the subscription). Errors thrown by `subscribe`
 * become `400` answers with the error's message, so a test sees them.
 */
export async function startHubServer(
  subscribe: (req: IncomingMessage, res: ServerResponse, url: URL) => Subscription,
): Promise<HubServer> {
  const subscribed = new Collector<Subscribed>();
  const byName = new Map<string, Subscribed[]>();
  const server = await startHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let sub: Subscription;
    try {
      sub = subscribe(req, res, url);
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
      return;
    }
    const name = url.searchParams.get('client') ?? '';
    const entry: Subscribed = { name, sub, req, res };
    const list = byName.get(name);
    if (list === undefined) byName.set(name, [entry]);
    else list.push(entry);
    subscribed.push(entry);
  });
  return {
    ...server,
    subscribed,
    async nth(name, n, what = `subscription #${n} of client ${JSON.stringify(name)}`) {
      await subscribed.until(() => (byName.get(name)?.length ?? 0) > n, what);
      return byName.get(name)![n]!;
    },
    latest(name) {
      return byName.get(name)?.at(-1);
    },
  };
}

/** The repeated `topic` query parameters of a request (Mercure's subscribe API). */
export function topicsOf(url: URL): string[] {
  return url.searchParams.getAll('topic');
}

/** A parsed event as the tests compare it. */
export interface Received {
  type: string;
  id: string | undefined;
  data: string;
}

/** Turns an eventsource-parser message into a {@link Received}. */
export function received(event: EventSourceMessage): Received {
  return { type: event.event ?? 'message', id: event.id, data: event.data };
}

/**
 * Asserts that two sequences are equal, reporting the first difference (and the lengths) instead
 * of a diff of thousands of elements.
 */
export function assertSameSequence<T>(
  actual: readonly T[],
  expected: readonly T[],
  what: string,
  show: (value: T | undefined) => string = (value) => JSON.stringify(value),
): void {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(
        `${what}: first difference at index ${i}: got ${show(actual[i])}, expected ${show(expected[i])} (lengths ${actual.length} / ${expected.length}; previous ${show(expected[i - 1])})`,
      );
    }
  }
  if (actual.length !== expected.length) {
    const extra = actual.length > expected.length ? actual[n] : expected[n];
    assert.fail(
      `${what}: got ${actual.length} items, expected ${expected.length}; first ${
        actual.length > expected.length ? 'unexpected' : 'missing'
      } one: ${show(extra)}`,
    );
  }
}

/** Asserts that no item occurs twice in `values`. */
export function assertNoDuplicates<T>(values: readonly T[], what: string): void {
  const seen = new Set<T>();
  for (const value of values) {
    if (seen.has(value)) assert.fail(`${what}: ${JSON.stringify(value)} arrived twice`);
    seen.add(value);
  }
}

/**
 * An HTTP/1.1 event-stream client on a bare TCP socket, so a test decides when bytes are read:
 * `pause()` stops reading (the kernel buffers fill and the server's writes back up), `resume()`
 * reads on. It decodes the response head and a chunked body itself and parses events with the
 * independent `eventsource-parser`.
 */
export class RawSseSocket {
  readonly socket: Socket;
  /** Status code and lower-cased headers, once the response head arrived. */
  readonly head: Promise<{ status: number; headers: Map<string, string> }>;
  readonly events = new Collector<Received>();
  readonly retries = new Collector<number>();
  /** Resolves when the socket closed (server end, reset or destroy). */
  readonly closed: Promise<void>;

  #buffer: Buffer = Buffer.alloc(0);
  #inBody = false;
  #chunked = false;
  /** Bytes left in the current chunk, or -1 when a chunk-size line is expected next. */
  #chunkLeft = -1;
  /** Bytes of a chunk's trailing CRLF still to skip. */
  #crlfLeft = 0;
  readonly #decoder = new TextDecoder();
  readonly #parser = createParser({
    onEvent: (event) => this.events.push(received(event)),
    onRetry: (ms) => this.retries.push(ms),
  });
  #resolveHead!: (head: { status: number; headers: Map<string, string> }) => void;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.head = withTimeout(
      new Promise((resolve) => {
        this.#resolveHead = resolve;
      }),
      'the response head on a raw socket',
      30_000,
    );
    this.head.catch(() => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {}); // a reset is how an overflowed stream ends
    socket.on('data', (chunk: Buffer) => this.#feed(chunk));
  }

  /**
   * Connects to 127.0.0.1:`port` and sends `GET path`. With `paused`, nothing is read until
   * `resume()` (not even the response head).
   */
  static async open(
    port: number,
    path: string,
    options: { headers?: Record<string, string>; paused?: boolean } = {},
  ): Promise<RawSseSocket> {
    const socket = connect(port, '127.0.0.1');
    const client = new RawSseSocket(socket);
    if (options.paused === true) socket.pause();
    await withTimeout(once(socket, 'connect'), 'a TCP connection');
    const extra = Object.entries(options.headers ?? {})
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${extra}\r\n`,
    );
    return client;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  #feed(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (!this.#inBody) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const lines = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]?.split(' ')[1]);
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      this.#chunked = headers.get('transfer-encoding')?.toLowerCase() === 'chunked';
      this.#inBody = true;
      this.#buffer = this.#buffer.subarray(end + 4);
      this.#resolveHead({ status, headers });
    }
    if (!this.#chunked) {
      this.#body(this.#buffer);
      this.#buffer = Buffer.alloc(0);
      return;
    }
    for (;;) {
      if (this.#crlfLeft > 0) {
        // The CRLF that ends a chunk's data (it may come in a later packet than the data).
        const skip = Math.min(this.#crlfLeft, this.#buffer.length);
        this.#buffer = this.#buffer.subarray(skip);
        this.#crlfLeft -= skip;
        if (this.#crlfLeft > 0) return;
      }
      if (this.#chunkLeft === -1) {
        const lineEnd = this.#buffer.indexOf('\r\n');
        if (lineEnd === -1) return;
        this.#chunkLeft = Number.parseInt(this.#buffer.subarray(0, lineEnd).toString('latin1'), 16);
        this.#buffer = this.#buffer.subarray(lineEnd + 2);
        if (this.#chunkLeft === 0) return; // the last chunk: the response ended
      }
      if (this.#buffer.length === 0) return;
      const take = Math.min(this.#chunkLeft, this.#buffer.length);
      this.#body(this.#buffer.subarray(0, take));
      this.#buffer = this.#buffer.subarray(take);
      this.#chunkLeft -= take;
      if (this.#chunkLeft > 0) return;
      this.#chunkLeft = -1;
      this.#crlfLeft = 2;
    }
  }

  #body(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#parser.feed(this.#decoder.decode(bytes, { stream: true }));
  }
}
