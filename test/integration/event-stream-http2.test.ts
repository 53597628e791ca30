// createEventStream over node:http2, both forms: the compatibility API (req, res) and raw
// ServerHttp2Stream (stream, headers), read by node:http2's client.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type ServerHttp2Stream,
} from 'node:http2';
import { after, before, describe, test } from 'node:test';
import {
  type CloseReason,
  createEventStream,
  type EventStream,
  type OverflowInfo,
} from '../../src/index.js';
import { encodeEventBytes } from '../../src/protocol/index.js';
import { deferred, waitFor, withTimeout } from '../helpers/async.js';
import { listen, trackSockets } from '../helpers/net.js';
import { StreamReader } from '../helpers/sse.js';

type CompatHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;
type RawHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/** An h2c (cleartext HTTP/2) server with per-path handlers and a connected client session. */
class H2Fixture {
  readonly compat = new Map<string, CompatHandler>();
  readonly raw = new Map<string, RawHandler>();
  server!: Http2Server;
  session!: ClientHttp2Session;
  #sockets!: { destroyAll(): void };

  async start(form: 'compat' | 'raw'): Promise<void> {
    const path = (target: string | undefined): string => (target ?? '/').split('?')[0] ?? '/';
    if (form === 'compat') {
      this.server = http2.createServer((req, res) => {
        const handler = this.compat.get(path(req.url));
        if (handler) handler(req, res);
        else res.writeHead(404).end();
      });
    } else {
      this.server = http2.createServer();
      this.server.on('stream', (stream, headers) => {
        const handler = this.raw.get(path(headers[':path']));
        if (handler) handler(stream, headers);
        else stream.respond({ ':status': 404 }, { endStream: true });
      });
    }
    this.#sockets = trackSockets(this.server);
    const port = await listen(this.server);
    this.session = http2.connect(`http://127.0.0.1:${port}`);
    await once(this.session, 'connect');
  }

