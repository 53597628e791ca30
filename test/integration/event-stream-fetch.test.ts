// createEventStreamResponse: the Fetch-API form, read directly from `response.body` and served
// through a small node:http bridge (what Web-standard adapters do) to the eventsource client.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import {
  type CloseReason,
  createEventStreamResponse,
  type FetchEventStream,
  HeraldStreamError,
  type OverflowInfo,
} from '../../src/index.js';
import { Collector, deferred, waitFor, withTimeout } from '../helpers/async.js';
import { Routes, startHttpServer, type TestHttpServer } from '../helpers/server.js';
import { WebStreamReader } from '../helpers/sse.js';

const request = (path: string, headers: Record<string, string> = {}): Request =>
  new Request(`http://localhost${path}`, { headers });

describe('the Response', () => {
  test('has the event-stream headers and no Connection header', () => {
    const stream = createEventStreamResponse(request('/'), {
      heartbeatMs: 0,
      headers: { 'Access-Control-Allow-Origin': 'https://app.example', Connection: 'keep-alive' },
    });
    const { response } = stream;
    assert.equal(stream.toResponse(), response);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'no-cache, no-transform');
    assert.equal(response.headers.get('x-accel-buffering'), 'no');
    assert.equal(response.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(response.headers.has('connection'), false);
    stream.close();
  });

  test('lastEventId: header, else lastEventID query parameter, else empty', () => {
    const ids = [
      createEventStreamResponse(request('/?lastEventID=5'), { heartbeatMs: 0 }),
      createEventStreamResponse(request('/?lastEventID=5', { 'Last-Event-ID': '9' }), {
        heartbeatMs: 0,
      }),
      createEventStreamResponse(request('/'), { heartbeatMs: 0 }),
    ].map((stream) => {
      stream.close();
      return stream.lastEventId;
    });
    assert.deepEqual(ids, ['5', '9', '']);
  });

  test('an invalid option throws a HeraldStreamError', () => {
    assert.throws(
      () => createEventStreamResponse(request('/'), { queueBytes: -1 }),
      (error: unknown) => error instanceof HeraldStreamError && error.option === 'queueBytes',
    );
  });
});

describe('reading response.body', () => {
  test('starts with the comment, then events; cancelling the body closes the stream', async () => {
    const reasons: CloseReason[] = [];
    const stream = createEventStreamResponse(request('/'), {
      heartbeatMs: 0,
      retry: 50,
      onClose: (reason) => reasons.push(reason),
    });
    const body = new WebStreamReader(stream.response.body!);
    await body.untilText((text) => text.length > 0, 'the first bytes');
    assert.equal(body.text, ': ok\nretry: 50\n\n');
    stream.send({ id: '1', event: 'tick', data: 'one' });
    stream.send({ id: '2', data: 'two' });
    const events = await body.events.count(2);
    assert.deepEqual(events, [
      { id: '1', event: 'tick', data: 'one' },
      { id: '2', event: undefined, data: 'two' },
    ]);
    await body.reader.cancel();
    assert.deepEqual(reasons, ['client']);
    assert.equal(stream.closed, true);
    assert.equal(stream.signal.aborted, true);
    assert.equal(stream.send({ data: 'late' }), false);
    assert.equal(await body.done, 'done');
  });

  test('close() ends the body after everything sent', async () => {
    const stream = createEventStreamResponse(request('/'), { heartbeatMs: 0 });
    for (let i = 1; i <= 3; i++) stream.send({ id: String(i), data: `#${i}` });
    stream.close();
    stream.close();
    const body = new WebStreamReader(stream.response.body!);
    assert.equal(await body.done, 'done');
    assert.deepEqual(
      body.events.items.map((e) => e.data),
      ['#1', '#2', '#3'],
    );
    assert.equal(stream.closeReason, 'server');
  });

  test('request.signal aborting closes the stream with reason client and ends the body', async () => {
    const controller = new AbortController();
    const closed = deferred<CloseReason>();
    const stream = createEventStreamResponse(
      new Request('http://localhost/', { signal: controller.signal }),
      { heartbeatMs: 0, onClose: closed.resolve },
    );
    const body = new WebStreamReader(stream.response.body!);
    await body.untilText((text) => text.length > 0, 'the first bytes');
    controller.abort();
    assert.equal(await closed.promise, 'client');
    // Ended, not errored: servers log body errors as failures, and a disconnect is not one.
    assert.equal(await body.done, 'done');
  });

  test('a heartbeat comment when idle', async () => {
    const stream = createEventStreamResponse(request('/'), { heartbeatMs: 10 });
    const body = new WebStreamReader(stream.response.body!);
    await body.untilText((text) => text === ': ok\n:\n:\n', 'two heartbeats');
    stream.close();
    await body.done;
  });
});

