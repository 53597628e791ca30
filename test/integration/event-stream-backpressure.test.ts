// Backpressure over real sockets: a client that stops reading (a raw TCP socket that sent its
// GET and then never reads) and a fast eventsource client on the same server get the same
// pre-encoded events, as the hub fans them out. The slow stream's overflow policy must kick in
// while the fast one receives every event, in order.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import {
  type CloseReason,
  createEventStream,
  type EventStream,
  type EventStreamOptions,
  type OverflowInfo,
} from '../../src/index.js';
import { encodeEventBytes } from '../../src/protocol/index.js';
import { Collector, deferred, waitFor, withTimeout } from '../helpers/async.js';
import { Routes, startHttpServer, type TestHttpServer } from '../helpers/server.js';

const routes = new Routes();
let server: TestHttpServer;
before(async () => {
  server = await startHttpServer(routes.handle);
});
after(() => server.close());

/** ~1 KB per event; the id leads so the fast reader can check order. */
const payload = (id: number): string => `${id}:${'p'.repeat(1000)}`;
/** Safety cap: overflow comes after a few MB of kernel buffers, long before this. */
const MAX_EVENTS = 60_000;

/**
 * Opens a raw TCP connection, sends the GET, and stops reading. (`Connection: close` so that
 * the server ends the connection with the response, which is how the test finds its end.)
 */
