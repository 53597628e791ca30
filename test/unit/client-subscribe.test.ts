// subscribe() and subscribeHub() with a fake clock and a scripted fetch: backoff timing, retry
// decisions, the watchdog, payload handling (JSON, schemas, gaps, dedupe), iteration, abort and
// visibility. Real-socket tests are in test/integration/client-subscribe.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type GapInfo,
  type HeraldClientError,
  type HeraldEvent,
  type InvalidEventInfo,
  type StandardSchemaV1,
  type SubscribeOptions,
  subscribe,
  subscribeHub,
  type VisibilitySource,
} from '../../src/client/index.js';
import { waitFor } from '../helpers/async.js';
import { type FakeAnswer, FakeClock, scriptedFetch, settle } from '../helpers/client-fakes.js';

const URL_ = 'http://example.test/stream';

/** Starts a subscription on a scripted fetch and a fake clock, recording its callbacks. */
function start<E extends Record<string, unknown> = Record<string, string>>(
  script: FakeAnswer[],
  options: SubscribeOptions<E> = {},
) {
  const clock = new FakeClock();
  const { fetch, requests } = scriptedFetch(script);
  const errors: HeraldClientError[] = [];
  const events: HeraldEvent[] = [];
  const closes: Array<HeraldClientError | undefined> = [];
  const sub = subscribe<E>(URL_, {
    fetch,
    timers: clock,
    random: () => 0.5,
    minDelayMs: 100,
    maxDelayMs: 1000,
    idleTimeoutMs: 0,
    onError: (error) => errors.push(error),
    onEvent: (event) => events.push(event as HeraldEvent),
    onClose: (reason) => closes.push(reason),
    ...options,
  });
  return { sub, clock, requests, errors, events, closes };
}

/** Answers of failing attempts. */
const refused: FakeAnswer = { reject: new TypeError('fetch failed') };

/** A validator implementing Standard Schema: accepts `{ n: number }`, outputs `n * 10`. */
function tenfold(async = false): StandardSchemaV1<unknown, number> {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate(value) {
        const n = (value as { n?: unknown } | null)?.n;
        const result: StandardSchemaV1.Result<number> =
          typeof n === 'number'
            ? { value: n * 10 }
            : { issues: [{ message: 'n must be a number', path: ['n'] }] };
        if (!async) return result;
        // The first value validates slowest: order must still hold.
        return new Promise((resolve) => setTimeout(() => resolve(result), n === 1 ? 30 : 1));
      },
    },
  };
}

