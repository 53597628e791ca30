import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { HeraldServer } from '../../src/server/app.js';
import { waitFor, withTimeout } from '../helpers/async.js';
import {
  assertErrorResponse,
  assertErrorResult,
  eventually,
  HUB,
  http,
  idsOf,
  makeToken,
  publish,
  publisherToken,
  publishOk,
  SECRET,
  startHub,
  subscribe,
  subscribeUrl,
} from '../helpers/hub-server.js';

// Operations: health, readiness and Prometheus metrics; graceful shutdown (a `retry` hint, the
// streams end, new connections refused); and requests that go wrong on the client's side.

describe('health and metrics', () => {
  let server: HeraldServer;
  before(async () => {
    server = await startHub(['--anonymous']);
  });
  after(() => server.close(1000));

  test('/healthz and /readyz answer 200 (GET and HEAD)', async () => {
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await health.text()).trim(), 'ok');
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.text()).trim(), 'ready');
    for (const path of ['/healthz', '/readyz']) {
      const head = await http(`${server.url}${path}`, { method: 'HEAD' });
      assert.equal(head.status, 200, path);
      assert.equal(head.body, '');
    }
  });

  /** The value of one sample of the exposition text (`name{labels} value`). */
  function sample(text: string, name: string, labels = ''): number | undefined {
    for (const line of text.split('\n')) {
      if (line.startsWith('#')) continue;
      const space = line.lastIndexOf(' ');
      if (line.slice(0, space) === `${name}${labels}`) return Number(line.slice(space + 1));
    }
    return undefined;
  }

  async function metrics(): Promise<string> {
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  }

  test('/metrics counts connections, published events and auth failures', async () => {
    const before = await metrics();
    for (const name of [
      'herald_connections',
      'herald_events_published_total',
      'herald_subscriptions',
      'herald_events_delivered_total',
      'herald_bytes_written_total',
      'herald_replays_total',
    ]) {
      assert.match(before, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.equal(sample(before, 'herald_connections'), 0);

    const stream = await subscribe(server.url, ['/metrics-topic']);
    const token = await publisherToken();
    const id = await publishOk(server.url, { topic: '/metrics-topic', data: 'x' }, token);
    await publishOk(server.url, { topic: '/nobody', data: 'y' }, token);
    await stream.reader.events.until((e) => idsOf(e).includes(id), 'the event');

    // Failures: a publish without a token, one with a bad signature, a subscriber with a bad one.
    await publish(server.url, { topic: '/a' }, undefined).then((r) => r.text());
    const forged = await makeToken({ publish: ['*'] }, { secret: `${SECRET}!` });
    await publish(server.url, { topic: '/a' }, forged).then((r) => r.text());
    await fetch(subscribeUrl(server.url, ['/a']), {
      headers: { authorization: `Bearer ${forged}` },
    }).then((r) => r.text());
    // A 403: publishing without a publish claim.
    await publish(server.url, { topic: '/a' }, await makeToken({ subscribe: ['*'] })).then((r) =>
      r.text(),
    );

    const text = await metrics();
    assert.equal(sample(text, 'herald_connections'), 1);
    assert.equal(sample(text, 'herald_subscriptions'), 1);
    assert.equal(sample(text, 'herald_subscriber_streams', '{transport="h1"}'), 1);
    assert.equal(sample(text, 'herald_subscriber_streams', '{transport="h2"}'), 0);
    assert.equal(sample(text, 'herald_events_published_total'), 2);
    assert.ok((sample(text, 'herald_events_delivered_total') ?? 0) >= 1);
    assert.equal(sample(text, 'herald_auth_failures_total', '{role="publisher",status="401"}'), 2);
    assert.equal(sample(text, 'herald_auth_failures_total', '{role="subscriber",status="401"}'), 1);
    assert.equal(sample(text, 'herald_http_errors_total', '{route="publish",status="403"}'), 1);

    stream.req.destroy();
    await waitFor(() => server.hub.stats().subscribers === 0, 'the subscriber to leave');
    const after = await metrics();
    assert.equal(sample(after, 'herald_connections'), 0);
    assert.equal(sample(after, 'herald_subscriber_streams', '{transport="h1"}'), 0);
  });
});

