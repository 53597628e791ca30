// A replay is bounded like live delivery (issue 14, item 1) and sizes count encoded bytes
// (item 11). Over real sockets, with a client that stops reading in the middle of a replay of
// big events: every history page the hub asks for is bounded by the room left in the stream and
// comes back within it, what the stream buffers stays within --queue-bytes (plus the transport's
// high-water mark and the event that crossed it), and the stream is closed as stalled. Events
// whose encoding no subscriber queue could hold are refused at publish.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EVENT_OVERHEAD_BYTES, eventSize, TOPIC_OVERHEAD_BYTES } from '../../src/engines/engine.js';
import {
  createHub,
  HeraldHubError,
  type HistoryQuery,
  type HistoryResult,
  type Hub,
  memoryEngine,
} from '../../src/index.js';
import { waitFor } from '../helpers/async.js';
import { type HubServer, RawSseSocket, startHubServer, topicsOf } from '../helpers/hub.js';

let current: Hub | undefined;
let server: HubServer;
before(async () => {
  server = await startHubServer((req, res, url) =>
    current!.subscribe(req, res, { topics: topicsOf(url) }),
  );
});
after(() => server.close());

const QUEUE_BYTES = 256 * 1024;
const HIGH_WATER_MARK = 16 * 1024;
const EVENT_DATA = 100_000;

test('a replay reads pages within the room left in the stream, buffers within its bound, and a client that stopped reading is closed as stalled', async () => {
  const engine = memoryEngine({ maxEvents: 100_000, maxBytes: Number.POSITIVE_INFINITY });
  const reads: Array<{ query: HistoryQuery; result: HistoryResult }> = [];
  const read = engine.history.bind(engine);
  engine.history = async (query) => {
    const result = await read(query);
    reads.push({ query, result });
    return result;
  };
  const hub = createHub({
    engine,
    heartbeatMs: 0,
    queueBytes: QUEUE_BYTES,
    stallTimeoutMs: 500,
  });
  current = hub;
  let client: RawSseSocket | undefined;
  try {
    // 20 MB of history: far more than the kernel's socket buffers hold.
    for (let n = 0; n < 200; n++) {
      await hub.publish({ topics: '/big', data: `${n}:${'y'.repeat(EVENT_DATA)}` });
    }
    client = await RawSseSocket.open(server.port, '/?client=stopped&topic=/big', {
      headers: { 'Last-Event-ID': 'earliest' },
      paused: true,
    });
    const { sub } = await server.nth('stopped', 0);
    let maxBuffered = 0;
    const watch = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, sub.stream?.bufferedBytes ?? 0);
    }, 1);
    await waitFor(() => sub.closed, 'the subscription to close', 30_000);
    clearInterval(watch);
    assert.equal(sub.stream?.closeReason, 'stalled');

    const examined = reads.reduce((n, r) => n + r.result.events.length, 0);
    assert.ok(examined < 200, `the hub stopped reading (${examined} of 200 events read)`);
    assert.ok(reads.length > 1);
    for (const { query, result } of reads) {
      assert.ok(query.maxBytes !== undefined && query.maxBytes <= QUEUE_BYTES, 'page ≤ queue');
      const bytes = result.events.reduce((n, e) => n + e.size, 0);
      assert.ok(
        result.events.length <= 1 || bytes <= query.maxBytes!,
        `a page of ${bytes} bytes for maxBytes ${query.maxBytes}`,
      );
    }
    const oneEvent = EVENT_DATA + 200;
    assert.ok(
      maxBuffered <= QUEUE_BYTES + HIGH_WATER_MARK + oneEvent,
      `the stream buffered ${maxBuffered} bytes`,
    );
  } finally {
    client?.destroy();
    await hub.close();
  }
});

test('a replay that the client reads goes through whole, in pages bounded by bytes', async () => {
  const engine = memoryEngine({ maxEvents: 100_000, maxBytes: Number.POSITIVE_INFINITY });
  const hub = createHub({ engine, heartbeatMs: 0, queueBytes: QUEUE_BYTES });
  current = hub;
  const ids: string[] = [];
  for (let n = 0; n < 60; n++) {
    ids.push((await hub.publish({ topics: '/read', data: `${n}:${'r'.repeat(EVENT_DATA)}` })).id);
  }
  const client = await RawSseSocket.open(server.port, '/?client=reader&topic=/read', {
    headers: { 'Last-Event-ID': 'earliest' },
  });
  try {
    const got = await client.events.count(60, 'the whole replay', 30_000);
    assert.deepEqual(
      got.map((e) => e.id),
      ids,
    );
  } finally {
    client.destroy();
    await hub.close();
  }
});

test('an event whose encoding is larger than a subscriber queue is refused at publish', async () => {
  const hub = createHub({ heartbeatMs: 0, queueBytes: 64 * 1024 });
  try {
    // 10 000 line breaks: 10 kB of data, 70 kB on the wire.
    await assert.rejects(
      hub.publish({ topics: '/t', data: '\n'.repeat(10_000) }),
      (error: unknown) =>
        error instanceof HeraldHubError &&
        error.code === 'EVENT_TOO_LARGE' &&
        /line break/.test(error.message) &&
        /65536/.test(error.message),
    );
    assert.throws(
      () => hub.checkSize({ topics: '/t', data: '\r\n'.repeat(10_000) }),
      /EVENT_TOO_LARGE|more than a subscriber's queue/,
    );
    // The same number of plain bytes fits.
    await hub.publish({ topics: '/t', data: 'x'.repeat(10_000) });
    // Counted with the id and type lines.
    await assert.rejects(
      hub.publish({ topics: '/t', data: 'x'.repeat(65_500), id: 'i'.repeat(100), type: 'tt' }),
      /EVENT_TOO_LARGE|more than a subscriber's queue/,
    );
    assert.equal(hub.stats().history.events, 1);
  } finally {
    await hub.close();
  }
  // An explicit maxEventBytes decides instead of queueBytes.
  const wide = createHub({ heartbeatMs: 0, queueBytes: 64 * 1024, maxEventBytes: 1 << 20 });
  try {
    await wide.publish({ topics: '/t', data: '\n'.repeat(10_000) });
  } finally {
    await wide.close();
  }
  assert.throws(() => createHub({ maxEventBytes: 0 }), /maxEventBytes/);
});

test('history bytes count data as it goes on the wire', async () => {
  assert.equal(
    eventSize({ topics: ['/a'], data: '\n'.repeat(1000) }, 'x'),
    EVENT_OVERHEAD_BYTES + 7000 + TOPIC_OVERHEAD_BYTES + 2 + 1,
  );
  assert.equal(
    eventSize({ topics: ['/a'], data: 'a\r\nb' }, 'x'),
    eventSize({ topics: ['/a'], data: 'a\nb' }, 'x'),
  );
  assert.equal(
    eventSize({ topics: ['/a'], data: 'plain' }, 'x'),
    EVENT_OVERHEAD_BYTES + 5 + TOPIC_OVERHEAD_BYTES + 3,
  );
  const engine = memoryEngine({ maxBytes: 100_000 });
  for (let n = 0; n < 20; n++) await engine.append({ topics: ['/a'], data: '\n'.repeat(1000) });
  const stats = engine.stats();
  assert.ok(stats.bytes <= 100_000, `${stats.bytes} bytes retained`);
  assert.ok(stats.events < 15, `${stats.events} events retained (each ~7 kB encoded)`);
  await engine.close();
});
