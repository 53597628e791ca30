// Herald's EventSource with a fake clock and a scripted fetch: the reconnection time (3 s by
// default, then what retry: says), the request it makes, and its failure paths. The behaviours
// shared with browsers are in the WPT-style suite (test/integration/client-wpt.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventSource } from '../../src/client/index.js';
import { FakeClock, scriptedFetch, settle } from '../helpers/client-fakes.js';

const URL_ = 'http://example.test/events';

function open(
  script: Parameters<typeof scriptedFetch>[0],
  init: { withCredentials?: boolean } = {},
) {
  const clock = new FakeClock();
  const { fetch, requests } = scriptedFetch(script);
  const es = new EventSource(URL_, { ...init, fetch, timers: clock });
  const log: string[] = [];
  es.onopen = () => log.push(`open ${es.readyState}`);
  es.onmessage = (e) =>
    log.push(`message ${(e as MessageEvent).data} ${(e as MessageEvent).lastEventId}`);
  es.onerror = () => log.push(`error ${es.readyState}`);
  return { es, clock, requests, log };
}

describe('EventSource reconnection time', () => {
  test('3000 ms by default, then what retry: sets, for every later reconnection', async () => {
    const { es, clock, requests, log } = open([{ stream: true }]);
    await settle();
    const first = requests.items[0]!.body!;
    first.push('id: 1\ndata: a\n\nevent: named\ndata: n\n\n');
    first.end();
    await settle();
    assert.deepEqual(clock.pending, [3000]);
    await clock.advance(2999);
    assert.equal(requests.items.length, 1, 'no request before the reconnection time');
    await clock.advance(1);
    assert.equal(requests.items.length, 2);
    const second = requests.items[1]!.body!;
    second.push('retry: 1234\n\n');
    second.end();
    await settle();
    assert.deepEqual(clock.pending, [1234]);
    await clock.advance(1234);
    requests.items[2]!.body!.end();
    await settle();
    assert.deepEqual(clock.pending, [1234], 'the reconnection time persists');
    assert.deepEqual(log, [
      'open 1',
      'message a 1',
      'error 0',
      'open 1',
      'error 0',
      'open 1',
      'error 0',
    ]);
    es.close();
    assert.deepEqual(clock.pending, [], 'close() cancels the pending reconnection');
  });

  test('a network error reconnects after the reconnection time too', async () => {
    const { es, clock, requests, log } = open([
      { reject: new TypeError('fetch failed') },
      { stream: true },
    ]);
    await settle();
    assert.deepEqual(log, ['error 0']);
    assert.deepEqual(clock.pending, [3000]);
    await clock.advance(3000);
    assert.equal(requests.items.length, 2);
    assert.deepEqual(log, ['error 0', 'open 1']);
    es.close();
  });

  test("undici's body timeout is a network error: reconnect, not fail", async () => {
    const { es, clock, requests, log } = open([{ stream: true }]);
    await settle();
    const timeout = Object.assign(new Error('Body Timeout Error'), {
      code: 'UND_ERR_BODY_TIMEOUT',
    });
    requests.items[0]!.body!.error(new TypeError('terminated', { cause: timeout }));
    await settle();
    assert.deepEqual(log, ['open 1', 'error 0']);
    assert.deepEqual(clock.pending, [3000]);
    es.close();
  });

  test('a fetch aborted by someone else (the user agent) fails the connection', async () => {
    const { clock, log } = open([
      { reject: new DOMException('The operation was aborted.', 'AbortError') },
    ]);
    await settle();
    assert.deepEqual(log, ['error 2']);
    assert.deepEqual(clock.pending, []);
  });

  test('a 200 with the wrong type fails the connection: error, CLOSED, nothing pending', async () => {
    const { clock, log, es } = open([{ status: 200, type: 'text/plain', text: 'data: x\n\n' }]);
    await settle();
    assert.deepEqual(log, ['error 2']);
    assert.equal(es.readyState, EventSource.CLOSED);
    assert.deepEqual(clock.pending, []);
  });
});

describe('EventSource requests', () => {
  test('no-store cache mode, same-origin credentials, Accept; Last-Event-ID as UTF-8 bytes', async () => {
    const { es, clock, requests } = open([{ stream: true }]);
    await settle();
    const first = requests.items[0]!;
    assert.equal(first.url, URL_);
    assert.equal(first.init.cache, 'no-store');
    assert.equal(first.init.credentials, 'same-origin');
    assert.equal(first.headers.get('accept'), 'text/event-stream');
    assert.equal(first.headers.has('last-event-id'), false);
    first.body!.push('id: é☃\ndata: x\n\n');
    first.body!.end();
    await clock.advance(3000);
    const header = requests.items[1]!.headers.get('last-event-id')!;
    assert.equal(Buffer.from(header, 'latin1').toString('utf8'), 'é☃');
    assert.equal(es.lastEventId, 'é☃', 'the lastEventId extension');
    es.close();
  });

  test('withCredentials: credentials mode include', async () => {
    const { es, requests } = open([{ stream: true }], { withCredentials: true });
    await settle();
    assert.equal(requests.items[0]!.init.credentials, 'include');
    assert.equal(es.withCredentials, true);
    es.close();
  });

  test('close() aborts the request', async () => {
    const { es, requests } = open([{ stream: true }]);
    await settle();
    es.close();
    assert.equal(requests.items[0]!.init.signal?.aborted, true);
  });

  test('a relative URL has no base in Node: SyntaxError', () => {
    assert.throws(
      () => new EventSource('/events'),
      (error: unknown) => error instanceof DOMException && error.name === 'SyntaxError',
    );
  });
});