async function stalledClient(path: string): Promise<Socket> {
  const socket = connect(server.port, '127.0.0.1');
  socket.on('error', () => {}); // the server may reset it
  await once(socket, 'connect');
  socket.pause();
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n`,
  );
  return socket;
}

/** Reads a whole HTTP/1.1 chunked response from `socket` and returns its body as text. */
async function readChunkedBody(socket: Socket): Promise<string> {
  const parts: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => parts.push(chunk));
  socket.resume();
  await withTimeout(once(socket, 'end'), 'the slow response to end');
  const raw = Buffer.concat(parts);
  let at = raw.indexOf('\r\n\r\n') + 4;
  const body: Buffer[] = [];
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    const size = Number.parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    if (size === 0) break;
    body.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(body).toString('utf8');
}

function parseEvents(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(text);
  return events;
}

interface Scenario {
  fast: EventStream;
  slow: EventStream;
  slowSocket: Socket;
  source: EventSource;
  received: Collector<string>;
}

/** Sets up one slow (stalled) and one fast (eventsource) stream on `path`. */
async function scenario(path: string, slowOptions: EventStreamOptions): Promise<Scenario> {
  const fastOpened = deferred<EventStream>();
  const slowOpened = deferred<EventStream>();
  routes.set(path, (req, res) => {
    if (req.url?.endsWith('role=slow')) {
      slowOpened.resolve(createEventStream(req, res, { heartbeatMs: 0, ...slowOptions }));
    } else {
      // Room for everything: the fast reader keeps up, but shares our event loop.
      fastOpened.resolve(createEventStream(req, res, { heartbeatMs: 0, queueBytes: 256 << 20 }));
    }
  });
  const source = new EventSource(`${server.origin}${path}?role=fast`);
  const received = new Collector<string>();
  source.onmessage = (event) => received.push(event.data);
  const slowSocket = await stalledClient(`${path}?role=slow`);
  const [fast, slow] = await withTimeout(
    Promise.all([fastOpened.promise, slowOpened.promise]),
    'both streams to open',
  );
  return { fast, slow, slowSocket, source, received };
}

/** Publishes to both streams, encoding each event once, until `stop()`; returns the count. */
async function publish(s: Scenario, stop: () => boolean, onEach?: () => void): Promise<number> {
  let id = 0;
  while (!stop() && id < MAX_EVENTS) {
    const bytes = encodeEventBytes({ id: String(++id), data: payload(id) });
    assert.equal(s.fast.sendBytes(bytes), true);
    s.slow.sendBytes(bytes);
    onEach?.();
    // Let I/O run (the fast reader lives in this process too).
    if (id % 32 === 0) await new Promise(setImmediate);
  }
  assert.ok(id < MAX_EVENTS, `the slow stream should have overflowed within ${MAX_EVENTS} events`);
  return id;
}

async function assertFastGotAll(s: Scenario, count: number): Promise<void> {
  const items = await s.received.count(count, `${count} events on the fast reader`, 30_000);
  assert.equal(items.length, count);
  for (let i = 0; i < count; i++) {
    if (items[i] !== payload(i + 1)) assert.fail(`fast reader: event ${i + 1} out of order`);
  }
  assert.equal(s.fast.droppedEvents, 0);
  assert.equal(s.fast.closed, false);
}

describe('a client that stops reading', () => {
  test("'close' policy: the slow stream closes and reports the overflow", async () => {
    const overflows: OverflowInfo[] = [];
    const reasons: CloseReason[] = [];
    const queueBytes = 64 * 1024;
    const s = await scenario('/bp-close', {
      queueBytes,
      onOverflow: (info) => overflows.push(info),
      onClose: (reason) => reasons.push(reason),
    });
    try {
      const slowClosed = once(s.slowSocket, 'close');
      const count = await publish(s, () => s.slow.closed);
      assert.equal(overflows.length, 1);
      const [info] = overflows;
      assert.equal(info?.policy, 'close');
      assert.equal(info?.queueBytes, queueBytes);
      assert.ok((info?.droppedBytes ?? 0) > queueBytes);
      assert.deepEqual(reasons, ['overflow']);
      assert.equal(s.slow.closeReason, 'overflow');
      assert.equal(s.slow.signal.aborted, true);
      assert.equal(s.slow.sendBytes(encodeEventBytes({ data: 'late' })), false);
      // The server tore the connection down; the client sees it once it reads again.
      s.slowSocket.resume();
      await withTimeout(slowClosed, 'the slow socket to close');
      await assertFastGotAll(s, count);
    } finally {
      s.source.close();
      s.slowSocket.destroy();
    }
  });

  test("'drop-oldest' policy: the slow stream stays open within queueBytes, dropping whole events", async () => {
    const overflows: OverflowInfo[] = [];
    const queueBytes = 64 * 1024;
    const s = await scenario('/bp-drop', {
      queueBytes,
      overflow: 'drop-oldest',
      onOverflow: (info) => overflows.push(info),
    });
    try {
      let maxQueued = 0;
      const count = await publish(
        s,
        () => s.slow.droppedEvents >= 200,
        () => {
          maxQueued = Math.max(maxQueued, s.slow.queuedBytes);
        },
      );
      assert.equal(s.slow.closed, false);
      assert.ok(maxQueued <= queueBytes, `queued ${maxQueued} bytes > queueBytes ${queueBytes}`);
      assert.ok(maxQueued > queueBytes / 2, 'the queue was actually used');
      assert.ok(s.slow.droppedEvents >= 200);
      assert.ok(overflows.length > 0);
      assert.ok(overflows.every((info) => info.policy === 'drop-oldest'));
      assert.ok(overflows.every((info) => info.queuedBytes <= queueBytes));
      assert.equal(
        s.slow.droppedEvents,
        overflows.reduce((sum, info) => sum + info.droppedEvents, 0),
      );
      await assertFastGotAll(s, count);

      // The slow client reads at last: whole events, ids rising, the newest one last.
      s.slow.close();
      const events = parseEvents(await readChunkedBody(s.slowSocket));
      const ids = events.map((e) => Number(e.id));
      assert.ok(events.every((e) => e.data === payload(Number(e.id))));
      assert.ok(ids.every((value, i) => i === 0 || value > ids[i - 1]!));
      assert.equal(ids.at(-1), count);
      assert.equal(ids.length, count - s.slow.droppedEvents);
    } finally {
      s.source.close();
      s.slowSocket.destroy();
    }
  });

  test('a client that pauses, then reads again, gets every event in order once the queue drains', async () => {
    const opened = deferred<EventStream>();
    routes.set('/bp-resume', (req, res) => {
      opened.resolve(createEventStream(req, res, { heartbeatMs: 0, queueBytes: 64 << 20 }));
    });
    const socket = await stalledClient('/bp-resume');
    try {
      const stream = await opened.promise;
      let id = 0;
      // Fill the kernel buffers and the response until events wait in the stream's queue.
      while (stream.queuedBytes < 256 * 1024 && id < MAX_EVENTS) {
        stream.send({ id: String(++id), data: payload(id) });
        if (id % 32 === 0) await new Promise(setImmediate);
      }
      assert.ok(stream.queuedBytes >= 256 * 1024, 'events are queued');
      assert.ok(stream.bufferedBytes > stream.queuedBytes, 'the response holds bytes too');
      const body = readChunkedBody(socket);
      await waitFor(() => stream.queuedBytes === 0, "the queue to drain on 'drain'");
      stream.send({ id: String(++id), data: payload(id) });
      stream.close();
      const events = parseEvents(await body);
      assert.equal(events.length, id);
      for (const [i, event] of events.entries()) {
        if (event.id !== String(i + 1) || event.data !== payload(i + 1)) {
          assert.fail(`event ${i + 1} missing or out of order`);
        }
      }
      assert.equal(stream.droppedEvents, 0);
    } finally {
      socket.destroy();
    }
  });
});