describe('subscribe: backoff', () => {
  test('full jitter doubling per consecutive failure, capped at maxDelayMs', async () => {
    const { sub, clock, requests, errors } = start([refused]);
    await settle();
    for (let i = 0; i < 5; i++) await clock.advance(clock.pending[0]!);
    // random() = 0.5: min + 0.5 · (min(max, min · 2^(n+1)) − min)
    assert.deepEqual(clock.delays, [150, 250, 450, 550, 550, 550]);
    assert.equal(requests.items.length, 6);
    assert.ok(errors.every((e) => e.code === 'NETWORK'));
    sub.close();
  });

  test("the server's retry: is a floor; an opened stream resets the attempt count", async () => {
    const { sub, clock, requests } = start([{ stream: true }, refused, refused, { stream: true }]);
    await settle();
    requests.items[0]!.body!.push('retry: 700\n\n');
    requests.items[0]!.body!.end();
    await settle();
    await clock.advance(clock.pending[0]!); // refused
    await clock.advance(clock.pending[0]!); // refused
    await clock.advance(clock.pending[0]!); // opens
    requests.items[3]!.body!.end();
    await settle();
    // The jittered delays (150, 250, 450, then 150 again after the open) all stay under 700.
    assert.deepEqual(clock.delays, [700, 700, 700, 700]);
    sub.close();
  });

  test('retryOn statuses are retried with Retry-After as a floor; others fail at once', async () => {
    const { sub, clock, requests, closes } = start(
      [{ status: 503, headers: { 'retry-after': '2' } }, { stream: true }],
      { retryOn: [503] },
    );
    await settle();
    assert.deepEqual(clock.pending, [2000]);
    await clock.advance(2000);
    assert.equal(requests.items.length, 2);
    assert.equal(sub.readyState, 1);
    assert.deepEqual(closes, []);
    sub.close();

    const failing = start([{ status: 503 }]);
    await settle();
    assert.equal(failing.sub.readyState, 2);
    assert.equal(failing.closes[0]?.code, 'BAD_STATUS');
    assert.equal(failing.closes[0]?.response?.status, 503);
  });

  test('maxRetries: gives up with RETRIES_EXHAUSTED (cause: the last failure)', async () => {
    const { sub, clock, requests, closes } = start([refused], { maxRetries: 2 });
    const iterated = (async () => {
      for await (const _ of sub) assert.fail('no event');
    })();
    iterated.catch(() => {}); // asserted below
    await settle();
    await clock.advance(clock.pending[0]!);
    await clock.advance(clock.pending[0]!);
    assert.equal(requests.items.length, 3);
    assert.equal(sub.readyState, 2);
    assert.equal(closes.length, 1);
    assert.equal(closes[0]?.code, 'RETRIES_EXHAUSTED');
    assert.equal((closes[0]!.cause as HeraldClientError).code, 'NETWORK');
    await assert.rejects(
      iterated,
      (error: HeraldClientError) => error.code === 'RETRIES_EXHAUSTED',
    );
    assert.equal(await sub.closed, closes[0]);
    assert.deepEqual(clock.pending, []);
  });

  test('shouldRetry overrides the default both ways', async () => {
    const seen: Array<string | number> = [];
    const retried = start([{ status: 404 }, { stream: true }], {
      shouldRetry: (failure, attempt) => {
        seen.push(failure instanceof Response ? failure.status : failure.code, attempt);
        return true;
      },
    });
    await settle();
    await retried.clock.advance(retried.clock.pending[0]!);
    assert.equal(retried.sub.readyState, 1);
    assert.deepEqual(seen, [404, 1]);
    retried.sub.close();

    const stopped = start([refused], { shouldRetry: () => false });
    await settle();
    assert.equal(stopped.sub.readyState, 2);
    assert.equal(stopped.closes[0]?.code, 'NETWORK');
  });

  test('an unsupported scheme fails without asking shouldRetry', async () => {
    const closes: Array<HeraldClientError | undefined> = [];
    subscribe('ftp://example.test/x', { shouldRetry: () => true, onClose: (r) => closes.push(r) });
    await settle();
    assert.equal(closes[0]?.code, 'UNSUPPORTED_URL');
  });
});

describe('subscribe: watchdog', () => {
  test('no byte for idleTimeoutMs: abort and reconnect with Last-Event-ID; bytes kick it', async () => {
    const { sub, clock, requests, errors } = start([{ stream: true }], { idleTimeoutMs: 1000 });
    await settle();
    const body = requests.items[0]!.body!;
    body.push('id: 7\ndata: x\n\n');
    await clock.advance(900);
    body.push(': heartbeat\n\n');
    await clock.advance(900);
    assert.equal(requests.items.length, 1, 'the heartbeat kept it alive');
    await clock.advance(100);
    assert.equal(errors[0]?.code, 'IDLE_TIMEOUT');
    assert.equal(requests.items[0]!.init.signal?.aborted, true);
    await clock.advance(clock.pending[0]!);
    assert.equal(requests.items[1]!.headers.get('last-event-id'), '7');
    sub.close();
  });

  test("undici's body timeout surfaces as IDLE_TIMEOUT and is retried", async () => {
    const { sub, requests, errors, clock } = start([{ stream: true }]);
    await settle();
    const timeout = Object.assign(new Error('Body Timeout Error'), {
      code: 'UND_ERR_BODY_TIMEOUT',
    });
    requests.items[0]!.body!.error(new TypeError('terminated', { cause: timeout }));
    await settle();
    assert.equal(errors[0]?.code, 'IDLE_TIMEOUT');
    assert.equal(clock.pending.length, 1);
    sub.close();
  });

  test('the default watchdog is 45 s', async () => {
    const { sub, clock } = start([{ stream: true }], { idleTimeoutMs: undefined });
    await settle();
    assert.deepEqual(clock.pending, [45_000]);
    sub.close();
  });
});

