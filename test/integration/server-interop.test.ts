import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import type { Browser } from 'playwright-core';
import type { HeraldServer } from '../../src/server/app.js';
import { Collector, deferred, withTimeout } from '../helpers/async.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import {
  HUB,
  idsOf,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
  subscriberToken,
  subscribeUrl,
} from '../helpers/hub-server.js';

// The hub with the clients people use: the `eventsource` npm package and Chromium's own
// EventSource as subscribers, plain `fetch` with a form body as the publisher (what a PHP or
// Python backend sends), and resuming with Last-Event-ID / lastEventID.

/** A backend publishing the way PHP's or Python's HTTP clients do: a urlencoded POST. */
async function backendPublish(
  base: string,
  token: string,
  fields: Record<string, string>,
): Promise<string> {
  const res = await fetch(`${base}${HUB}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
    body: new URLSearchParams(fields), // Content-Type: application/x-www-form-urlencoded;charset=UTF-8
  });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return body;
}

interface Got {
  type: string;
  data: string;
  id: string;
}

/** Collects the messages of an `eventsource` EventSource (`message` and the given types). */
function collect(source: EventSource, types: string[] = []): Collector<Got> {
  const got = new Collector<Got>();
  for (const type of ['message', ...types]) {
    source.addEventListener(type, (event) => {
      const e = event as MessageEvent<string>;
      got.push({ type: e.type, data: e.data, id: e.lastEventId });
    });
  }
  return got;
}

function opened(source: EventSource): Promise<void> {
  const open = deferred();
  source.addEventListener('open', () => open.resolve(), { once: true });
  return withTimeout(open.promise, `the EventSource ${source.url} to open`);
}

describe('the eventsource package as a subscriber, fetch as the publisher', () => {
  let server: HeraldServer;
  let token: string;
  const sources: EventSource[] = [];
  before(async () => {
    server = await startHub(['--anonymous']);
    token = await publisherToken();
  });
  after(async () => {
    for (const source of sources) source.close();
    await server.close(1000);
  });

  test('public updates: data, multi-line data, custom types and ids arrive as published', async () => {
    const source = new EventSource(subscribeUrl(server.url, ['https://example.com/books/{id}']));
    sources.push(source);
    const got = collect(source, ['book.updated']);
    await opened(source);

    const first = await backendPublish(server.url, token, {
      topic: 'https://example.com/books/1',
      data: JSON.stringify({ title: 'Dune' }),
    });
    const second = await backendPublish(server.url, token, {
      topic: 'https://example.com/books/2',
      data: 'line one\nline two\r\nline three',
      type: 'book.updated',
      id: 'book-2-rev-7',
    });
    const third = await backendPublish(server.url, token, {
      topic: 'https://example.com/authors/1', // not selected
      data: 'nope',
    });
    const fourth = await backendPublish(server.url, token, {
      topic: 'https://example.com/books/3',
      data: 'héllo ✓ 😀',
    });
    assert.equal(second, 'book-2-rev-7');
    const events = await got.until((list) => idsOf(list).includes(fourth), 'the fourth event');
    assert.deepEqual(events, [
      { type: 'message', data: '{"title":"Dune"}', id: first },
      { type: 'book.updated', data: 'line one\nline two\nline three', id: second },
      { type: 'message', data: 'héllo ✓ 😀', id: fourth },
    ]);
    assert.ok(!idsOf(events).includes(third));
  });

  test('private updates reach the EventSource whose fetch sends the Authorization header', async () => {
    const bearer = await subscriberToken(['/inbox/{user}']);
    const authed = new EventSource(subscribeUrl(server.url, ['/inbox/ada']), {
      fetch: (input, init) =>
        fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${bearer}` } }),
    });
    const anonymous = new EventSource(subscribeUrl(server.url, ['/inbox/ada']));
    sources.push(authed, anonymous);
    const gotAuthed = collect(authed);
    const gotAnonymous = collect(anonymous);
    await Promise.all([opened(authed), opened(anonymous)]);

    const secret = await backendPublish(server.url, token, {
      topic: '/inbox/ada',
      data: 'for ada only',
      private: 'on',
    });
    const open = await backendPublish(server.url, token, { topic: '/inbox/ada', data: 'for all' });
    assert.deepEqual(
      idsOf(await gotAuthed.until((l) => idsOf(l).includes(open), 'the public one (authed)')),
      [secret, open],
    );
    assert.deepEqual(
      idsOf(await gotAnonymous.until((l) => idsOf(l).includes(open), 'the public one (anonymous)')),
      [open],
    );
  });

  test('after the hub ends its stream, the EventSource reconnects with Last-Event-ID: no gap, no duplicate', async () => {
    const topic = '/resume/es';
    const source = new EventSource(subscribeUrl(server.url, [topic]));
    sources.push(source);
    const got = collect(source);
    await opened(source);
    // retry: 10 makes the client reconnect quickly.
    const first = await backendPublish(server.url, token, { topic, data: '1', retry: '10' });
    await got.until((l) => idsOf(l).includes(first), 'the first event');

    const errored = deferred();
    source.addEventListener('error', () => errored.resolve(), { once: true });
    for (const sub of server.hub.subscriptions()) if (sub.topics.includes(topic)) sub.close();
    await withTimeout(errored.promise, 'the EventSource to notice the end of its stream');
    // Published while the client is away (or just back): either way it must arrive once.
    const second = await backendPublish(server.url, token, { topic, data: '2' });
    const third = await backendPublish(server.url, token, { topic, data: '3' });
    const events = await got.until(
      (l) => idsOf(l).includes(third),
      'the events after reconnecting',
    );
    assert.deepEqual(idsOf(events), [first, second, third]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^herald_replays_total [1-9]/m, 'the reconnection asked for a replay');
  });
});

