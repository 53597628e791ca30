// The cases every framework adapter must pass (herald/adapters/*), run by one test file per
// framework against a real app of that framework: events through real clients, Last-Event-ID
// resume through the hub, nothing left behind after a disconnect, an invalid subscription
// answered by the hub, and compression middleware that must not hold events back.
//
// Each test file builds its app with `AppHooks` and serves:
//   GET /stream        the adapter's eventStream(…, hooks.streamOptions(seen)); hooks.streams.push(stream)
//   GET /sub?topic=…   the adapter's subscribe(hub, (…) => hooks.subscribeOptions(seen))
//   GET /bad           the adapter's subscribe(hub, { topics: [] }) — an invalid subscription
// with the framework's compression middleware in front of everything, and a middleware (or hook)
// that sets `X-App: <name>` the framework's way on every response.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import {
  createHub,
  type EventStream,
  type EventStreamOptions,
  type Hub,
  type SubscribeOptions,
  type Subscription,
} from '../../src/index.js';
import { Collector, deferred, waitFor, withTimeout } from './async.js';
import { assertSameSequence } from './hub.js';
import { closeServer } from './net.js';
import { type OpenedStream, openStream, type StreamReader } from './sse.js';

/** The node:http objects behind one request, as the app saw them before calling the adapter. */
export interface SeenRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** For Fetch-API adapters: the `Request`'s signal, the one thing herald listens to. */
  signal?: AbortSignal;
}

/** A request the app handed to the adapter, with its listeners just before that. */
export interface SeenEntry {
  path: '/stream' | '/sub';
  seen: SeenRequest;
  /** Listener counts of `req`, `res` and the socket before the adapter ran. */
  before: { req: Map<string, number>; res: Map<string, number>; socket: Map<string, number> };
  /** Resolves when `res` closed (listened to before the snapshot, like the app's own). */
  closed: Promise<void>;
}

/** What the shared cases give the app under test. */
export interface AppHooks {
  hub: Hub;
  /** Every stream `GET /stream` made, in order. */
  streams: Collector<EventStream>;
  /** Options for the adapter's `eventStream` on `GET /stream` (records the request). */
  streamOptions(seen: SeenRequest): EventStreamOptions;
  /** Options for the adapter's `subscribe` on `GET /sub` (records the request). */
  subscribeOptions(seen: SeenRequest): SubscribeOptions;
}

/** A framework app under test. */
export interface AdapterApp {
  /** The framework's node:http server, listening on 127.0.0.1. */
  server: Server;
  /** Extra shutdown after the server closed (a framework's own `close()`). */
  close?(): Promise<void>;
}

/** How one framework's adapter is run through the shared cases. */
export interface AdapterSuite {
  /** Shown in test names; also the `X-App` header value the app sets. */
  name: string;
  start(hooks: AppHooks): Promise<AdapterApp>;
  /**
   * Whether the response carries the hub's `Last-Event-ID` header (the node:http form of
   * `hub.subscribe`; not the Fetch form).
   */
  lastEventIdHeader: boolean;
}

/** What the app under test and the hooks know, for framework-specific tests. */
export interface AdapterHarness {
  readonly hub: Hub;
  readonly origin: string;
  readonly hooks: AppHooks;
  /** The subscription `GET /sub` made for the request with `client=<name>`. */
  subscription(name: string): Promise<Subscription>;
}

const ACCEPT_COMPRESSED = { 'Accept-Encoding': 'gzip, deflate, br' };

const activeTimeouts = (): number =>
  process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

/** `event:count` for every event an emitter has listeners for. */
function listenerCounts(emitter: ServerResponse | IncomingMessage | Socket): Map<string, number> {
  return new Map(emitter.eventNames().map((name) => [String(name), emitter.listenerCount(name)]));
}

/** Events whose listener count grew between two snapshots. */
function grown(before: Map<string, number>, now: Map<string, number>): string[] {
  return [...now]
    .filter(([name, count]) => count > (before.get(name) ?? 0))
    .map(([name, count]) => `${name}: ${before.get(name) ?? 0} -> ${count}`);
}

/**
 * Runs the shared adapter cases for `suite` (call at the top level of a test file) and returns
 * the harness, usable by the file's own tests once `before` ran.
 */
