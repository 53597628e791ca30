// The hub's API over real sockets: private updates and filters, the events it emits
// (subscribe / unsubscribe / publish), stats(), close(), how publish serializes data, and the
// typed errors of invalid publish / subscribe / createHub calls. (The 'overflow' event is in
// hub-slow-consumer.test.ts, where a real slow client causes it.)
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  createEventStreamResponse,
  createHub,
  type EngineEvent,
  HeraldEngineError,
  HeraldHubError,
  type Hub,
  memoryEngine,
  type SubscribeOptions,
  type Subscription,
} from '../../src/index.js';
import { Collector, waitFor, withTimeout } from '../helpers/async.js';
import { type HubServer, received, startHubServer, topicsOf } from '../helpers/hub.js';
import { startHttpServer } from '../helpers/server.js';
import { openStream, type StreamReader } from '../helpers/sse.js';

/** The hub requests go to and how each request's options are made, set by each test. */
let hub: Hub;
let optionsFor: (url: URL) => SubscribeOptions = (url) => ({ topics: topicsOf(url) });
let afterSubscribe: ((sub: Subscription) => void) | undefined;
/** Why `hub.subscribe` refused, per refused request (the hub answered it itself). */
const subscribeErrors = new Collector<unknown>();
/** Refused subscriptions, as `hub.subscribe` returned them. */
const refusedSubs = new Collector<Subscription>();
let server: HubServer;
before(async () => {
  server = await startHubServer((req, res, url) => {
    // No try/catch: hub.subscribe must never throw into a request handler for a bad request
    // (the helper would answer 400 with "HeraldHubError: …", which the tests tell apart).
    const sub = hub.subscribe(req, res, optionsFor(url));
    if (sub.refused !== undefined) {
      refusedSubs.push(sub);
      subscribeErrors.push(sub.refused.error);
    }
    afterSubscribe?.(sub);
    return sub;
  });
});
after(() => server.close());

function useHub(h: Hub): Hub {
  hub = h;
  optionsFor = (url) => ({ topics: topicsOf(url) });
  afterSubscribe = undefined;
  return h;
}

let connections = 0;

/** Opens a subscription over HTTP; resolves once the hub made it live. */
async function subscribe(
  topics: readonly string[],
  headers: Record<string, string> = {},
): Promise<{ reader: StreamReader; sub: Subscription; name: string }> {
  const name = `a${++connections}`;
  const params = new URLSearchParams({ client: name });
  for (const t of topics) params.append('topic', t);
  const { res, reader } = await openStream(`${server.origin}/sub?${params}`, headers);
  assert.equal(res.statusCode, 200);
  const { sub } = await server.nth(name, 0);
  await withTimeout(sub.ready, `subscription ${name} to be live`);
  return { reader, sub, name };
}

/** Publishes a last event on `topic` and waits for each reader to get it. */
async function fence(h: Hub, topic: string, readers: readonly StreamReader[]): Promise<string> {
  const { id } = await h.publish({ topics: topic, data: 'fence' });
  await Promise.all(
    readers.map((r) => r.events.until((events) => events.at(-1)?.id === id, `fence ${id}`)),
  );
  return id;
}

const datas = (reader: StreamReader): string[] =>
  reader.events.items.filter((e) => e.data !== 'fence').map((e) => e.data);

const hubError = (code: string, pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof HeraldHubError, `a HeraldHubError, got ${String(error)}`);
  assert.equal(error.code, code);
  assert.match(error.message, pattern);
  return true;
};
const engineError = (code: string, pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof HeraldEngineError, `a HeraldEngineError, got ${String(error)}`);
  assert.equal(error.code, code);
  assert.match(error.message, pattern);
  return true;
};