describe('graceful shutdown', () => {
  test('close(): every stream gets a retry hint and ends, new connections are refused, close resolves', async () => {
    const server = await startHub(['--anonymous']);
    const token = await publisherToken();
    const streams = await Promise.all(
      ['/a', '/b', '/{x}'].map((topic) => subscribe(server.url, [topic])),
    );
    const id = await publishOk(server.url, { topic: ['/a', '/b'], data: 'last words' }, token);
    await Promise.all(
      streams
        .slice(0, 2)
        .map((s) => s.reader.events.until((e) => idsOf(e).includes(id), 'the event')),
    );

    const closed = server.close();
    for (const [i, stream] of streams.entries()) {
      const [retry] = await stream.reader.retries.count(1, `a retry hint on stream ${i}`);
      assert.ok(Number.isInteger(retry) && retry! > 0, `retry ${retry}`);
      await stream.reader.end(`the end of stream ${i}`);
      assert.ok(stream.res.complete, `stream ${i} was ended cleanly, not cut`);
      // The hint comes after everything delivered, at the very end.
      assert.match(stream.reader.text, /retry: ?\d+\n\n$/);
    }
    await withTimeout(closed, 'close() to resolve');
    assert.equal(server.server.listening, false);
    await assert.rejects(
      fetch(`${server.url}/healthz`),
      (error: Error & { cause?: { code?: string } }) => {
        assert.equal(error.cause?.code, 'ECONNREFUSED');
        return true;
      },
    );
    // Closing again is harmless.
    await withTimeout(server.close(), 'a second close()');
  });

  test('a subscriber whose token is still being verified when close() starts gets a 503, not a 500', async () => {
    const server = await startHub([]);
    const token = await makeToken({ subscribe: ['*'] });
    // The hub's handler runs first and awaits the token's verification; this listener then
    // starts the shutdown, so the subscription is refused by a closed hub.
    server.server.once('request', () => {
      void server.close();
    });
    const res = await http(subscribeUrl(server.url, ['/late']), {
      headers: { authorization: `Bearer ${token}` },
    });
    assertErrorResult(res, 503, /shutting down/);
    assert.ok(res.headers['retry-after']);
    await withTimeout(server.close(), 'close() to resolve');
  });

  test('close() ends a keep-alive connection that is between requests', async () => {
    const server = await startHub(['--anonymous']);
    // fetch keeps its connection open after the answer.
    const res = await fetch(`${server.url}/healthz`);
    await res.text();
    await withTimeout(server.close(), 'close() with an idle keep-alive connection');
  });
});