export function adapterCases(suite: AdapterSuite): AdapterHarness {
  const hub = createHub({ history: { maxEvents: 1000 } });
  const streams = new Collector<EventStream>();
  const seen = new Collector<SeenEntry>();
  const record = (path: SeenEntry['path'], request: SeenRequest): void => {
    const closed = new Promise<void>((resolve) => request.res.once('close', () => resolve()));
    seen.push({
      path,
      seen: request,
      before: {
        req: listenerCounts(request.req),
        res: listenerCounts(request.res),
        socket: listenerCounts(request.req.socket),
      },
      closed,
    });
  };
  // A subscription's `topics` is the very array its options held: the key back to the request.
  const byTopics = new Map<readonly string[], string>();
  const subscriptions = new Map<string, Subscription>();
  const subscribed = new Collector<string>();
  hub.on('subscribe', (sub) => {
    const name = byTopics.get(sub.topics);
    if (name === undefined) return;
    subscriptions.set(name, sub);
    subscribed.push(name);
  });

  const hooks: AppHooks = {
    hub,
    streams,
    streamOptions(request) {
      record('/stream', request);
      return { heartbeatMs: 60_000 };
    },
    subscribeOptions(request) {
      record('/sub', request);
      const url = new URL(request.req.url ?? '/', 'http://localhost');
      const topics = url.searchParams.getAll('topic');
      byTopics.set(topics, url.searchParams.get('client') ?? '');
      // A short retry, so the eventsource client comes back at once after the server ends it.
      return { topics, stream: { heartbeatMs: 60_000, retry: 10 } };
    },
  };

  let app: AdapterApp;
  let origin = '';
  before(async () => {
    app = await suite.start(hooks);
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    origin = `http://127.0.0.1:${address.port}`;
  });
  after(async () => {
    await hub.close();
    for (const stream of streams.items) stream.close();
    await closeServer(app.server);
    await app.close?.();
  });

  const harness: AdapterHarness = {
    hub,
    hooks,
    get origin() {
      return origin;
    },
    async subscription(name) {
      await subscribed.until((names) => names.includes(name), `the subscription of ${name}`);
      return subscriptions.get(name)!;
    },
  };

  // Every stream a test opened is dropped after it, even when an assertion failed half-way, so
  // one failure does not leave subscriptions that fail the tests after it.
  const opened: OpenedStream[] = [];
  afterEach(() => {
    for (const { req } of opened.splice(0)) req.destroy();
  });
  const open = async (...args: Parameters<typeof openStream>): Promise<OpenedStream> => {
    const stream = await openStream(...args);
    opened.push(stream);
    return stream;
  };

  let clients = 0;
  const subUrl = (topic: string, name = `c${++clients}`): { url: string; name: string } => ({
    url: `${origin}/sub?${new URLSearchParams({ topic, client: name })}`,
    name,
  });
  /** Publishes and waits until `reader` has the event: the next publish starts after that. */
  const publishAndReceive = async (
    reader: StreamReader,
    topic: string,
    data: string,
  ): Promise<string> => {
    const { id } = await hub.publish({ topics: topic, data });
    await reader.events.until((events) => events.some((e) => e.id === id), `event ${data}`);
    return id;
  };

  describe(`${suite.name}: eventStream`, () => {
    test('sends the event-stream headers, keeps the framework’s headers, and each event arrives before the next is sent (compression on)', async () => {
      const count = streams.items.length;
      const { req, res, reader } = await open(`${origin}/stream`, ACCEPT_COMPRESSED);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(res.headers['cache-control'], 'no-cache, no-transform');
      assert.equal(res.headers['content-encoding'], undefined, 'not compressed');
      assert.equal(res.headers['x-app'], suite.name, 'the header the framework set');
      await streams.count(count + 1, 'the stream');
      const stream = streams.items[count]!;
      for (let i = 1; i <= 3; i++) {
        stream.send({ id: String(i), data: `event ${i}` });
        await reader.events.count(i, `event ${i}`);
      }
      assert.deepEqual(
        reader.events.items.map((e) => e.data),
        ['event 1', 'event 2', 'event 3'],
      );
      req.destroy();
      await withTimeout(
        new Promise((resolve) => stream.signal.addEventListener('abort', resolve)),
        'the stream to close after the client left',
      );
      assert.equal(stream.closeReason, 'client');
    });

    test('events reach the eventsource client', async () => {
      const count = streams.items.length;
      const source = new EventSource(`${origin}/stream`);
      try {
        const messages = new Collector<MessageEvent>();
        source.addEventListener('greeting', (event) => messages.push(event));
        await streams.count(count + 1, 'the stream');
        const stream = streams.items[count]!;
        stream.send({ id: '7', event: 'greeting', data: 'hello\nworld' });
        const [message] = await messages.count(1);
        assert.equal(message?.data, 'hello\nworld');
        assert.equal(message?.lastEventId, '7');
      } finally {
        source.close();
      }
    });
  });

  describe(`${suite.name}: subscribe`, () => {
    test('each published event arrives before the next is published (compression on)', async () => {
      const { url } = subUrl('/live');
      const { req, res, reader } = await open(url, ACCEPT_COMPRESSED);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-encoding'], undefined, 'not compressed');
      assert.equal(res.headers['x-app'], suite.name, 'the header the framework set');
      for (let i = 1; i <= 3; i++) await publishAndReceive(reader, '/live', `live ${i}`);
      assert.deepEqual(
        reader.events.items.map((e) => e.data),
        ['live 1', 'live 2', 'live 3'],
      );
      req.destroy();
    });

    test('Last-Event-ID: a client that comes back gets exactly what it missed, then live events', async () => {
      const topic = '/resume';
      const first = subUrl(topic);
      const a = await open(first.url);
      await (await harness.subscription(first.name)).ready;
      const ids: string[] = [];
      for (let i = 1; i <= 3; i++) ids.push(await publishAndReceive(a.reader, topic, `r${i}`));
      const sub = await harness.subscription(first.name);
      a.req.destroy();
      await waitFor(() => sub.closed, 'the hub to drop the subscription of the client that left');

      for (let i = 4; i <= 5; i++)
        ids.push((await hub.publish({ topics: topic, data: `r${i}` })).id);

      const again = subUrl(topic);
      const b = await open(again.url, { 'Last-Event-ID': ids[2]! });
      assert.equal(b.res.statusCode, 200);
      if (suite.lastEventIdHeader) assert.equal(b.res.headers['last-event-id'], ids[2]);
      await b.reader.events.count(2, 'the two missed events');
      await (await harness.subscription(again.name)).ready;
      ids.push(await publishAndReceive(b.reader, topic, 'r6'));
      assertSameSequence(
        b.reader.events.items.map((e) => `${e.id}:${e.data}`),
        [3, 4, 5].map((i) => `${ids[i]}:r${i + 1}`),
        'the resumed stream',
      );
      b.req.destroy();
    });

    test('the eventsource client reconnects with Last-Event-ID after the server ends the stream and misses nothing', async () => {
      const topic = '/reconnect';
      const first = subUrl(topic, 'es');
      const source = new EventSource(first.url);
      try {
        const messages = new Collector<MessageEvent>();
        source.onmessage = (event) => messages.push(event);
        const firstSub = await harness.subscription('es');
        await firstSub.ready;
        await hub.publish({ topics: topic, data: 'before' });
        await messages.count(1, 'the first event');

        // The server ends the stream; the client notices, reconnects after `retry` (10 ms)
        // with Last-Event-ID. What is published meanwhile comes by replay or live, once.
        const reconnecting = deferred<void>();
        source.onerror = () => reconnecting.resolve();
        firstSub.close();
        await withTimeout(reconnecting.promise, 'the client to see the stream end');
        await hub.publish({ topics: topic, data: 'while away' });
        await waitFor(
          () => [...hub.subscriptions()].some((s) => s.topics.includes(topic) && s !== firstSub),
          'the client to come back',
        );
        const second = [...hub.subscriptions()].find((s) => s.topics.includes(topic))!;
        assert.equal(second.lastEventId, messages.items[0]?.lastEventId);
        await second.ready;
        await hub.publish({ topics: topic, data: 'after' });
        await messages.count(3, 'all three events');
        assert.deepEqual(
          messages.items.map((m) => m.data),
          ['before', 'while away', 'after'],
        );
      } finally {
        source.close();
      }
    });

    test('an invalid subscription is answered 400 with the reason by the hub, reported on its error event, and leaves nothing registered', async () => {
      const refusals = new Collector<[unknown, Subscription]>();
      const onError = (error: unknown, sub: Subscription): void => refusals.push([error, sub]);
      hub.on('error', onError);
      try {
        const { res, reader } = await open(`${origin}/bad`);
        await reader.end();
        assert.equal(res.statusCode, 400, 'the hub answers, not the framework’s error handler');
        assert.match(String(res.headers['content-type']), /^text\/plain; charset=utf-8$/i);
        assert.match(reader.text, /subscribe needs at least one topic selector/);
        await refusals.count(1, 'the refusal on the hub’s error event');
        const [error, sub] = refusals.items[0]!;
        assert.equal((error as { code?: string }).code, 'INVALID_SUBSCRIBE');
        assert.equal(sub.closed, true);
        assert.equal(sub.refused?.status, 400);
        await waitFor(() => hub.stats().subscribers === 0, 'no subscriber');
      } finally {
        hub.off('error', onError);
      }
    });
  });

  describe(`${suite.name}: disconnects`, () => {
    test('server-ended and client-ended streams, alternately, on one kept-alive connection, leave no subscription, listener or timer', async () => {
      await waitFor(() => hub.stats().subscribers === 0, 'earlier subscriptions to end');
      const timersBefore = activeTimeouts();
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const socketCounts = new Map<Socket, Map<string, number>>();
      const problems: string[] = [];
      const CYCLES = 8;
      for (let n = 0; n < CYCLES; n++) {
        const path = n % 4 < 2 ? '/sub' : '/stream';
        const serverEnds = n % 2 === 0;
        const seenBefore = seen.items.length;
        const name = `cycle${n}`;
        const url = path === '/sub' ? subUrl('/cycle', name).url : `${origin}/stream`;
        const streamCount = streams.items.length;
        const { req, reader } = await open(url, {}, agent);
        await seen.count(seenBefore + 1, `request ${n}`);
        const entry = seen.items[seenBefore]!;
        // A kept-alive socket must look the same at every request it serves.
        const socket = entry.seen.req.socket;
        const socketKnown = socketCounts.get(socket);
        if (socketKnown === undefined) socketCounts.set(socket, entry.before.socket);
        else {
          for (const g of grown(socketKnown, entry.before.socket))
            problems.push(`socket ${n}: ${g}`);
        }

        let stream: EventStream;
        if (path === '/sub') {
          const sub = await harness.subscription(name);
          await sub.ready;
          stream = sub.stream!;
        } else {
          await streams.count(streamCount + 1, `stream ${n}`);
          stream = streams.items[streamCount]!;
        }
        const closed = new Promise((resolve) => stream.signal.addEventListener('abort', resolve));
        if (serverEnds) {
          stream.close();
          await reader.end(`the server to end stream ${n}`);
        } else {
          req.destroy();
        }
        await withTimeout(closed, `stream ${n} to close`);
        assert.equal(stream.closeReason, serverEnds ? 'server' : 'client', `stream ${n}`);
        await withTimeout(entry.closed, `response ${n} to close`);
        if (entry.seen.signal === undefined) {
          // The framework's own listeners may go (Fastify's 'finish'); none may stay behind.
          for (const g of grown(entry.before.res, listenerCounts(entry.seen.res))) {
            problems.push(`res ${n}: ${g}`);
          }
          // node:http itself adds an 'end' listener to a request that was never read when its
          // response finishes (clearIncoming); it goes once the request is read or destroyed.
          const reqNow = listenerCounts(entry.seen.req);
          reqNow.delete('end');
          for (const g of grown(entry.before.req, reqNow)) problems.push(`req ${n}: ${g}`);
        } else {
          // A Fetch-API adapter: the node objects belong to the server; herald listens to the
          // Request's signal only.
          const left = getEventListeners(entry.seen.signal, 'abort').length;
          if (left > 0) problems.push(`request.signal ${n}: ${left} abort listener(s) left`);
        }
      }
      agent.destroy();
      await waitFor(() => hub.stats().subscribers === 0, 'every subscription to end');
      assert.ok(socketCounts.size < CYCLES, 'server-ended streams let the connection be reused');
      assert.deepEqual(problems, []);
      // Polled without helpers, so that no timer of the test itself is counted.
      for (let i = 0; activeTimeouts() > timersBefore && i < 2000; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(activeTimeouts() <= timersBefore, 'the streams’ timers are cleared');
    });
  });

  return harness;
}