describe('resuming with Last-Event-ID and lastEventID', () => {
  let server: HeraldServer;
  let ids: string[];
  const topic = '/resume/raw';
  before(async () => {
    server = await startHub(['--anonymous']);
    const token = await publisherToken();
    ids = [];
    for (const data of ['a', 'b', 'c'])
      ids.push(await publishOk(server.url, { topic, data }, token));
    await publishOk(server.url, { topic: '/elsewhere', data: 'x' }, token);
  });
  after(() => server.close(1000));

  test('the Last-Event-ID header replays what came after, and the response names it', async () => {
    const stream = await subscribe(server.url, [topic], { headers: { 'last-event-id': ids[0]! } });
    assert.equal(stream.res.headers['last-event-id'], ids[0]);
    const events = await stream.reader.events.count(2, 'the two missed events');
    assert.deepEqual(idsOf(events), ids.slice(1));
    assert.deepEqual(
      events.map((e) => e.data),
      ['b', 'c'],
    );
    stream.req.destroy();
  });

  test('the lastEventID query parameter does the same (browsers cannot set the header)', async () => {
    const stream = await subscribe(server.url, [topic], { query: { lastEventID: ids[1]! } });
    assert.equal(stream.res.headers['last-event-id'], ids[1]);
    const events = await stream.reader.events.count(1, 'the missed event');
    assert.deepEqual(idsOf(events), [ids[2]]);
    stream.req.destroy();
  });

  test('the header beats the query parameter', async () => {
    const stream = await subscribe(server.url, [topic], {
      headers: { 'last-event-id': ids[1]! },
      query: { lastEventID: ids[0]! },
    });
    assert.equal(stream.res.headers['last-event-id'], ids[1]);
    const events = await stream.reader.events.count(1, 'the missed event');
    assert.deepEqual(idsOf(events), [ids[2]]);
    stream.req.destroy();
  });

  test('earliest replays everything retained; without an id the header names the newest event', async () => {
    const all = await subscribe(server.url, [topic], { query: { lastEventID: 'earliest' } });
    assert.equal(all.res.headers['last-event-id'], 'earliest');
    assert.deepEqual(idsOf(await all.reader.events.count(3, 'the whole history')), ids);
    all.req.destroy();

    const fresh = await subscribe(server.url, [topic]);
    assert.ok(fresh.res.headers['last-event-id'], 'a Last-Event-ID header');
    assert.notEqual(
      fresh.res.headers['last-event-id'],
      ids[2],
      'the newest event overall (on /elsewhere)',
    );
    fresh.req.destroy();
  });

  test('an id the hub no longer has: a herald.gap event, then the retained history', async () => {
    const stream = await subscribe(server.url, [topic], {
      headers: { 'last-event-id': 'forgotten' },
    });
    assert.equal(stream.res.headers['last-event-id'], 'earliest');
    const events = await stream.reader.events.count(4, 'the gap and the history');
    assert.equal(events[0]!.event, 'herald.gap');
    assert.deepEqual(idsOf(events.slice(1)), ids);
    stream.req.destroy();
  });
});

