// subscribe() / subscribeHub() over real sockets: against Herald's hub (dedupe across a replay
// that repeats events, gap reports, typed JSON with a schema, the Mercure URL and token), a
// POST stream sent once by default and resent only when asked, the heartbeat watchdog, abort,
// and iteration.
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  type GapInfo,
  type HeraldClientError,
  type InvalidEventInfo,
  type StandardSchemaV1,
  subscribe,
  subscribeHub,
} from '../../src/client/index.js';
import { createHub, type Hub, type Subscription } from '../../src/index.js';
import { Collector, deferred, withTimeout } from '../helpers/async.js';
import { closeServer, listen } from '../helpers/net.js';

/** A request the test server received. */
interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  req: IncomingMessage;
  res: ServerResponse;
}

let server: http.Server;
let origin: string;
const routes = new Map<string, (seen: Seen) => void>();

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const route = routes.get(url.pathname);
      if (route === undefined) res.writeHead(404).end();
      else
        route({
          method: req.method ?? '',
          path: url.pathname,
          headers: req.headers,
          body,
          req,
          res,
        });
    });
  });
  origin = `http://127.0.0.1:${await listen(server)}`;
});

after(() => closeServer(server));

/** Registers `handler` at a fresh path; returns its URL and the requests it saw. */
function route(
  name: string,
  handler: (seen: Seen, n: number) => void,
): { url: string; seen: Collector<Seen> } {
  const seen = new Collector<Seen>();
  const path = `/${name}`;
  routes.set(path, (request) => {
    seen.push(request);
    handler(request, seen.items.length);
  });
  return { url: `${origin}${path}`, seen };
}

/** Fast reconnection for tests. */
const fast = { minDelayMs: 5, maxDelayMs: 20 };

describe('subscribe against the hub', () => {
  let hub: Hub;
  before(() => {
    hub = createHub({ heartbeatMs: 0 });
  });
  after(() => hub.close());

  test('dedupe: a replay that repeats delivered events yields each event once', async () => {
    const subs: Subscription[] = [];
    const { url, seen } = route('dedupe', ({ req, res }, n) => {
      // The second connection replays the whole history (as a server that lost the client's
      // position would): every event the client already has comes again.
      subs.push(
        hub.subscribe(req, res, {
          topics: ['dedupe'],
          lastEventId: n === 1 ? undefined : 'earliest',
        }),
      );
    });
    const got = new Collector<string>();
    const sub = subscribe(url, { ...fast, onEvent: (e) => got.push(`${e.lastEventId}=${e.data}`) });
    try {
      await seen.count(1, 'the first connection');
      await subs[0]!.ready;
      const ids: string[] = [];
      for (const data of ['a', 'b', 'c'])
        ids.push((await hub.publish({ topics: 'dedupe', data })).id);
      await got.count(3, 'three live events');
      subs[0]!.close();
      await seen.count(2, 'the reconnection');
      assert.equal(seen.items[1]!.headers['last-event-id'], ids[2], 'it resumed after the last id');
      await subs[1]!.ready;
      for (const data of ['d', 'e']) ids.push((await hub.publish({ topics: 'dedupe', data })).id);
      await got.count(5, 'five events');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(
        got.items,
        ['a', 'b', 'c', 'd', 'e'].map((data, i) => `${ids[i]}=${data}`),
      );
    } finally {
      sub.close();
    }
  });

  test('gap: a herald.gap event calls onGap; the replay from the oldest retained event follows', async () => {
    const small = createHub({ heartbeatMs: 0, history: { maxEvents: 2 } });
    try {
      const published: string[] = [];
      for (const data of ['1', '2', '3', '4'])
        published.push((await small.publish({ topics: 'gap', data })).id);
      const { url } = route('gap', ({ req, res }) =>
        small.subscribe(req, res, { topics: ['gap'] }),
      );
      const gaps: GapInfo[] = [];
      const got = new Collector<string>();
      const sub = subscribe(url, {
        ...fast,
        lastEventId: published[0],
        onGap: (gap) => gaps.push(gap),
        onEvent: (e) => got.push(e.data),
      });
      try {
        await got.count(2, 'the retained events');
        assert.deepEqual(gaps, [{ lastEventId: published[0], oldestAvailable: published[2] }]);
        assert.deepEqual(got.items, ['3', '4']);
      } finally {
        sub.close();
      }
    } finally {
      await small.close();
    }
  });

  test('typed JSON with a schema: invalid payloads go to onInvalid, bad JSON to onError', async () => {
    interface Quote {
      symbol: string;
      price: number;
    }
    const quote: StandardSchemaV1<unknown, Quote> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (value) => {
          const v = value as Partial<Quote> | null;
          return typeof v?.symbol === 'string' && typeof v.price === 'number'
            ? { value: { symbol: v.symbol, price: v.price } }
            : { issues: [{ message: 'expected { symbol: string, price: number }' }] };
        },
      },
    };
    const { url } = route('typed', ({ req, res }) =>
      hub.subscribe(req, res, { topics: ['typed'] }),
    );
    const ready = deferred();
    const quotes = new Collector<Quote>();
    const invalid: InvalidEventInfo[] = [];
    const errors: HeraldClientError[] = [];
    const sub = subscribe<{ tick: Quote }>(url, {
      ...fast,
      json: true,
      schema: { tick: quote },
      onOpen: () => ready.resolve(),
      onInvalid: (info) => invalid.push(info),
      onError: (error) => errors.push(error),
    });
    sub.on('tick', (q) => quotes.push(q));
    try {
      await withTimeout(ready.promise, 'the stream to open');
      await hub.publish({ topics: 'typed', type: 'tick', data: { symbol: 'ACME', price: 1 } });
      await hub.publish({ topics: 'typed', type: 'tick', data: { symbol: 'ACME' } });
      await hub.publish({ topics: 'typed', type: 'tick', data: 'not json at all' });
      await hub.publish({ topics: 'typed', type: 'tick', data: { symbol: 'ACME', price: 2 } });
      await quotes.count(2, 'two valid quotes');
      assert.deepEqual(quotes.items, [
        { symbol: 'ACME', price: 1 },
        { symbol: 'ACME', price: 2 },
      ]);
      assert.equal(invalid.length, 1);
      assert.deepEqual(invalid[0]!.data, { symbol: 'ACME' });
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.code, 'INVALID_JSON');
      assert.equal(errors[0]!.raw, 'not json at all');
    } finally {
      sub.close();
    }
  });

  test('subscribeHub: topic parameters and the bearer token reach the hub', async () => {
    const { url, seen } = route('.well-known/mercure', ({ req, res }) => {
      const topics = new URL(req.url ?? '/', origin).searchParams.getAll('topic');
      hub.subscribe(req, res, { topics });
    });
    const got = new Collector<string>();
    const sub = subscribeHub(url, {
      ...fast,
      topics: ['/books/{id}', '/authors/1'],
      token: 'secret-jwt',
      onEvent: (e) => got.push(e.data),
    });
    try {
      await seen.count(1, 'the subscription');
      assert.equal(seen.items[0]!.headers.authorization, 'Bearer secret-jwt');
      await new Promise((resolve) => setTimeout(resolve, 20));
      await hub.publish({ topics: '/books/42', data: 'book' });
      await hub.publish({ topics: '/authors/2', data: 'not subscribed' });
      await hub.publish({ topics: '/authors/1', data: 'author' });
      await got.count(2, 'the matching events');
      assert.deepEqual(got.items, ['book', 'author']);
    } finally {
      sub.close();
    }
  });
});

