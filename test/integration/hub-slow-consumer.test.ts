// Slow consumer isolation over real sockets: one subscriber sends its GET and never reads again,
// 200 others read. The hub fans ~1 KB events out to all 201. The slow one fills the kernel
// buffers, then its stream's bounded queue, and is closed (the default 'close' overflow policy,
// reported as a hub 'overflow' event) — while the 200 receive every event and the bytes the hub
// holds for subscribers stay bounded (asserted in bytes, never in time).
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import { createHub, type Hub, type OverflowInfo, type Subscription } from '../../src/index.js';
import { Collector, waitFor, withTimeout } from '../helpers/async.js';
import {
  assertSameSequence,
  type HubServer,
  RawSseSocket,
  startHubServer,
  topicsOf,
} from '../helpers/hub.js';

const READERS = 200;
/** Of the readers, these parse every event (the eventsource package); the rest count events. */
const PARSING_READERS = 10;
const QUEUE_BYTES = 64 * 1024;
/** Events published per event-loop tick (the hub writes each tick's share in one write). */
const BURST = 32;
/** Node's default highWaterMark of a response: writes past it return false. */
const HIGH_WATER_MARK = 16 * 1024;
/** Safety cap on bursts: the slow one overflows after ~4 MB of kernel buffers, far below it. */
const MAX_BURSTS = 1000;
/** Bursts published after the slow subscriber is gone: the others must go on unaffected. */
const BURSTS_AFTER = 5;

const payload = (n: number): string => `${n}:${'x'.repeat(1000)}`;

let hub: Hub;
let server: HubServer;
before(async () => {
  hub = createHub({ heartbeatMs: 0, queueBytes: QUEUE_BYTES, history: { maxEvents: 1000 } });
  server = await startHubServer((req, res, url) =>
    hub.subscribe(req, res, { topics: topicsOf(url) }),
  );
});
after(async () => {
  await hub.close();
  await server.close();
});

/**
 * Reads an event stream with node:http and only counts events: blank-line-terminated blocks with
 * an `id:` line (these events have one-line data; the stream opens with a `: ok` comment line;
 * heartbeats are off). Keeps the id of the newest one. Cheap enough for hundreds of readers in
 * this process.
 */
class CountingReader {
  count = 0;
  lastId = '';
  #tail = '';
  readonly closed: Promise<void>;

  constructor(url: string) {
    this.closed = new Promise((resolve, reject) => {
      const req = httpGet(url, { agent: false }, (res) => {
        res.setEncoding('latin1');
        res.on('data', (chunk: string) => this.#feed(chunk));
        res.once('close', () => resolve());
      });
      req.once('error', reject);
      this.close = () => req.destroy();
    });
    this.closed.catch(() => {});
  }

  close: () => void = () => {};

  #feed(chunk: string): void {
    // Join the last event's unfinished tail (at most one event) with the new chunk.
    const text = this.#tail + chunk;
    let at = 0;
    for (;;) {
      const end = text.indexOf('\n\n', at);
      if (end === -1) break;
      // The block's lines: comments (the opening `: ok`) and, for an event, `id:` and `data:`.
      for (let line = at; line < end; line = text.indexOf('\n', line) + 1) {
        if (text.startsWith('id: ', line)) {
          this.count++;
          this.lastId = text.slice(line + 4, text.indexOf('\n', line));
          break;
        }
      }
      at = end + 2;
    }
    this.#tail = text.slice(at);
  }
}