describe('backpressure without a reader', () => {
  test('events queue while nobody reads, and flow again when the body is read', async () => {
    const stream = createEventStreamResponse(request('/'), { heartbeatMs: 0 });
    let id = 0;
    while (stream.queuedBytes === 0 && id < 10_000)
      stream.send({ id: String(++id), data: 'w'.repeat(100) });
    for (let i = 0; i < 100; i++) stream.send({ id: String(++id), data: 'w'.repeat(100) });
    assert.ok(stream.bufferedBytes >= 16 * 1024 + stream.queuedBytes);
    const body = new WebStreamReader(stream.response.body!);
    await waitFor(() => stream.queuedBytes === 0, 'the queue to drain through pull()');
    stream.send({ id: String(++id), data: 'last' });
    await body.events.count(id);
    assert.deepEqual(
      body.events.items.map((e) => e.id),
      Array.from({ length: id }, (_, i) => String(i + 1)),
    );
    assert.equal(stream.droppedEvents, 0);
    stream.close();
  });

  test('drop-oldest bounds the queue and keeps whole events', async () => {
    const queueBytes = 8 * 1024;
    const overflows: OverflowInfo[] = [];
    const stream = createEventStreamResponse(request('/'), {
      heartbeatMs: 0,
      queueBytes,
      overflow: 'drop-oldest',
      onOverflow: (info) => overflows.push(info),
    });
    const payload = 'z'.repeat(500);
    let maxQueued = 0;
    for (let id = 1; id <= 200; id++) {
      assert.equal(stream.send({ id: String(id), data: payload }), true);
      maxQueued = Math.max(maxQueued, stream.queuedBytes);
    }
    assert.ok(maxQueued <= queueBytes);
    assert.ok(stream.bufferedBytes > stream.queuedBytes, 'the body holds bytes too');
    assert.ok(stream.droppedEvents > 0);
    assert.equal(
      stream.droppedEvents,
      overflows.reduce((sum, info) => sum + info.droppedEvents, 0),
    );
    assert.ok(
      overflows.every((info) => info.policy === 'drop-oldest' && info.queuedBytes <= queueBytes),
    );
    // An event larger than the whole queue cannot be kept: it is the one dropped.
    assert.equal(stream.send({ id: 'huge', data: 'h'.repeat(queueBytes) }), false);
    assert.equal(overflows.at(-1)?.droppedEvents, 1);
    assert.equal(stream.closed, false);

    const body = new WebStreamReader(stream.response.body!);
    stream.send({ id: '201', data: payload });
    stream.close();
    await body.done;
    const ids = body.events.items.map((e) => Number(e.id));
    assert.ok(body.events.items.every((e) => e.data === payload));
    assert.ok(ids.every((value, i) => i === 0 || value > ids[i - 1]!));
    assert.equal(ids.at(-1), 201);
    assert.equal(ids.length, 201 - stream.droppedEvents + 1); // + 1: the huge one was not sent
  });

  test('close policy: the body errors and the stream closes with reason overflow', async () => {
    const overflowed = deferred<OverflowInfo>();
    const reasons: CloseReason[] = [];
    const stream = createEventStreamResponse(request('/'), {
      heartbeatMs: 0,
      queueBytes: 4096,
      onOverflow: overflowed.resolve,
      onClose: (reason) => reasons.push(reason),
    });
    let sent = 0;
    while (stream.send({ id: String(++sent), data: 'q'.repeat(500) })) {
      assert.ok(sent < 1000, 'overflow must come');
    }
    const info = await overflowed.promise;
    assert.equal(info.policy, 'close');
    assert.deepEqual(reasons, ['overflow']);
    assert.equal(stream.closeReason, 'overflow');
    const body = new WebStreamReader(stream.response.body!);
    assert.equal(await body.done, 'error');
  });
});

describe('served through a node:http bridge', () => {
  const routes = new Routes();
  let server: TestHttpServer;
  before(async () => {
    server = await startHttpServer(routes.handle);
  });
  after(() => server.close());

  /** What a Web-standard adapter does: Request in, Response body piped out. */
  async function bridge(
    req: IncomingMessage,
    res: ServerResponse,
    handler: (request: Request) => Response,
  ): Promise<void> {
    const controller = new AbortController();
    res.once('close', () => controller.abort());
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers.set(name, value);
    }
    const response = handler(
      new Request(`http://${req.headers.host}${req.url}`, { headers, signal: controller.signal }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.flushHeaders();
    const reader = response.body!.getReader();
    res.once('close', () => {
      reader.cancel().catch(() => {});
    });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!res.write(value)) await once(res, 'drain');
      }
      res.end();
    } catch {
      res.destroy();
    }
  }

  test('events, named events and a reconnect with Last-Event-ID reach the eventsource client', async () => {
    const lastIds: string[] = [];
    routes.set('/fetch', (req, res) =>
      bridge(req, res, (incoming) => {
        const stream = createEventStreamResponse(incoming, { retry: 50, heartbeatMs: 0 });
        lastIds.push(stream.lastEventId);
        if (stream.lastEventId === '') {
          stream.send({ id: 'a', data: 'first' });
          stream.send({ id: 'b', event: 'named', data: 'second' });
          stream.close();
        } else {
          stream.send({ id: 'c', data: `resumed after ${stream.lastEventId}` });
        }
        return stream.response;
      }),
    );
    const source = new EventSource(`${server.origin}/fetch`);
    try {
      const received = new Collector<string>();
      source.onmessage = (event) => received.push(`message:${event.data}`);
      source.addEventListener('named', (event) => received.push(`named:${event.data}`));
      await received.count(3);
      assert.deepEqual(received.items, [
        'message:first',
        'named:second',
        'message:resumed after b',
      ]);
      assert.deepEqual(lastIds, ['', 'b']);
    } finally {
      source.close();
    }
  });

  test('a client that disconnects closes the stream once, with reason client', async () => {
    const reasons: CloseReason[] = [];
    const closed = deferred<void>();
    const opened = deferred<FetchEventStream>();
    routes.set('/fetch-abort', (req, res) =>
      bridge(req, res, (incoming) => {
        const stream = createEventStreamResponse(incoming, {
          heartbeatMs: 0,
          onClose: (reason) => {
            reasons.push(reason);
            closed.resolve();
          },
        });
        opened.resolve(stream);
        return stream.response;
      }),
    );
    const source = new EventSource(`${server.origin}/fetch-abort`);
    await withTimeout(once(source, 'open'), 'open');
    source.close();
    await withTimeout(closed.promise, 'onClose');
    // Both the body cancel and request.signal report it; onClose still fires once.
    await new Promise(setImmediate);
    assert.deepEqual(reasons, ['client']);
    assert.equal((await opened.promise).closed, true);
  });
});