describe('subscribe over plain streams', () => {
  test("POST stream with reconnect: 'always': method, body and headers are sent again on reconnection, with Last-Event-ID", async () => {
    const { url, seen } = route('post', ({ res }, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'close' });
      res.end(n === 1 ? 'id: t1\ndata: Hel\n\n' : 'id: t2\ndata: lo\n\n');
    });
    const got = new Collector<string>();
    const sub = subscribe(url, {
      ...fast,
      reconnect: 'always',
      method: 'POST',
      body: JSON.stringify({ prompt: 'Hello' }),
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      onEvent: (e) => got.push(e.data),
    });
    try {
      await got.count(2, 'two tokens');
      const [first, second] = seen.items;
      for (const request of [first!, second!]) {
        assert.equal(request.method, 'POST');
        assert.equal(request.body, '{"prompt":"Hello"}');
        assert.equal(request.headers.authorization, 'Bearer k');
        assert.equal(request.headers['content-type'], 'application/json');
        assert.equal(request.headers.accept, 'text/event-stream');
      }
      assert.equal(first!.headers['last-event-id'], undefined);
      assert.equal(second!.headers['last-event-id'], 't1');
    } finally {
      sub.close();
    }
  });

  test('POST stream: sent once; its end closes the subscription normally, no error, no second request', async () => {
    const { url, seen } = route('post-once', ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('id: t1\ndata: Hel\n\nid: t2\ndata: lo\n\n');
    });
    const errors: string[] = [];
    const got: string[] = [];
    const sub = subscribe(url, {
      ...fast,
      method: 'POST',
      body: JSON.stringify({ prompt: 'Hello' }),
      onError: (error) => errors.push(error.code),
    });
    // The iterator ends (it does not throw) when the answer is complete.
    for await (const event of sub) got.push(event.data);
    assert.deepEqual(got, ['Hel', 'lo']);
    assert.equal(await sub.closed, undefined);
    assert.equal(sub.readyState, 2);
    assert.deepEqual(errors, []);
    // Closed for good: nothing is scheduled, so no request can follow.
    assert.equal(seen.items.length, 1);
  });

  test('POST stream: a network failure is final, not a resend', async () => {
    const { url, seen } = route('post-broken', ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('id: t1\ndata: Hel\n\n');
    });
    const got = new Collector<string>();
    const sub = subscribe(url, {
      ...fast,
      method: 'POST',
      body: 'prompt',
      onEvent: (e) => got.push(e.data),
    });
    // The connection breaks once the event arrived (Bun's fetch drops bytes still unread when
    // the socket is reset, so destroying right after the write could lose the event first).
    await got.count(1, 'the event before the failure');
    (await seen.count(1, 'the request'))[0]!.res.destroy();
    const reason = await withTimeout(sub.closed, 'the failure');
    assert.equal(reason?.code, 'NETWORK');
    assert.deepEqual(got.items, ['Hel']);
    assert.equal(seen.items.length, 1);
  });

  test("reconnect: 'never' sends a GET once; reconnect 'auto' resends an idempotent PUT", async () => {
    const once = route('get-once', ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: only\n\n');
    });
    const sub = subscribe(once.url, { ...fast, reconnect: 'never' });
    assert.equal(await withTimeout(sub.closed, 'the end'), undefined);
    assert.equal(once.seen.items.length, 1);

    const put = route('put', ({ res }, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${n}\n\n`);
    });
    const got = new Collector<string>();
    const again = subscribe(put.url, { ...fast, method: 'PUT', onEvent: (e) => got.push(e.data) });
    await got.count(2, 'a second PUT');
    again.close();
    assert.deepEqual(
      put.seen.items.slice(0, 2).map((request) => request.method),
      ['PUT', 'PUT'],
    );
  });

  test('watchdog: a stream silent for idleTimeoutMs is dropped and resumed', async () => {
    const { url, seen } = route('quiet', ({ res }, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Then silence (the first time); the server never ends it.
      res.write(n === 1 ? 'id: q1\ndata: before the silence\n\n' : 'data: after\n\n');
    });
    const errors: string[] = [];
    const got = new Collector<string>();
    const sub = subscribe(url, {
      ...fast,
      idleTimeoutMs: 150,
      onError: (error) => errors.push(error.code),
      onEvent: (e) => got.push(e.data),
    });
    try {
      await got.count(2, 'an event on each connection');
      assert.equal(errors[0], 'IDLE_TIMEOUT');
      assert.equal(seen.items[1]!.headers['last-event-id'], 'q1');
      const dropped = deferred();
      seen.items[0]!.req.socket.once('close', () => dropped.resolve());
      if (!seen.items[0]!.req.socket.destroyed)
        await withTimeout(dropped.promise, 'the first socket to close');
    } finally {
      sub.close();
    }
  });

  test('abort: the iterator ends and the server sees the request go away', async () => {
    const { url, seen } = route('abort', ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
    });
    const controller = new AbortController();
    const sub = subscribe(url, { ...fast, signal: controller.signal });
    const got: string[] = [];
    for await (const event of sub) {
      got.push(event.data);
      controller.abort();
    }
    assert.deepEqual(got, ['one']);
    assert.equal(sub.readyState, 2);
    const request = seen.items[0]!;
    if (!request.res.closed) {
      const gone = deferred();
      request.res.once('close', () => gone.resolve());
      await withTimeout(gone.promise, 'the server to see the client leave');
    }
  });

  test('async iteration ends when close() is called; a failure ends it with the error', async () => {
    const { url } = route('iterate', ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\ndata: 2\n\ndata: 3\n\n');
    });
    const sub = subscribe(url, fast);
    const got: string[] = [];
    for await (const event of sub) {
      got.push(event.data);
      if (got.length === 3) sub.close();
    }
    assert.deepEqual(got, ['1', '2', '3']);
    assert.equal(await sub.closed, undefined);

    const { url: gone } = route('gone', ({ res }) => res.writeHead(404).end('no such stream'));
    const failing = subscribe(gone, fast);
    await assert.rejects(
      (async () => {
        for await (const _ of failing) assert.fail('no event');
      })(),
      (error: HeraldClientError) => error.code === 'BAD_STATUS' && error.response?.status === 404,
    );
  });

  test('retryOn: 503 then 200 delivers; 204 stops for good', async () => {
    const { url } = route('flaky', ({ res }, n) => {
      if (n < 3) res.writeHead(503, { 'retry-after': '0' }).end();
      else {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: finally\n\n');
      }
    });
    const errors: number[] = [];
    const sub = subscribe(url, {
      ...fast,
      retryOn: [503],
      onError: (error) => errors.push(error.response?.status ?? 0),
    });
    for await (const event of sub) {
      assert.equal(event.data, 'finally');
      break;
    }
    assert.deepEqual(errors, [503, 503]);

    const { url: done } = route('no-content', ({ res }) => res.writeHead(204).end());
    const stopped = subscribe(done, { ...fast, retryOn: [503] });
    const reason = await stopped.closed;
    assert.equal(reason?.code, 'BAD_STATUS');
    assert.equal(reason?.response?.status, 204);
  });
});