describe('private updates and filters', () => {
  test('a private update reaches only subscribers authorized for one of its topics, live and in replay', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    const authorized: Record<string, string[] | undefined> = {
      none: undefined,
      exact: ['/p/1'],
      template: ['/p/{n}'],
      alternate: ['/alt'],
      all: ['*'],
      elsewhere: ['/q/1'],
    };
    optionsFor = (url) => ({
      topics: topicsOf(url),
      authorized: authorized[url.searchParams.get('auth') ?? 'none'],
    });
    try {
      const publishes = async (): Promise<void> => {
        await h.publish({ topics: '/p/1', data: 'public' });
        await h.publish({ topics: '/p/1', data: 'private-1', private: true });
        await h.publish({ topics: ['/p/2', '/alt'], data: 'private-2-alt', private: true });
      };
      const expected: Record<string, string[]> = {
        none: ['public'],
        exact: ['public', 'private-1'],
        template: ['public', 'private-1', 'private-2-alt'],
        alternate: ['public', 'private-2-alt'],
        all: ['public', 'private-1', 'private-2-alt'],
        elsewhere: ['public'],
      };
      const open = async (auth: string, headers: Record<string, string> = {}) => {
        const name = `${auth}${++connections}`;
        const params = new URLSearchParams({ client: name, auth });
        params.append('topic', '/p/{n}');
        const { reader } = await openStream(`${server.origin}/sub?${params}`, headers);
        const { sub } = await server.nth(name, 0);
        await withTimeout(sub.ready, 'live');
        return reader;
      };
      const live = await Promise.all(Object.keys(authorized).map((auth) => open(auth)));
      await publishes();
      await fence(h, '/p/9', live);
      Object.keys(authorized).forEach((auth, i) => {
        assert.deepEqual(datas(live[i]!), expected[auth], `live, authorized: ${auth}`);
      });
      // The same from history.
      const replayed = await Promise.all(
        Object.keys(authorized).map((auth) => open(auth, { 'Last-Event-ID': 'earliest' })),
      );
      await fence(h, '/p/9', replayed);
      Object.keys(authorized).forEach((auth, i) => {
        assert.deepEqual(datas(replayed[i]!), expected[auth], `replay, authorized: ${auth}`);
      });
    } finally {
      await h.close();
    }
  });

  test('filter: events it rejects are neither replayed nor delivered', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    const seen: string[] = [];
    optionsFor = (url) => ({
      topics: topicsOf(url),
      filter: (event: EngineEvent) => {
        seen.push(event.data);
        return event.data.startsWith('keep') || event.data === 'fence';
      },
    });
    try {
      await h.publish({ topics: '/f', data: 'keep-1' });
      await h.publish({ topics: '/f', data: 'drop-1' });
      const { reader } = await subscribe(['/f'], { 'Last-Event-ID': 'earliest' });
      await h.publish({ topics: '/f', data: 'drop-2' });
      await h.publish({ topics: '/f', data: 'keep-2' });
      await h.publish({ topics: '/elsewhere', data: 'keep-but-not-selected' });
      await fence(h, '/f', [reader]);
      assert.deepEqual(datas(reader), ['keep-1', 'keep-2']);
      assert.ok(!seen.includes('keep-but-not-selected'), 'the filter only sees selected events');
    } finally {
      await h.close();
    }
  });

  test('a filter that throws ends that subscription only; its error surfaces as uncaught', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    // The hub rethrows the filter's error from a microtask, like an event listener's. Capture it
    // (instead of the test runner, which would fail the file) for the duration of this test.
    const uncaught = new Collector<unknown>();
    process.setUncaughtExceptionCaptureCallback((error) => uncaught.push(error));
    try {
      optionsFor = (url) => ({
        topics: topicsOf(url),
        filter: (event) => {
          if (event.data === 'boom') throw new Error('filter failed');
          return true;
        },
      });
      const bad = await subscribe(['/x']);
      optionsFor = (url) => ({ topics: topicsOf(url) });
      const good = await subscribe(['/x']);
      await h.publish({ topics: '/x', data: 'before' });
      await bad.reader.events.count(1, 'the first event');
      await h.publish({ topics: '/x', data: 'boom' });
      await fence(h, '/x', [good.reader]);
      await withTimeout(bad.reader.ended, 'the failing subscription to end');
      assert.equal(bad.sub.closed, true);
      assert.deepEqual(datas(bad.reader), ['before']);
      assert.deepEqual(datas(good.reader), ['before', 'boom']);
      await uncaught.count(1, "the filter's error");
      assert.match(String(uncaught.items[0]), /filter failed/);
    } finally {
      process.setUncaughtExceptionCaptureCallback(null);
      await h.close();
    }
  });
});