describe('clients that misbehave', () => {
  let server: HeraldServer;
  let token: string;
  before(async () => {
    server = await startHub(['--anonymous']);
    token = await publisherToken();
  });
  after(() => server.close(1000));

  /**
   * Sends the head of a POST and part of its body on a raw socket, then drops the socket: at
   * once when the hub sees the request (before it reads the body), or once it reads the body.
   */
  async function cutPost(body: string, framing: 'length' | 'chunked', when: 'early' | 'reading') {
    const { hostname, port } = new URL(server.url);
    const arrived = new Promise<IncomingMessage>((resolve) =>
      server.server.once('request', (req: IncomingMessage) => resolve(req)),
    );
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    const head = [
      `POST ${HUB} HTTP/1.1`,
      `Host: ${hostname}:${port}`,
      `Authorization: Bearer ${token}`,
      'Content-Type: application/x-www-form-urlencoded',
      framing === 'length' ? `Content-Length: ${body.length * 4}` : 'Transfer-Encoding: chunked',
      '',
      '',
    ].join('\r\n');
    const part = framing === 'length' ? body : `${body.length.toString(16)}\r\n${body}\r\n`;
    socket.write(head + part);
    const req = await withTimeout(arrived, 'the hub to receive the request');
    if (when === 'reading') {
      // The hub reads the body once the publisher is authenticated.
      await waitFor(() => req.listenerCount('data') > 0, 'the hub to read the body');
    }
    socket.destroy();
    await once(socket, 'close');
  }

  /** The `herald_http_errors_total` sample of the publish route's 400s. */
  async function cutOffCount(): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('herald_http_errors_total{route="publish",status="400"}'));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  }

  test('a client that disconnects mid-POST body does not crash the hub or publish anything', async () => {
    const published: string[] = [];
    const onPublish = (event: { id: string }): void => {
      published.push(event.id);
    };
    server.hub.on('publish', onPublish);
    try {
      let cuts = 0;
      for (const when of ['early', 'reading'] as const) {
        for (const framing of ['length', 'chunked'] as const) {
          for (let i = 0; i < 3; i++) {
            await cutPost(`topic=/cut&data=${'x'.repeat(100)}`, framing, when);
            cuts++;
          }
        }
      }
      // Every cut request was settled as a 400 "cut off" (none left hanging).
      await eventually(
        async () => (await cutOffCount()) >= cuts,
        `${cuts} cut-off requests settled`,
      );
      assert.equal(await cutOffCount(), cuts);
      // Still serving: a whole publish goes through and reaches a subscriber.
      const stream = await subscribe(server.url, ['/cut']);
      const id = await publishOk(server.url, { topic: '/cut', data: 'whole' }, token);
      const events = await stream.reader.events.until(
        (e) => idsOf(e).includes(id),
        'the whole publish',
      );
      assert.deepEqual(idsOf(events), [id], 'no partial body was published');
      assert.deepEqual(published, [id]);
      stream.req.destroy();
    } finally {
      server.hub.off('publish', onPublish);
    }
  });

  test('subscribers that drop their connection are let go', async () => {
    for (let i = 0; i < 10; i++) {
      const stream = await subscribe(server.url, [`/drop/${i}`]);
      stream.req.destroy();
    }
    // A subscriber that goes away before the hub answers.
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.end(`GET ${HUB}?topic=/early HTTP/1.1\r\nHost: x\r\n\r\n`);
    socket.destroy();
    await waitFor(
      () => server.hub.stats().subscribers === 0,
      'every dropped subscriber to be gone',
    );
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
  });

  test('an engine failure during a replay ends that stream and is logged, not a crash', async () => {
    const failing = await startHub(['--anonymous']);
    try {
      // The engine fails the history read behind a resuming subscriber (while still reporting
      // itself ready, as a store that breaks mid-request does).
      failing.hub.engine.history = () => Promise.reject(new Error('store failed mid-read'));
      const res = await fetch(`${failing.url}${HUB}?topic=/a`, {
        headers: { 'last-event-id': 'some-id' },
      });
      assert.equal(res.status, 200);
      // The stream ends (the client would reconnect with its id); the body completes.
      await withTimeout(res.text(), 'the stream to end');
      await waitFor(() => failing.hub.stats().subscribers === 0, 'the subscription to end');
      assert.equal((await fetch(`${failing.url}/healthz`)).status, 200);
    } finally {
      await failing.close();
    }
  });

  test('topics that are not URLs are opaque strings, not a crash', async () => {
    for (const topic of [
      'http://[',
      'https://exa mple.com:99999/x',
      'urn:isbn:0451450523',
      '{"room":1}',
    ]) {
      const stream = await subscribe(server.url, [topic]);
      const id = await publishOk(server.url, { topic, data: topic }, token);
      const events = await stream.reader.events.until((e) => idsOf(e).includes(id), topic);
      assert.equal(events.at(-1)?.data, topic);
      stream.req.destroy();
    }
  });

  test('a malformed request target or percent-encoding is a 4xx, not a crash', async () => {
    const odd = await http(`${server.url}${HUB}?topic=%E0%A4%A&topic=/ok`, { method: 'HEAD' });
    assert.equal(
      odd.status,
      200,
      'a bad escape in the query is read leniently, as URLSearchParams does',
    );
    const notFound = await fetch(`${server.url}/%E0%A4%A`);
    await assertErrorResponse(notFound, 404, /nothing at GET/);
  });
});
