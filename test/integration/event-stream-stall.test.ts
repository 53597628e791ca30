// The stall timeout over real sockets: a client that stops reading is closed with reason
// 'stalled' once its socket has not drained for `stallTimeoutMs` — with heartbeats off, shorter
// or longer than the timeout (one timer serves both) — while a slow client that keeps reading,
// however far behind, is never cut by it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type CloseReason, createEventStream, type EventStream } from '../../src/index.js';
import { encodeEventBytes } from '../../src/protocol/index.js';
import { deferred, waitFor, withTimeout } from '../helpers/async.js';
import { Routes, startHttpServer, type TestHttpServer } from '../helpers/server.js';

const routes = new Routes();
let server: TestHttpServer;
before(async () => {
  server = await startHttpServer(routes.handle);
});
after(() => server.close());

/** Opens a raw connection, sends the GET; reads nothing until told. */
async function rawClient(path: string): Promise<Socket> {
  const socket = connect(server.port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  return socket;
}

const EVENT = encodeEventBytes({ data: 'x'.repeat(16 * 1024) });

/**
 * Writes like a replay does: on and on, waiting for a drain whenever the stream queues. Against
 * a client that stopped reading, the kernel's buffers fill, then the wait never ends — until
 * the stream closes. Resolves with how many waits there were.
 */
async function writeUntilClosed(stream: EventStream): Promise<number> {
  let waits = 0;
  for (let i = 0; i < 100_000 && !stream.closed; i++) {
    if (!stream.sendBytes(EVENT)) break;
    if (stream.queuedBytes > 0) {
      waits++;
      if (!(await stream.drained())) break;
    }
    if (i % 16 === 0) await new Promise(setImmediate);
  }
  return waits;
}

describe('a client that stops reading is closed as stalled', () => {
  for (const heartbeatMs of [0, 100, 60_000]) {
    test(`heartbeat ${heartbeatMs} ms, stall timeout 300 ms`, async () => {
      const opened = deferred<EventStream>();
      const reasons: CloseReason[] = [];
      const closed = deferred<void>();
      const path = `/stall-${heartbeatMs}`;
      routes.set(path, (req, res) => {
        opened.resolve(
          createEventStream(req, res, {
            heartbeatMs,
            stallTimeoutMs: 300,
            queueBytes: 8 << 20,
            onClose: (reason) => {
              reasons.push(reason);
              closed.resolve();
            },
          }),
        );
      });
      const socket = await rawClient(path);
      try {
        const stream = await withTimeout(opened.promise, 'the stream to open');
        const waits = await withTimeout(writeUntilClosed(stream), 'the stalled stream to close');
        await closed.promise;
        assert.ok(waits > 0, 'the stream backed up');
        assert.deepEqual(reasons, ['stalled']);
        assert.equal(stream.closeReason, 'stalled');
        assert.equal(stream.queuedBytes, 0, 'its queue was let go');
        assert.equal(stream.sendBytes(EVENT), false, 'writes are refused after the close');
        assert.equal(await stream.drained(), false);
      } finally {
        socket.destroy();
      }
    });
  }

  test('stallTimeoutMs 0 never closes it', async () => {
    const opened = deferred<EventStream>();
    routes.set('/stall-off', (req, res) => {
      opened.resolve(
        createEventStream(req, res, { heartbeatMs: 50, stallTimeoutMs: 0, queueBytes: 8 << 20 }),
      );
    });
    const socket = await rawClient('/stall-off');
    try {
      const stream = await withTimeout(opened.promise, 'the stream to open');
      const writing = writeUntilClosed(stream);
      await waitFor(() => stream.queuedBytes > 0, 'the stream to back up');
      // Several heartbeat periods: the timer runs, finds the stream behind, leaves it open.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(stream.closed, false);
      assert.ok(stream.queuedBytes > 0, 'still behind');
      stream.close();
      assert.equal(stream.closeReason, 'server');
      await writing;
    } finally {
      socket.destroy();
    }
  });
});

test('a slow reader that keeps reading is not cut, however long it stays behind', async () => {
  const opened = deferred<EventStream>();
  routes.set('/slow-reader', (req, res) => {
    opened.resolve(
      createEventStream(req, res, { heartbeatMs: 0, stallTimeoutMs: 1000, queueBytes: 1 << 20 }),
    );
  });
  const socket = await rawClient('/slow-reader');
  let bytes = 0;
  // Reads a little every 20 ms: always behind, never stopped.
  const reader = setInterval(() => {
    for (let i = 0; i < 4; i++) {
      const chunk = socket.read(64 * 1024) ?? socket.read();
      if (chunk === null) break;
      bytes += (chunk as Buffer).length;
    }
  }, 20);
  try {
    const stream = await withTimeout(opened.promise, 'the stream to open');
    // Write for three stall timeouts, as fast as the stream lets us (waiting for drains).
    const until = performance.now() + 3000;
    let waits = 0;
    while (performance.now() < until && !stream.closed) {
      if (!stream.sendBytes(EVENT)) break;
      if (stream.queuedBytes > 0) {
        waits++;
        await stream.drained();
      }
    }
    assert.ok(waits > 0, 'the writer had to wait for the reader');
    assert.equal(stream.closed, false, `closed as ${stream.closeReason}`);
    assert.ok(bytes > 0);
    stream.close();
  } finally {
    clearInterval(reader);
    socket.destroy();
  }
});