describe('hub events and stats', () => {
  test("'subscribe' comes before the replay, 'unsubscribe' once per subscription, 'publish' per event", async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    const log: string[] = [];
    const subscribed: Subscription[] = [];
    const unsubscribed = new Collector<Subscription>();
    const published: EngineEvent[] = [];
    h.on('subscribe', (sub) => {
      subscribed.push(sub);
      log.push(`subscribe, stream: ${sub.stream === undefined ? 'none yet' : 'open'}`);
    });
    h.on('unsubscribe', (sub) => unsubscribed.push(sub));
    h.on('publish', (event) => published.push(event));
    try {
      const first = await h.publish({
        topics: ['/e/1', '/alt'],
        data: { n: 1 },
        type: 'thing.created',
        retry: 1500,
      });
      const secret = await h.publish({ topics: '/e/2', data: 's', private: true });
      assert.deepEqual(
        published.map((e) => ({
          id: e.id,
          topics: e.topics,
          data: e.data,
          type: e.type,
          retry: e.retry,
          private: e.private,
          customId: e.customId,
        })),
        [
          {
            id: first.id,
            topics: ['/e/1', '/alt'],
            data: '{"n":1}',
            type: 'thing.created',
            retry: 1500,
            private: false,
            customId: false,
          },
          {
            id: secret.id,
            topics: ['/e/2'],
            data: 's',
            type: undefined,
            retry: undefined,
            private: true,
            customId: false,
          },
        ],
      );

      const a = await subscribe(['/e/{n}'], { 'Last-Event-ID': 'earliest' });
      assert.deepEqual(log, ['subscribe, stream: none yet']);
      assert.equal(subscribed[0], a.sub);
      assert.deepEqual(a.sub.topics, ['/e/{n}']);
      assert.equal(a.sub.lastEventId, 'earliest');
      assert.equal(typeof a.sub.id, 'string');
      const b = await subscribe(['/e/1']);
      const c = await subscribe(['*']);
      assert.equal(new Set([a.sub.id, b.sub.id, c.sub.id]).size, 3, 'distinct ids');

      // Ends: the client leaves; the server closes (twice: idempotent); the hub closes.
      (await server.nth(a.name, 0)).req.socket.destroy();
      await unsubscribed.count(1, 'unsubscribe after the client left');
      assert.equal(unsubscribed.items[0], a.sub);
      assert.equal(a.sub.closed, true);
      b.sub.close();
      b.sub.close();
      await unsubscribed.count(2);
      assert.equal(unsubscribed.items[1], b.sub);
      await h.close();
      await unsubscribed.count(3);
      assert.equal(unsubscribed.items[2], c.sub);
      assert.equal(unsubscribed.items.length, 3);
    } finally {
      await h.close();
    }
  });

  test('stats(): subscribers, topics, templates, wildcards, events and queued bytes', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      // Field by field: stats() may grow new fields.
      const empty = h.stats();
      assert.equal(empty.subscribers, 0);
      assert.equal(empty.topics, 0);
      assert.equal(empty.templates, 0);
      assert.equal(empty.wildcardSubscribers, 0);
      assert.equal(empty.eventsTotal, 0);
      assert.equal(empty.eventsPerSecond, 0);
      assert.equal(empty.bytesQueued, 0);
      assert.deepEqual(empty.history, { events: 0, bytes: 0 });
      const s1 = await subscribe(['/s/1']);
      const s2 = await subscribe(['/s/1', '/s/2']);
      const s3 = await subscribe(['/s/{n}']);
      const s4 = await subscribe(['*']);
      const s5 = await subscribe(['*', '/s/{n}', '/s/3']);
      let stats = h.stats();
      assert.equal(stats.subscribers, 5);
      assert.equal(stats.topics, 3, '/s/1, /s/2, /s/3');
      assert.equal(stats.templates, 1, 'one distinct template');
      assert.equal(stats.wildcardSubscribers, 2);

      for (let i = 0; i < 3; i++) await h.publish({ topics: '/s/1', data: 'x'.repeat(100) });
      await fence(
        h,
        '/s/1',
        [s1, s2, s3, s4, s5].map((s) => s.reader),
      );
      stats = h.stats();
      assert.equal(stats.eventsTotal, 4);
      assert.equal(typeof stats.eventsPerSecond, 'number');
      assert.ok(stats.eventsPerSecond >= 0);
      assert.equal(stats.history.events, 4);
      assert.ok(stats.history.bytes > 400);
      // Everyone read everything: nothing is held for anyone.
      await waitFor(() => h.stats().bytesQueued === 0, 'no bytes queued');

      s2.sub.close();
      s5.sub.close();
      await waitFor(() => h.stats().subscribers === 3, 'two fewer subscribers');
      stats = h.stats();
      assert.equal(stats.topics, 1, 'only /s/1 is left');
      assert.equal(stats.templates, 1);
      assert.equal(stats.wildcardSubscribers, 1);
      s3.sub.close();
      s4.sub.close();
      s1.sub.close();
      await waitFor(() => h.stats().subscribers === 0, 'no subscribers');
      stats = h.stats();
      assert.deepEqual([stats.topics, stats.templates, stats.wildcardSubscribers], [0, 0, 0]);
    } finally {
      await h.close();
    }
  });
});