  async stop(): Promise<void> {
    this.session.destroy();
    this.#sockets.destroyAll();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Sends a GET and resolves with the response headers and a reader of the body. */
  async get(
    path: string,
    headers: Record<string, string> = {},
    options: { paused?: boolean } = {},
  ): Promise<{
    stream: ClientHttp2Stream;
    headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
    reader: StreamReader | undefined;
  }> {
    const stream = this.session.request({ ':path': path, ...headers });
    stream.on('error', () => {}); // resets are asserted through 'close' and rstCode
    const reader = options.paused ? undefined : new StreamReader(stream);
    const [response] = (await withTimeout(once(stream, 'response'), `response to ${path}`)) as [
      IncomingHttpHeaders & IncomingHttpStatusHeader,
    ];
    return { stream, headers: response, reader };
  }
}

function assertEventStreamHeaders(headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
  assert.equal(headers[':status'], 200);
  assert.equal(headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.equal(headers['cache-control'], 'no-cache, no-transform');
  assert.equal(headers['x-accel-buffering'], 'no');
  // Connection-specific headers are malformed in HTTP/2 (RFC 9113 §8.2.2).
  assert.equal('connection' in headers, false);
  assert.equal('keep-alive' in headers, false);
  assert.equal('transfer-encoding' in headers, false);
}

/**
 * The client stops reading until events queue in the stream, then reads again: every event
 * must arrive, in order, once the stream's queue drained (HTTP/2 flow control + 'drain').
 */
async function pauseThenResume(h2: H2Fixture, opened: Promise<EventStream>): Promise<void> {
  const { stream: client } = await h2.get('/pause', {}, { paused: true });
  const stream = await opened;
  let id = 0;
  while (stream.queuedBytes < 64 * 1024 && id < 100_000) {
    stream.send({ id: String(++id), data: `${id}` });
    if (id % 64 === 0) await new Promise(setImmediate);
  }
  assert.ok(stream.queuedBytes >= 64 * 1024, 'events are queued');
  const reader = new StreamReader(client);
  await waitFor(() => stream.queuedBytes === 0, "the queue to drain on 'drain'");
  stream.send({ id: String(++id), data: `${id}` });
  stream.close();
  await reader.end();
  const events = reader.events.items;
  assert.equal(events.length, id);
  assert.ok(events.every((e, i) => e.id === String(i + 1) && e.data === String(i + 1)));
  assert.equal(stream.droppedEvents, 0);
}

describe('HTTP/2 compatibility API (req, res)', () => {
  const h2 = new H2Fixture();
  before(() => h2.start('compat'));
  after(() => h2.stop());

  test('sends headers without Connection and delivers events', async () => {
    const seen = deferred<{ httpVersion: string; lastEventId: string }>();
    h2.compat.set('/events', (req, res) => {
      // A Connection header passed in options (shared with an HTTP/1.1 server) is left out.
      const stream = createEventStream(req, res, {
        heartbeatMs: 0,
        headers: { Connection: 'keep-alive', 'Keep-Alive': 'timeout=5', 'X-Extra': 'yes' },
      });
      seen.resolve({ httpVersion: req.httpVersion, lastEventId: stream.lastEventId });
      stream.send({ id: '8', data: 'after 7' });
      stream.send({ id: '9', event: 'named', data: 'two\nlines' });
      stream.close();
    });
    const { headers, reader } = await h2.get('/events', { 'last-event-id': '7' });
    assertEventStreamHeaders(headers);
    assert.equal(headers['x-extra'], 'yes');
    await reader!.end();
    assert.deepEqual(await seen.promise, { httpVersion: '2.0', lastEventId: '7' });
    assert.equal(
      reader!.text,
      ': ok\nid: 8\ndata: after 7\n\nid: 9\nevent: named\ndata: two\ndata: lines\n\n',
    );
  });

  test('a cancelled request closes the stream with reason client', async () => {
    const closed = deferred<CloseReason>();
    h2.compat.set('/cancel', (req, res) => {
      createEventStream(req, res, { heartbeatMs: 0, onClose: closed.resolve });
    });
    const { stream, reader } = await h2.get('/cancel');
    await reader!.chunks.count(1);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    assert.equal(await withTimeout(closed.promise, 'onClose'), 'client');
  });

  test('a paused client gets every event once the queue drains', async () => {
    const opened = deferred<EventStream>();
    h2.compat.set('/pause', (req, res) => {
      opened.resolve(createEventStream(req, res, { heartbeatMs: 0, queueBytes: 16 << 20 }));
    });
    await pauseThenResume(h2, opened.promise);
  });

  test("drop-oldest keeps a stalled client's stream open within queueBytes", async () => {
    const queueBytes = 32 * 1024;
    const payload = 'x'.repeat(1000);
    let maxQueued = 0;
    const overflowed = deferred<OverflowInfo>();
    const opened = deferred<EventStream>();
    h2.compat.set('/stalled', (req, res) => {
      opened.resolve(
        createEventStream(req, res, {
          heartbeatMs: 0,
          queueBytes,
          overflow: 'drop-oldest',
          onOverflow: overflowed.resolve,
        }),
      );
    });
    // The client does not read: HTTP/2 flow control stops the server once the window is full.
    const { stream: client } = await h2.get('/stalled', {}, { paused: true });
    const stream = await opened.promise;
    let id = 0;
    while (stream.droppedEvents < 100 && id < 100_000) {
      stream.send({ id: String(++id), data: payload });
      maxQueued = Math.max(maxQueued, stream.queuedBytes);
      if (id % 64 === 0) await new Promise(setImmediate);
    }
    const info = await overflowed.promise;
    assert.equal(info.policy, 'drop-oldest');
    assert.equal(stream.closed, false);
    assert.ok(stream.droppedEvents >= 100);
    assert.ok(maxQueued <= queueBytes, `queued ${maxQueued} > ${queueBytes}`);
    // Now read everything: whole events only, ids rising, ending with the last one sent.
    const reader = new StreamReader(client);
    stream.close();
    await reader.end();
    const ids = reader.events.items.map((e) => Number(e.id));
    assert.ok(reader.events.items.every((e) => e.data === payload));
    assert.ok(ids.every((value, i) => i === 0 || value > ids[i - 1]!));
    assert.equal(ids.at(-1), id);
    assert.ok(ids.length < id, 'some events were dropped');
  });
});

describe('HTTP/2 raw stream (stream, headers)', () => {
  const h2 = new H2Fixture();
  before(() => h2.start('raw'));
  after(() => h2.stop());

  test('responds without Connection, reads lastEventID from :path, delivers events', async () => {
    const seen = deferred<string>();
    h2.raw.set('/events', (stream, headers) => {
      const events = createEventStream(stream, headers, { heartbeatMs: 0, retry: 100 });
      seen.resolve(events.lastEventId);
      events.send({ id: '43', event: 'update', data: '{"n":43}' });
      events.sendBytes(encodeEventBytes({ id: '44', data: 'pre-encoded' }));
      events.close();
    });
    const { headers, reader } = await h2.get('/events?topic=x&lastEventID=42');
    assertEventStreamHeaders(headers);
    await reader!.end();
    assert.equal(await seen.promise, '42');
    assert.deepEqual(reader!.retries.items, [100]);
    assert.deepEqual(reader!.events.items, [
      { id: '43', event: 'update', data: '{"n":43}' },
      { id: '44', event: undefined, data: 'pre-encoded' },
    ]);
  });

  test('a Last-Event-ID header wins over the query parameter', async () => {
    const seen = deferred<string>();
    h2.raw.set('/id', (stream, headers) => {
      const events = createEventStream(stream, headers, { heartbeatMs: 0 });
      seen.resolve(events.lastEventId);
      events.close();
    });
    const { reader } = await h2.get('/id?lastEventID=1', { 'last-event-id': '2' });
    await reader!.end();
    assert.equal(await seen.promise, '2');
  });

  test('a cancelled stream closes with reason client', async () => {
    const closed = deferred<CloseReason>();
    h2.raw.set('/cancel', (stream, headers) => {
      createEventStream(stream, headers, { heartbeatMs: 0, onClose: closed.resolve });
    });
    const { stream, reader } = await h2.get('/cancel');
    await reader!.chunks.count(1);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    assert.equal(await withTimeout(closed.promise, 'onClose'), 'client');
  });

  test('a paused client gets every event once the queue drains', async () => {
    const opened = deferred<EventStream>();
    h2.raw.set('/pause', (stream, headers) => {
      opened.resolve(createEventStream(stream, headers, { heartbeatMs: 0, queueBytes: 16 << 20 }));
    });
    await pauseThenResume(h2, opened.promise);
  });

  test('overflow under the close policy resets only that stream; the session lives on', async () => {
    const overflowed = deferred<OverflowInfo>();
    const closed = deferred<CloseReason>();
    const opened = deferred<EventStream>();
    h2.raw.set('/stalled', (stream, headers) => {
      opened.resolve(
        createEventStream(stream, headers, {
          heartbeatMs: 0,
          queueBytes: 16 * 1024,
          onOverflow: overflowed.resolve,
          onClose: closed.resolve,
        }),
      );
    });
    const { stream: client } = await h2.get('/stalled', {}, { paused: true });
    const clientClosed = once(client, 'close');
    const stream = await opened.promise;
    let sent = 0;
    while (!stream.closed && sent < 100_000) {
      stream.send({ id: String(++sent), data: 'y'.repeat(1000) });
      if (sent % 64 === 0) await new Promise(setImmediate);
    }
    const info = await withTimeout(overflowed.promise, 'onOverflow');
    assert.equal(info.policy, 'close');
    assert.equal(info.queuedBytes, 0);
    assert.ok(info.droppedEvents >= 1);
    assert.equal(await closed.promise, 'overflow');
    assert.equal(stream.send({ data: 'late' }), false);
    client.resume();
    await withTimeout(clientClosed, 'the reset to reach the client');
    assert.equal(client.rstCode, http2.constants.NGHTTP2_CANCEL);

    h2.raw.set('/after', (s, headers) => createEventStream(s, headers, { heartbeatMs: 0 }).close());
    const { headers, reader } = await h2.get('/after');
    assert.equal(headers[':status'], 200);
    await reader!.end();
    assert.equal(reader!.text, ': ok\n');
  });
});
