// A byte budget shared by event streams, over real sockets: a stream whose client stopped
// reading charges what it holds; a write to another stream of the group that the budget cannot
// take is an overflow of that stream ('budget': closed under 'close', the event dropped under
// 'drop-oldest'); bytes come back as a stream drains or closes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import {
  ByteBudget,
  type CloseReason,
  createEventStream,
  createEventStreamResponse,
  type EventStream,
  type EventStreamOptions,
  type OverflowInfo,
} from '../../src/index.js';
import { encodeEventBytes } from '../../src/protocol/index.js';
import { deferred, waitFor, withTimeout } from '../helpers/async.js';
import { Routes, startHttpServer, type TestHttpServer } from '../helpers/server.js';

const routes = new Routes();
let server: TestHttpServer;
before(async () => {
  server = await startHttpServer(routes.handle);
});
after(() => server.close());

const EVENT = encodeEventBytes({ data: 'x'.repeat(16 * 1024) });
let paths = 0;

/** Opens a stream to a raw client that reads nothing until told; resolves with both. */
async function open(options: EventStreamOptions): Promise<{ stream: EventStream; socket: Socket }> {
  const path = `/budget-${paths++}`;
  const opened = deferred<EventStream>();
  routes.set(path, (req, res) => opened.resolve(createEventStream(req, res, options)));
  const socket = connect(server.port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  return { stream: await withTimeout(opened.promise, 'the stream to open'), socket };
}

/** Writes until the stream queues (its client's kernel buffers are full). */
async function backUp(stream: EventStream): Promise<void> {
  for (let i = 0; i < 100_000 && stream.queuedBytes === 0 && !stream.closed; i++) {
    stream.sendBytes(EVENT);
    if (i % 16 === 0) await new Promise(setImmediate);
  }
  assert.ok(stream.queuedBytes > 0, 'the stream backed up');
}

test("a write the group's budget cannot take closes its stream with reason 'budget'", async () => {
  // Below one queue: the budget, not the holder's own queue bound, stops the holder.
  const budget = new ByteBudget(128 * 1024);
  const base = { heartbeatMs: 0, stallTimeoutMs: 0, queueBytes: 1024 * 1024, budget };
  const holder = await open(base);
  const reasons: CloseReason[] = [];
  const overflows: OverflowInfo[] = [];
  const other = await open({
    ...base,
    onClose: (reason) => reasons.push(reason),
    onOverflow: (info) => overflows.push(info),
  });
  try {
    await backUp(holder.stream);
    // The holder queues until the budget is spent: its own queue bound is not reached.
    while (holder.stream.sendBytes(EVENT) && !holder.stream.closed) {}
    assert.equal(holder.stream.closeReason, 'budget');
    assert.equal(budget.used, 0, 'a closed stream gives back what it held');

    const again = await open(base);
    await backUp(again.stream);
    while (budget.fits(EVENT.byteLength)) again.stream.sendBytes(EVENT);
    assert.ok(budget.used > 0 && budget.used <= budget.limit);
    assert.equal(again.stream.closed, false);
    // The other stream keeps up, but its write would be held past the budget if its client
    // stalled: refused, and the stream closed so that its client resumes from history.
    assert.equal(other.stream.sendBytes(EVENT), false);
    assert.deepEqual(reasons, ['budget']);
    assert.equal(overflows.length, 1);
    assert.equal(overflows[0]!.bound, 'budget');
    assert.equal(overflows[0]!.policy, 'close');

    // The client reads again: the stream drains and gives its bytes back.
    again.socket.resume();
    await waitFor(() => budget.used === 0, 'the budget to come back');
    assert.equal(again.stream.closed, false);
    again.socket.destroy();
  } finally {
    holder.socket.destroy();
    other.socket.destroy();
  }
});

test("under 'drop-oldest' the event the budget cannot take is dropped, the stream stays", async () => {
  const budget = new ByteBudget(128 * 1024);
  const base = { heartbeatMs: 0, stallTimeoutMs: 0, queueBytes: 1024 * 1024, budget };
  const overflows: OverflowInfo[] = [];
  const a = await open({
    ...base,
    overflow: 'drop-oldest',
    onOverflow: (info) => overflows.push(info),
  });
  try {
    await backUp(a.stream);
    let kept = 0;
    while (overflows.length === 0 && kept < 1000) if (a.stream.sendBytes(EVENT)) kept++;
    assert.equal(a.stream.closed, false);
    assert.equal(overflows[0]!.bound, 'budget');
    assert.equal(overflows[0]!.droppedEvents, 1);
    assert.ok(budget.used <= budget.limit, `${budget.used} charged of ${budget.limit}`);
    a.stream.close();
    assert.equal(budget.used, 0);
  } finally {
    a.socket.destroy();
  }
});

test('a budget must be a ByteBudget with a positive limit', () => {
  assert.throws(() => new ByteBudget(0), RangeError);
  assert.throws(
    () =>
      createEventStreamResponse(new Request('http://127.0.0.1/'), {
        budget: { limit: 1 } as unknown as ByteBudget,
      }),
    /budget must be a ByteBudget/,
  );
});