/**
 * GETs `path` and resolves with the status and body once the response has ended; fails after
 * `ms` (short: used where a hub bug leaves the response hanging).
 */
function responseEnd(path: string, ms: number): Promise<{ status: number; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = httpGet(`${server.origin}${path}`, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      setTimeout(() => req.destroy(), ms + 100).unref();
    }),
    `the response to ${path} to end`,
    ms,
  );
}

describe('close()', () => {
  test('writes what was published, then a retry hint, then ends every stream', async () => {
    const h = useHub(createHub({ heartbeatMs: 0, closeRetryMs: 2500 }));
    const a = await subscribe(['/c']);
    const b = await subscribe(['*']);
    // Published in the same tick as close(): it must still go out first.
    const last = h.publish({ topics: '/c', data: 'last words' });
    const closed = h.close();
    await last;
    await closed;
    for (const { reader } of [a, b]) {
      await reader.end('the stream to end after close()');
      assert.deepEqual(reader.retries.items, [2500]);
      assert.deepEqual(datas(reader), ['last words']);
      assert.ok(reader.text.indexOf('retry: 2500') > reader.text.indexOf('last words'));
    }
    assert.equal(h.stats().subscribers, 0);
    assert.equal(h.engine.health().ready, false, 'the engine the hub built is closed');
    await h.close(); // idempotent
  });

  test('a closed hub rejects publish and subscribe with CLOSED; a given engine stays open', async () => {
    const engine = memoryEngine();
    const h = useHub(createHub({ engine, heartbeatMs: 0 }));
    await h.close();
    await assert.rejects(h.publish({ topics: '/z', data: 'x' }), hubError('CLOSED', /closed/));
    const closedError = (await h.publish({ topics: '/z', data: 'x' }).catch((e) => e)) as {
      status: number;
      expose: boolean;
    };
    assert.equal(closedError.status, 503, 'a framework error handler answers 503');
    assert.equal(closedError.expose, false);
    const errorsBefore = subscribeErrors.items.length;
    const refused = new Collector<[unknown, Subscription]>();
    h.on('error', (error, sub) => refused.push([error, sub]));
    const { res, reader } = await openStream(`${server.origin}/sub?topic=/z`);
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '1');
    await reader.end();
    assert.equal(reader.text, 'the hub is closed: subscribe refused\n');
    await refused.count(1, 'the refusal on the error event');
    assert.equal(refused.items[0]![1].refused?.status, 503);
    await subscribeErrors.count(errorsBefore + 1);
    hubError('CLOSED', /subscribe refused/)(subscribeErrors.items.at(-1));
    assert.equal(engine.health().ready, true, 'not the hub’s engine to close');
    await engine.close();
  });

  test('closing a subscription whose replay has not opened its stream yet still ends the response', async () => {
    // Bug: the (req, res) form creates the stream only after the first history read; close()
    // before that closes nothing, and the replay then returns without answering the request.
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      await h.publish({ topics: '/r', data: 'x' });
      optionsFor = (url) => ({ topics: topicsOf(url), lastEventId: 'earliest' });
      afterSubscribe = (sub) => sub.close();
      const { status } = await responseEnd('/sub?topic=/r', 3000);
      assert.equal(status, 200);
    } finally {
      await h.close();
    }
  });

  test('hub.close() during a replay that has not opened its stream yet still ends the response with a retry hint', async () => {
    const h = useHub(createHub({ heartbeatMs: 0, closeRetryMs: 1234 }));
    await h.publish({ topics: '/r', data: 'x' });
    optionsFor = (url) => ({ topics: topicsOf(url), replayLast: 1 });
    afterSubscribe = () => {
      void h.close();
    };
    const { status, body } = await responseEnd('/sub?topic=/r', 3000);
    assert.equal(status, 200);
    assert.match(body, /^retry: 1234$/m);
  });
});

