// Herald example: a live stock ticker.
//
//   npm run example:ticker        → http://127.0.0.1:3001
//
// The server simulates quotes for a handful of symbols and publishes each one to its symbol's
// own topic (`/quotes/AAPL`, `/quotes/MSFT`, …) on a hub embedded in this node:http server.
// The page subscribes to the topics it shows; on its first visit it gets the newest quotes of
// each symbol at once (`replayLast`) to draw the sparklines, and when it comes back — after a
// reload, a network blip or a server restart — it sends `Last-Event-ID` and gets exactly the
// quotes it missed.
//
// Environment: PORT (3001), HOST (127.0.0.1), DATA_DIR (where the journal lives; default a
// folder in the OS temp dir), TICK_MS (how often quotes move; 500).
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHub } from '../../src/index.js';
// The journal that lets the hub's history survive a restart: ../_shared/journal.ts.
import { Journal } from '../_shared/journal.js';
// Serves public/ and the herald/client bundle (built in memory): ../_shared/static.ts.
import { staticFiles } from '../_shared/static.js';

const PORT = Number(process.env.PORT ?? 3001);
const HOST = process.env.HOST ?? '127.0.0.1';
const DATA_DIR = process.env.DATA_DIR ?? join(tmpdir(), 'herald-example-ticker');
const TICK_MS = Number(process.env.TICK_MS ?? 500);
/** Events kept for replay: about 10 minutes of quotes at the default pace. */
const HISTORY = 3000;
/** Quotes of each symbol a first-time page gets at once, for its sparklines. */
const SPARKLINE_POINTS = 60;

/** The symbols, with the reference price ("previous close") changes are measured against. */
const SYMBOLS = [
  { symbol: 'AAPL', name: 'Apple', reference: 189.5 },
  { symbol: 'MSFT', name: 'Microsoft', reference: 415.2 },
  { symbol: 'GOOG', name: 'Alphabet', reference: 172.8 },
  { symbol: 'AMZN', name: 'Amazon', reference: 181.3 },
  { symbol: 'NVDA', name: 'NVIDIA', reference: 121.4 },
  { symbol: 'TSLA', name: 'Tesla', reference: 248.9 },
  { symbol: 'META', name: 'Meta Platforms', reference: 503.6 },
  { symbol: 'NFLX', name: 'Netflix', reference: 684.1 },
];

/** What each `quote` event carries (as JSON). */
interface Quote {
  symbol: string;
  price: number;
  change: number;
  changePct: number;
  time: number;
}

const topicOf = (symbol: string): string => `/quotes/${symbol}`;

// 1. The hub, and the journal (../_shared/journal.ts) that lets its history survive a restart.
const hub = createHub({ history: { maxEvents: HISTORY } });
const journal = new Journal(DATA_DIR, 'ticker', HISTORY);
// Publish what the journal holds, with its original ids, before anyone can connect: a page
// resuming after `Last-Event-ID` finds that id in history again.
for (const entry of journal.entries) await hub.publish(entry);

// 2. The simulation: prices continue from the last journaled quote of each symbol.
const prices = new Map(SYMBOLS.map((s) => [s.symbol, s.reference]));
for (const entry of journal.entries) {
  const quote = JSON.parse(entry.data) as Quote;
  prices.set(quote.symbol, quote.price);
}

async function publishQuote(symbol: string, reference: number): Promise<void> {
  const last = prices.get(symbol) ?? reference;
  // A small random walk (±0.4 % per move), pulled gently back towards the reference.
  const drift = (reference - last) / reference / 50;
  const price = Math.max(
    1,
    Math.round(last * (1 + drift + (Math.random() - 0.5) * 0.008) * 100) / 100,
  );
  prices.set(symbol, price);
  const change = Math.round((price - reference) * 100) / 100;
  const quote: Quote = {
    symbol,
    price,
    change,
    changePct: Math.round((change / reference) * 10_000) / 100,
    time: Date.now(),
  };
  // Journal first (a crash after this line loses nothing), then publish with the same id.
  const entry = journal.append({
    topics: [topicOf(symbol)],
    type: 'quote',
    data: JSON.stringify(quote),
  });
  await hub.publish(entry);
}

// Every tick, one to three symbols move.
const timer = setInterval(() => {
  const moves = 1 + Math.floor(Math.random() * 3);
  const shuffled = [...SYMBOLS].sort(() => Math.random() - 0.5);
  for (const s of shuffled.slice(0, moves)) {
    publishQuote(s.symbol, s.reference).catch((error: unknown) => console.error(error));
  }
}, TICK_MS);

// 3. HTTP: the page, the symbol list, the event stream.
const serveStatic = await staticFiles(fileURLToPath(new URL('./public', import.meta.url)));
const json = (res: import('node:http').ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
};

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');

  if (url.pathname === '/events') {
    // GET /events?topic=/quotes/AAPL&topic=/quotes/MSFT — one `topic` per symbol, as a
    // Mercure hub takes them (the page uses `subscribeHub` from herald/client).
    const topics = url.searchParams.getAll('topic');
    if (topics.length === 0 || !topics.every((t) => SYMBOLS.some((s) => topicOf(s.symbol) === t))) {
      json(res, 400, { error: 'subscribe with ?topic=/quotes/<SYMBOL>, once per symbol' });
      return;
    }
    // The hub reads `Last-Event-ID` itself: with one, it replays what came after it; without,
    // `replayLast` sends the newest quotes of each symbol first. Then live quotes follow.
    hub.subscribe(req, res, { topics, replayLast: SPARKLINE_POINTS });
    return;
  }
  if (url.pathname === '/api/symbols') {
    json(res, 200, SYMBOLS);
    return;
  }
  if (url.pathname === '/debug/published') {
    // The ids this server has published (history included), for the end-to-end test.
    json(
      res,
      200,
      journal.entries.map((e) => ({ id: e.id, topics: e.topics })),
    );
    return;
  }
  if (await serveStatic(req, res)) return;
  json(res, 404, { error: `nothing at ${url.pathname}` });
});

server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${PORT}`);
});

// Ctrl-C / SIGTERM: the hub sends every page a `retry:` hint and ends its stream, so pages come
// back (with Last-Event-ID) once the server is up again.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    clearInterval(timer);
    await hub.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