describe('subscribe: payloads', () => {
  test('json: a parse failure is an INVALID_JSON error with the raw text; the stream goes on', async () => {
    const { sub, requests, errors, events } = start<{ tick: { n: number } }>([{ stream: true }], {
      json: true,
    });
    await settle();
    requests.items[0]!.body!.push('event: tick\ndata: {oops\n\nevent: tick\ndata: {"n":2}\n\n');
    await settle();
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'INVALID_JSON');
    assert.equal(errors[0]!.raw, '{oops');
    assert.equal(errors[0]!.type, 'tick');
    assert.deepEqual(
      events.map((e) => e.data),
      [{ n: 2 }],
    );
    sub.close();
  });

  for (const async of [false, true]) {
    test(`schema (${async ? 'async' : 'sync'}): invalid data goes to onInvalid, valid data is the output, in order`, async () => {
      const invalid: InvalidEventInfo[] = [];
      const { sub, requests, events } = start<{ tick: number }>([{ stream: true }], {
        json: true,
        schema: { tick: tenfold(async) },
        onInvalid: (info) => invalid.push(info),
      });
      const got: number[] = [];
      sub.on('tick', (n) => got.push(n));
      await settle();
      requests.items[0]!.body!.push(
        'event: tick\nid: 1\ndata: {"n":1}\n\nevent: tick\nid: 2\ndata: {"n":"x"}\n\nevent: tick\nid: 3\ndata: {"n":3}\n\n',
      );
      // The async schema answers on real timers (30 ms for the first value): wait for the
      // outcome, not for a time.
      await waitFor(() => got.length + invalid.length >= 3, 'the three events validated');
      assert.deepEqual(got, [10, 30]);
      assert.deepEqual(
        events.map((e) => [e.lastEventId, e.data, e.raw]),
        [
          ['1', 10, '{"n":1}'],
          ['3', 30, '{"n":3}'],
        ],
      );
      assert.equal(invalid.length, 1);
      assert.deepEqual(invalid[0], {
        type: 'tick',
        data: { n: 'x' },
        raw: '{"n":"x"}',
        lastEventId: '2',
        issues: [{ message: 'n must be a number', path: ['n'] }],
      });
      sub.close();
    });
  }

  test('herald.gap goes to onGap (never to listeners); other herald.* types are dropped', async () => {
    const gaps: GapInfo[] = [];
    const { sub, requests, events } = start([{ stream: true }], { onGap: (gap) => gaps.push(gap) });
    await settle();
    requests.items[0]!.body!.push(
      'event: herald.gap\ndata: {"lastEventId":"e2","oldestAvailable":"e5"}\n\nevent: herald.other\ndata: x\n\ndata: after\n\n',
    );
    await settle();
    assert.deepEqual(gaps, [{ lastEventId: 'e2', oldestAvailable: 'e5' }]);
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.data}`),
      ['message:after'],
    );
    sub.close();
  });

  test('events: only the listed types are delivered', async () => {
    const { sub, requests, events } = start<{ a: string; b: string }>([{ stream: true }], {
      events: ['b'],
    });
    await settle();
    requests.items[0]!.body!.push('event: a\ndata: 1\n\nevent: b\ndata: 2\n\ndata: 3\n\n');
    await settle();
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.data}`),
      ['b:2'],
    );
    sub.close();
  });

  test('dedupe: a replayed id is dropped, events without an id are not', async () => {
    const { sub, requests, events, clock } = start([{ stream: true }]);
    await settle();
    requests.items[0]!.body!.push('id: 1\ndata: a\n\nid: 2\ndata: b\n\ndata: no id\n\n');
    requests.items[0]!.body!.end();
    await settle();
    await clock.advance(clock.pending[0]!);
    assert.equal(requests.items[1]!.headers.get('last-event-id'), '2');
    // A server that replays from an older id.
    requests.items[1]!.body!.push(
      'id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\ndata: no id again\n\n',
    );
    await settle();
    assert.deepEqual(
      events.map((e) => `${e.lastEventId}:${e.data}`),
      ['1:a', '2:b', '2:no id', '3:c', '3:no id again'],
    );
    sub.close();
  });

  test('dedupe: false delivers duplicates', async () => {
    const { sub, requests, events } = start([{ stream: true }], { dedupe: false });
    await settle();
    requests.items[0]!.body!.push('id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 1\ndata: a\n\n');
    await settle();
    assert.equal(events.length, 3);
    sub.close();
  });
});