describe('publish', () => {
  test('string data is sent verbatim, anything else JSON-serialized once', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      const readers = await Promise.all([subscribe(['/d']), subscribe(['*']), subscribe(['/d'])]);
      let toJsonCalls = 0;
      const counted = {
        toJSON() {
          toJsonCalls++;
          return { counted: true };
        },
      };
      const cases: Array<[unknown, string]> = [
        ['plain text', 'plain text'],
        ['{"already":"json"}', '{"already":"json"}'],
        ['line 1\nline 2\r\nline 3\rline 4', 'line 1\nline 2\nline 3\nline 4'],
        ['', ''],
        [undefined, ''],
        [
          { a: 1, s: 'x', nested: { list: [1, 'two', null] } },
          '{"a":1,"s":"x","nested":{"list":[1,"two",null]}}',
        ],
        [[1, 'two', null], '[1,"two",null]'],
        [42, '42'],
        [null, 'null'],
        [false, 'false'],
        ['😀 ünïcödé', '😀 ünïcödé'],
        [counted, '{"counted":true}'],
      ];
      for (const [data] of cases) await h.publish({ topics: '/d', data });
      await fence(
        h,
        '/d',
        readers.map((r) => r.reader),
      );
      for (const { reader } of readers) {
        assert.deepEqual(
          datas(reader),
          cases.map(([, wire]) => wire),
        );
      }
      // And from history, for a fourth subscriber: still the one serialization.
      const late = await subscribe(['/d'], { 'Last-Event-ID': 'earliest' });
      await fence(h, '/d', [late.reader]);
      assert.deepEqual(
        datas(late.reader),
        cases.map(([, wire]) => wire),
      );
      assert.equal(toJsonCalls, 1);
    } finally {
      await h.close();
    }
  });

  test('type and retry reach the client', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      const { reader } = await subscribe(['/t']);
      const { id } = await h.publish({
        topics: '/t',
        data: 'hi',
        type: 'chat.message',
        retry: 777,
      });
      await reader.events.count(1);
      assert.deepEqual(received(reader.events.items[0]!), { type: 'chat.message', id, data: 'hi' });
      await reader.retries.count(1);
      assert.deepEqual(reader.retries.items, [777]);
    } finally {
      await h.close();
    }
  });

  test('invalid publish input rejects with a typed error that says what is wrong', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      await assert.rejects(h.publish(null as never), hubError('INVALID_PUBLISH', /object/));
      await assert.rejects(
        h.publish({ topics: '/v', data: 10n }),
        hubError('INVALID_PUBLISH', /JSON.*string/),
      );
      await assert.rejects(
        h.publish({ topics: '/v', data: circular }),
        hubError('INVALID_PUBLISH', /JSON/),
      );
      await assert.rejects(
        h.publish({ topics: '/v', data: () => 1 }),
        hubError('INVALID_PUBLISH', /function.*string/),
      );
      await assert.rejects(
        h.publish({ topics: '/v', data: Symbol('s') }),
        hubError('INVALID_PUBLISH', /symbol/),
      );
      await assert.rejects(
        h.publish({ topics: [], data: 'x' }),
        engineError('INVALID_EVENT', /at least one topic/),
      );
      await assert.rejects(
        h.publish({ topics: ['/v', ''], data: 'x' }),
        engineError('INVALID_EVENT', /non-empty/),
      );
      await assert.rejects(
        h.publish({ topics: 42 as never, data: 'x' }),
        engineError('INVALID_EVENT', /topic/),
      );
      await assert.rejects(
        h.publish({ topics: '/v', data: 'x', type: 'a\nb' }),
        engineError('INVALID_EVENT', /event type/),
      );
      await assert.rejects(
        h.publish({ topics: '/v', data: 'x', retry: -1 }),
        engineError('INVALID_EVENT', /retry/),
      );
      await assert.rejects(
        h.publish({ topics: '/v', data: 'x', retry: 1.5 }),
        engineError('INVALID_EVENT', /retry/),
      );
      await assert.rejects(
        h.publish({ topics: '/v', data: 'x', private: 'yes' as never }),
        engineError('INVALID_EVENT', /private/),
      );
      // Each carries the status a framework's error handler answers with (the docs' adapter
      // servers hand publish rejections to next(error)): a client's mistake is a 4xx.
      const statusOf = async (input: Parameters<Hub['publish']>[0]): Promise<unknown> => {
        const error = (await h.publish(input).catch((e) => e)) as {
          status: number;
          expose: boolean;
        };
        assert.equal(error.expose, error.status < 500);
        const status = error.status;
        error.status = status; // Koa's error handling assigns it: it must be writable
        return status;
      };
      assert.equal(await statusOf({ topics: ['/v', ''], data: 'x' }), 400);
      assert.equal(await statusOf({ topics: '/v', data: () => 1 }), 400);
      await h.publish({ topics: '/v', data: 'x', id: 'taken' });
      assert.equal(await statusOf({ topics: '/v', data: 'y', id: 'taken' }), 409);
    } finally {
      await h.close();
    }
  });
});

