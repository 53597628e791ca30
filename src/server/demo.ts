import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventFields } from '../protocol/index.js';
import { createEventStream, type EventStream } from '../stream/index.js';
import { DEMO_PAGE } from './demo-page.js';

/** Options of {@link startDemoServer}. */
export interface DemoServerOptions {
  /** Interface to listen on. Default: every interface (like Node's `listen`). */
  host?: string;
  /** Port to listen on; `0` picks a free one. Default `8080`. */
  port?: number;
  /** Milliseconds between clock ticks. Default 1000. */
  tickMs?: number;
  /** Milliseconds between quote updates. Default 500. */
  quoteMs?: number;
}

/** A running demo server. */
export interface DemoServer {
  /** Where the page is served, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  /** Ends every open stream (clients reconnect and resume); the server keeps listening. */
  dropStreams(): void;
  /** Ends every stream and stops listening. */
  close(): Promise<void>;
}

const SYMBOLS = ['HRLD', 'ACME', 'INIT', 'GLOB', 'NOVA'];
/** How many recent events the demo keeps to resume a reconnecting page. */
const RECENT = 256;

/**
 * Starts the demo that `npm start` runs until the hub exists: a page at `/` and an event stream
 * at `/events` carrying a clock (`tick`) and simulated stock quotes (`quote`). A reconnecting
 * client gets the events it missed, as long as they are among the last 256.
 */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const streams = new Set<EventStream>();
  const recent: Array<EventFields & { id: string }> = [];
  const prices = new Map(SYMBOLS.map((s, i) => [s, 50 + i * 37.5]));
  let seq = 0;

  const publish = (event: string, data: unknown): void => {
    seq += 1;
    const fields = { id: String(seq), event, data: JSON.stringify(data) };
    recent.push(fields);
    if (recent.length > RECENT) recent.shift();
    for (const stream of streams) stream.send(fields);
  };

  const tick = setInterval(() => publish('tick', { time: Date.now() }), options.tickMs ?? 1000);
  const quote = setInterval(() => {
    const symbol = SYMBOLS[Math.floor(Math.random() * SYMBOLS.length)]!;
    const before = prices.get(symbol)!;
    const price = Math.max(1, before * (1 + (Math.random() - 0.5) * 0.02));
    prices.set(symbol, price);
    publish('quote', { symbol, price, change: price - before });
  }, options.quoteMs ?? 500);

  const subscribe = (req: IncomingMessage, res: ServerResponse): void => {
    const stream = createEventStream(req, res, { heartbeatMs: 15_000 });
    const after = Number(stream.lastEventId);
    if (stream.lastEventId !== '' && Number.isInteger(after)) {
      for (const fields of recent) if (Number(fields.id) > after) stream.send(fields);
    }
    streams.add(stream);
    stream.signal.addEventListener('abort', () => streams.delete(stream), { once: true });
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/events') return subscribe(req, res);
    if ((req.method === 'GET' || req.method === 'HEAD') && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : DEMO_PAGE);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Not found: the demo serves the page at / and the event stream at /events.\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host === undefined ? 'localhost' : options.host;

  const dropStreams = (): void => {
    for (const stream of streams) stream.close();
  };

  return {
    dropStreams,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: async () => {
      clearInterval(tick);
      clearInterval(quote);
      dropStreams();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