describe("Chromium's EventSource", { skip: chromiumSkipReason() }, () => {
  let server: HeraldServer;
  let browser: Browser;
  let token: string;
  before(async () => {
    // --dev: anonymous subscribers and the dashboard at `/`, a page on the hub's own origin.
    server = await startHub(['--dev']);
    browser = await launchChromium();
    token = await publisherToken();
  });
  after(async () => {
    await browser?.close();
    await server?.close(1000);
  });

  /** Opens the dashboard page and, in it, an EventSource on `topics` that records events. */
  async function pageWithEventSource(topics: string[], cookie?: string) {
    const context = await browser.newContext();
    if (cookie !== undefined) {
      await context.addCookies([{ name: 'mercureAuthorization', value: cookie, url: server.url }]);
    }
    const page = await context.newPage();
    const response = await page.goto(`${server.url}/`);
    assert.equal(response?.status(), 200);
    const path = subscribeUrl('', topics);
    // Plain script text: the test's TypeScript is compiled with helpers the page does not have.
    await page.evaluate(`(async () => {
      window.got = [];
      const es = new EventSource(${JSON.stringify(path)});
      window.es = es;
      for (const type of ['message', 'note']) {
        es.addEventListener(type, (e) => window.got.push({ type: e.type, data: e.data, id: e.lastEventId }));
      }
      await new Promise((resolve, reject) => {
        es.onopen = () => resolve();
        es.onerror = () => reject(new Error('EventSource failed'));
      });
      es.onerror = null;
    })()`);
    const got = (): Promise<Got[]> =>
      page.evaluate(() => (window as unknown as { got: Got[] }).got);
    const until = async (id: string): Promise<Got[]> => {
      await page.waitForFunction(
        (want) => (window as unknown as { got: Got[] }).got.some((e) => e.id === want),
        id,
        { timeout: 10_000 },
      );
      return got();
    };
    return { context, page, got, until };
  }

  test('receives what a backend publishes, with types, ids and multi-line data', async () => {
    const { context, until } = await pageWithEventSource(['/chromium/{room}']);
    try {
      const a = await backendPublish(server.url, token, { topic: '/chromium/1', data: 'hello' });
      const b = await backendPublish(server.url, token, {
        topic: '/chromium/2',
        data: 'two\nlines',
        type: 'note',
        id: 'chromium-note-1',
      });
      assert.deepEqual(await until(b), [
        { type: 'message', data: 'hello', id: a },
        { type: 'note', data: 'two\nlines', id: 'chromium-note-1' },
      ]);
    } finally {
      await context.close();
    }
  });

  test('the mercureAuthorization cookie lets the browser receive private updates; without it, none', async () => {
    const withCookie = await pageWithEventSource(
      ['/chromium/private'],
      await subscriberToken(['/chromium/{x}']),
    );
    const without = await pageWithEventSource(['/chromium/private']);
    try {
      const secret = await backendPublish(server.url, token, {
        topic: '/chromium/private',
        data: 'secret',
        private: '1',
      });
      const open = await backendPublish(server.url, token, {
        topic: '/chromium/private',
        data: 'open',
      });
      assert.deepEqual(idsOf(await withCookie.until(open)), [secret, open]);
      assert.deepEqual(idsOf(await without.until(open)), [open]);
    } finally {
      await withCookie.context.close();
      await without.context.close();
    }
  });

  test('reconnects by itself with Last-Event-ID after the hub ends its stream: no gap, no duplicate', async () => {
    const topic = '/chromium/resume';
    const { context, until, page } = await pageWithEventSource([topic]);
    try {
      const first = await backendPublish(server.url, token, { topic, data: '1', retry: '50' });
      await until(first);
      await page.evaluate(
        `window.errored = false; window.es.onerror = () => { window.errored = true; };`,
      );
      for (const sub of server.hub.subscriptions()) if (sub.topics.includes(topic)) sub.close();
      await page.waitForFunction(() => (window as unknown as { errored: boolean }).errored, null, {
        timeout: 10_000,
      });
      const second = await backendPublish(server.url, token, { topic, data: '2' });
      const third = await backendPublish(server.url, token, { topic, data: '3' });
      assert.deepEqual(idsOf(await until(third)), [first, second, third]);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /^herald_replays_total [1-9]/m, 'Chromium resumed with Last-Event-ID');
    } finally {
      await context.close();
    }
  });
});