describe('subscribe: requests', () => {
  test('method, body, credentials, headers (a function, called per attempt), initial lastEventId', async () => {
    let calls = 0;
    const { sub, requests, clock } = start([{ stream: true }], {
      reconnect: 'always',
      method: 'POST',
      body: '{"prompt":"hi"}',
      credentials: 'include',
      headers: () => ({ authorization: `Bearer t${++calls}`, 'content-type': 'application/json' }),
      lastEventId: 'resume-here',
    });
    await settle();
    const first = requests.items[0]!;
    assert.equal(first.init.method, 'POST');
    assert.equal(first.init.body, '{"prompt":"hi"}');
    assert.equal(first.init.credentials, 'include');
    assert.equal(first.init.cache, 'no-store');
    assert.equal(first.headers.get('authorization'), 'Bearer t1');
    assert.equal(first.headers.get('accept'), 'text/event-stream');
    assert.equal(first.headers.get('last-event-id'), 'resume-here');
    first.body!.end();
    await settle();
    await clock.advance(clock.pending[0]!);
    const second = requests.items[1]!;
    assert.equal(second.headers.get('authorization'), 'Bearer t2');
    assert.equal(second.init.body, '{"prompt":"hi"}');
    assert.equal(second.headers.get('last-event-id'), 'resume-here');
    sub.close();
  });

  test('a lastEventId with a line break is refused', () => {
    assert.throws(() => subscribe(URL_, { lastEventId: 'a\nb' }), TypeError);
  });

  test('subscribeHub: topic parameters and a bearer token (refreshed per attempt)', async () => {
    const { fetch, requests } = scriptedFetch([{ stream: true }]);
    let n = 0;
    const sub = subscribeHub('http://hub.test/.well-known/mercure?x=1', {
      topics: ['/books/{id}', 'https://example.com/a b'],
      token: async () => `jwt${++n}`,
      headers: { 'x-extra': 'yes' },
      lastEventId: 'e9',
      fetch,
    });
    await settle();
    const request = requests.items[0]!;
    const url = new URL(request.url);
    assert.deepEqual(url.searchParams.getAll('topic'), ['/books/{id}', 'https://example.com/a b']);
    assert.equal(url.searchParams.get('x'), '1');
    assert.equal(request.headers.get('authorization'), 'Bearer jwt1');
    assert.equal(request.headers.get('x-extra'), 'yes');
    assert.equal(request.headers.get('last-event-id'), 'e9');
    sub.close();
  });
});