test(`1 subscriber that never reads, ${READERS} that do: the slow one overflows alone, memory stays bounded`, async () => {
  const overflows: Array<{ sub: Subscription; info: OverflowInfo }> = [];
  hub.on('overflow', (sub, info) => overflows.push({ sub, info }));
  const unsubscribed: Subscription[] = [];
  hub.on('unsubscribe', (sub) => unsubscribed.push(sub));
  const ids: string[] = [];
  hub.on('publish', (event) => ids.push(event.id));

  const url = (client: string): string =>
    `${server.origin}/.well-known/mercure?client=${client}&topic=/feed`;

  // The slow one: a bare socket that sends its GET and reads nothing, not even the head.
  const slow = await RawSseSocket.open(
    server.port,
    '/.well-known/mercure?client=slow&topic=/feed',
    {
      paused: true,
    },
  );
  const slowSub = (await server.nth('slow', 0)).sub;

  const counters: CountingReader[] = [];
  const parsers: Array<{ source: EventSource; data: Collector<string> }> = [];
  for (let i = 0; i < READERS - PARSING_READERS; i++)
    counters.push(new CountingReader(url(`c${i}`)));
  for (let i = 0; i < PARSING_READERS; i++) {
    const source = new EventSource(url(`p${i}`));
    const data = new Collector<string>();
    source.onmessage = (event) => data.push(event.data);
    parsers.push({ source, data });
  }
  try {
    await server.subscribed.count(READERS + 1, 'every subscription');
    await waitFor(
      () => hub.stats().subscribers === READERS + 1,
      'every subscriber to be registered',
    );
    const fast = server.subscribed.items.filter((s) => s.name !== 'slow').map((s) => s.sub);
    assert.equal(fast.length, READERS);
    await withTimeout(Promise.all(fast.map((s) => s.ready)), 'every reader to be live');
    await waitFor(
      () => parsers.every((p) => p.source.readyState === EventSource.OPEN),
      'the eventsource readers to open',
    );

    let published = 0;
    let burstBytes = 0;
    let maxQueued = 0;
    let maxSlowBuffered = 0;
    let bursts = 0;
    let burstsAfter = 0;
    const allCaughtUp = (): boolean =>
      counters.every((c) => c.count === published) &&
      parsers.every((p) => p.data.items.length === published);

    while (burstsAfter < BURSTS_AFTER) {
      assert.ok(
        ++bursts <= MAX_BURSTS,
        `the slow subscriber should overflow within ${MAX_BURSTS} bursts`,
      );
      if (slowSub.closed) burstsAfter++;
      let bytes = 0;
      for (let i = 0; i < BURST; i++) {
        const data = payload(++published);
        bytes += data.length;
        await hub.publish({ topics: '/feed', data });
      }
      // Upper bound of one event's encoding: `id: <id>\ndata: <data>\n\n` (13 bytes + id + data).
      burstBytes = Math.max(burstBytes, bytes + BURST * (ids.at(-1)!.length + 16));
      // The hub flushes this tick's events in a setImmediate; ours runs right after it: this is
      // the moment the most is buffered.
      await new Promise(setImmediate);
      const { bytesQueued } = hub.stats();
      maxQueued = Math.max(maxQueued, bytesQueued);
      if (!slowSub.closed) {
        maxSlowBuffered = Math.max(maxSlowBuffered, slowSub.stream?.bufferedBytes ?? 0);
      }
      // Flow control for the readers in this process, on a condition, not a clock.
      await waitFor(allCaughtUp, `every reader to catch up with ${published} events`, 30_000);
    }

    // The slow one overflowed once, was closed and left the hub; the readers did not.
    assert.equal(overflows.length, 1, 'one overflow');
    assert.equal(overflows[0]!.sub, slowSub);
    assert.equal(overflows[0]!.info.policy, 'close');
    assert.equal(overflows[0]!.info.queueBytes, QUEUE_BYTES);
    assert.equal(slowSub.closed, true);
    assert.equal(slowSub.stream?.closeReason, 'overflow');
    assert.deepEqual(unsubscribed, [slowSub]);
    assert.equal(hub.stats().subscribers, READERS);
    assert.ok(fast.every((s) => !s.closed && s.stream?.droppedEvents === 0));
    // The server tore the connection down; the client sees that once it reads again.
    slow.resume();
    await withTimeout(slow.closed, 'the slow socket to be torn down');

    // Every reader got every event: counted (with the newest id) or parsed in full.
    for (const [i, c] of counters.entries()) {
      assert.equal(c.count, published, `counting reader ${i}`);
      assert.equal(c.lastId, ids.at(-1), `counting reader ${i}: newest id`);
    }
    const expected = Array.from({ length: published }, (_, i) => payload(i + 1));
    for (const [i, p] of parsers.entries()) {
      assertSameSequence(p.data.items, expected, `eventsource reader ${i}`, (d) =>
        d === undefined ? 'nothing' : d.slice(0, 12),
      );
    }

    // Bounded memory. Per subscriber the stream holds at most `queueBytes` in its queue plus
    // what the response buffers: below the high-water mark before a write, plus that one write
    // (at most one tick's events). Summed over all subscribers, at the fullest moment of each
    // burst — whereas the slow subscriber alone was sent far more than that before it overflowed.
    const perSubscriber = QUEUE_BYTES + HIGH_WATER_MARK + burstBytes;
    assert.ok(
      maxSlowBuffered <= perSubscriber,
      `slow subscriber buffered ${maxSlowBuffered} > ${perSubscriber}`,
    );
    assert.ok(maxSlowBuffered > QUEUE_BYTES / 2, 'the slow queue was really used');
    assert.ok(
      maxQueued <= (READERS + 1) * perSubscriber,
      `hub held ${maxQueued} bytes > ${(READERS + 1) * perSubscriber}`,
    );
    // The readers kept up: what the hub held beyond the slow one is at most one burst each.
    assert.ok(
      maxQueued <= perSubscriber + READERS * (HIGH_WATER_MARK + burstBytes),
      `hub held ${maxQueued} bytes`,
    );
    const sentToSlow = (published - BURSTS_AFTER * BURST) * 1000;
    assert.ok(sentToSlow > 10 * perSubscriber, 'the bound is far below what was published');
    // Everyone is caught up: nothing is held for anyone.
    await waitFor(() => hub.stats().bytesQueued === 0, 'the hub to hold no bytes');
  } finally {
    slow.destroy();
    for (const c of counters) c.close();
    for (const p of parsers) p.source.close();
  }
});