describe('invalid subscribe and hub options', () => {
  test('invalid subscribe options are answered with the reason (400 for the request’s part, 500 for the code’s), never thrown', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    const refused = new Collector<[unknown, Subscription]>();
    h.on('error', (error, sub) => refused.push([error, sub]));
    let closes = 0;
    const onClose = (): void => {
      closes++;
    };
    const cases: Array<[unknown, number, RegExp]> = [
      // subscribe(req, res, undefined) is still the (req, res) form: it has a response to answer.
      [undefined, 500, /subscribe needs options/],
      [{ topics: [], onClose }, 400, /at least one topic/],
      [{ topics: '/a', onClose }, 400, /at least one topic/],
      [{ topics: ['/a', ''], onClose }, 400, /non-empty string/],
      [{ topics: ['/a', 7], onClose }, 400, /non-empty string/],
      [{ topics: ['/a'], replayLast: -1, onClose }, 400, /replayLast/],
      [{ topics: ['/a'], replayLast: 1.5, onClose }, 400, /replayLast/],
      [{ topics: ['/a'], lastEventId: 5, onClose }, 400, /lastEventId must be a string/],
      [{ topics: ['/a'], filter: 'yes', onClose }, 500, /filter/],
      [{ topics: ['/a'], stream: { queueBytes: 0 }, onClose }, 500, /queueBytes/],
    ];
    const index = (url: URL): number => Number(url.searchParams.get('case'));
    optionsFor = (url) => cases[index(url)]![0] as SubscribeOptions;
    try {
      for (const [i, [, status, pattern]] of cases.entries()) {
        const errorsBefore = subscribeErrors.items.length;
        const { res, reader } = await openStream(`${server.origin}/sub?case=${i}`);
        await reader.end();
        assert.equal(res.statusCode, status, `case ${i}: ${reader.text}`);
        assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
        assert.match(reader.text, pattern, `case ${i}`);
        assert.doesNotMatch(reader.text, /HeraldHubError/, `case ${i}: answered by the hub`);
        await subscribeErrors.count(errorsBefore + 1);
        hubError('INVALID_SUBSCRIBE', pattern)(subscribeErrors.items.at(-1));
        const sub = refusedSubs.items.at(-1)!;
        assert.equal(sub.closed, true);
        assert.equal(sub.stream, undefined);
        assert.equal(sub.refused?.status, status);
        await refused.count(i + 1, `case ${i} on the error event`);
        assert.equal(refused.items[i]![0], sub.refused?.error);
      }
      await waitFor(() => closes === cases.length - 1, 'onClose once per refused call');
      assert.equal(h.stats().subscribers, 0);
    } finally {
      await h.close();
    }
  });

  test('the docs/hub.md server, a request without topic: 400 with the reason, and it keeps serving', async () => {
    // The snippet as written: no try/catch, no 'error' listener on the hub.
    const h = createHub({ heartbeatMs: 0 });
    const snippet = await startHttpServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/events') {
        h.subscribe(req, res, { topics: url.searchParams.getAll('topic') });
      } else {
        res.writeHead(404).end();
      }
    });
    try {
      for (const query of ['', '?topic=', '?topic=/clock&topic=']) {
        const { res, reader } = await openStream(`${snippet.origin}/events${query}`);
        await reader.end();
        assert.equal(res.statusCode, 400, query);
        assert.match(reader.text, /topic selector/, query);
      }
      const { res, reader } = await openStream(`${snippet.origin}/events?topic=/clock`);
      assert.equal(res.statusCode, 200);
      await waitFor(() => h.stats().subscribers === 1, 'the good request subscribed');
      await h.publish({ topics: '/clock', data: 'tick' });
      await reader.untilText((text) => text.includes('data: tick'), 'the tick');
    } finally {
      await h.close();
      await snippet.close();
    }
  });

  test('the stream form: a refused call closes the stream and returns a refused subscription', async () => {
    const h = createHub({ heartbeatMs: 0 });
    const refused = new Collector<unknown>();
    h.on('error', (error) => refused.push(error));
    try {
      const stream = createEventStreamResponse(new Request('http://localhost/events'));
      const sub = h.subscribe(stream, { topics: [] });
      assert.equal(sub.refused?.status, 400);
      hubError('INVALID_SUBSCRIBE', /at least one topic/)(sub.refused?.error);
      assert.equal(stream.closed, true);
      await refused.count(1);
      assert.equal(h.stats().subscribers, 0);
    } finally {
      await h.close();
    }
  });

  test('subscribing a response that already started throws and leaves nothing registered', async () => {
    const h = createHub({ heartbeatMs: 0 });
    const unsubscribed = new Collector<Subscription>();
    h.on('unsubscribe', (sub) => unsubscribed.push(sub));
    const thrown = new Collector<unknown>();
    const started = await startHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('already started');
      try {
        h.subscribe(req, res, { topics: ['/a'] });
      } catch (error) {
        thrown.push(error);
      }
      res.end();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        httpGet(`${started.origin}/`, (res) => res.resume().on('end', resolve)).on('error', reject);
      });
      await thrown.count(1);
      assert.equal((thrown.items[0] as Error).name, 'HeraldStreamError');
      assert.match((thrown.items[0] as Error).message, /already/);
      assert.equal(h.stats().subscribers, 0);
      await unsubscribed.count(1);
    } finally {
      await started.close();
      await h.close();
    }
  });

  test('createHub rejects invalid options with INVALID_OPTIONS', () => {
    assert.throws(
      () => createHub({ replayPageSize: 0 }),
      hubError('INVALID_OPTIONS', /replayPageSize/),
    );
    assert.throws(
      () => createHub({ replayPageSize: 1.5 }),
      hubError('INVALID_OPTIONS', /replayPageSize/),
    );
    assert.throws(
      () => createHub({ closeRetryMs: -1 }),
      hubError('INVALID_OPTIONS', /closeRetryMs/),
    );
    assert.throws(
      () => createHub({ history: { maxEvents: -1 } }),
      engineError('INVALID_OPTIONS', /maxEvents/),
    );
  });

  test('createHub validates the stream options it passes on (queueBytes, heartbeatMs, overflow)', () => {
    // Bug: these are only checked when a subscriber arrives, so every subscribe then fails.
    assert.throws(() => createHub({ queueBytes: 0 }), /queueBytes/);
    assert.throws(() => createHub({ heartbeatMs: -1 }), /heartbeatMs/);
    assert.throws(() => createHub({ overflow: 'nope' as never }), /overflow/);
  });
});