describe('subscribe: lifecycle', () => {
  test('async iteration yields events and ends on close()', async () => {
    const { sub, requests } = start([{ stream: true }]);
    await settle();
    requests.items[0]!.body!.push('data: 1\n\ndata: 2\n\n');
    const seen: string[] = [];
    for await (const event of sub) {
      seen.push(event.data);
      if (seen.length === 2) setTimeout(() => sub.close(), 1);
    }
    assert.deepEqual(seen, ['1', '2']);
    assert.equal(sub.readyState, 2);
    assert.equal(await sub.closed, undefined);
  });

  test('break closes the subscription and aborts the request', async () => {
    const { sub, requests, closes } = start([{ stream: true }]);
    await settle();
    requests.items[0]!.body!.push('data: 1\n\n');
    for await (const _ of sub) break;
    assert.equal(sub.readyState, 2);
    assert.deepEqual(closes, [undefined]);
    assert.equal(requests.items[0]!.init.signal?.aborted, true);
  });

  test('an abort signal closes; an aborted one closes at once without a request', async () => {
    const controller = new AbortController();
    const { sub, requests, closes } = start([{ stream: true }], { signal: controller.signal });
    await settle();
    const iterated = (async () => {
      const seen: string[] = [];
      for await (const event of sub) seen.push(event.data);
      return seen;
    })();
    requests.items[0]!.body!.push('data: before\n\n');
    await settle();
    controller.abort();
    assert.deepEqual(await iterated, ['before']);
    assert.deepEqual(closes, [undefined]);

    const early = start([{ stream: true }], { signal: AbortSignal.abort() });
    await settle();
    assert.equal(early.sub.readyState, 2);
    assert.equal(early.requests.items.length, 0);
  });

  test('on() returns an unsubscribe function', async () => {
    const { sub, requests } = start([{ stream: true }]);
    const got: string[] = [];
    const off = sub.on('message', (data) => got.push(data));
    await settle();
    requests.items[0]!.body!.push('data: 1\n\n');
    await settle();
    off();
    requests.items[0]!.body!.push('data: 2\n\n');
    await settle();
    assert.deepEqual(got, ['1']);
    sub.close();
  });

  test('pauseWhenHidden: disconnects while hidden, resumes with Last-Event-ID when shown', async () => {
    const page = new EventTarget() as EventTarget & { visibilityState: string };
    page.visibilityState = 'visible';
    const { sub, requests, clock } = start([{ stream: true }], {
      pauseWhenHidden: true,
      visibility: page as unknown as VisibilitySource,
    });
    await settle();
    requests.items[0]!.body!.push('id: 4\ndata: x\n\n');
    await settle();
    page.visibilityState = 'hidden';
    page.dispatchEvent(new Event('visibilitychange'));
    assert.equal(requests.items[0]!.init.signal?.aborted, true);
    assert.equal(sub.readyState, 0);
    await clock.advance(60_000);
    assert.equal(requests.items.length, 1, 'no reconnection while hidden');
    page.visibilityState = 'visible';
    page.dispatchEvent(new Event('visibilitychange'));
    await settle();
    assert.equal(requests.items.length, 2);
    assert.equal(requests.items[1]!.headers.get('last-event-id'), '4');
    sub.close();
  });

  test('pauseWhenHidden: a page hidden at the start connects only once shown; off by default', async () => {
    const page = new EventTarget() as EventTarget & { visibilityState: string };
    page.visibilityState = 'hidden';
    const paused = start([{ stream: true }], {
      pauseWhenHidden: true,
      visibility: page as unknown as VisibilitySource,
    });
    await settle();
    assert.equal(paused.requests.items.length, 0);
    page.visibilityState = 'visible';
    page.dispatchEvent(new Event('visibilitychange'));
    await settle();
    assert.equal(paused.requests.items.length, 1);
    paused.sub.close();

    const stays = start([{ stream: true }], { visibility: page as unknown as VisibilitySource });
    await settle();
    page.visibilityState = 'hidden';
    page.dispatchEvent(new Event('visibilitychange'));
    assert.equal(stays.sub.readyState, 1);
    stays.sub.close();
  });
});
