// Retention classes meeting history written without them: a Redis stream trimmed by MAXLEN, a
// NATS stream bounded by its own limits. What those trims removed is lost to every class, so a
// reader resuming from before it is told; one resuming after it is not; and the adopted events
// are bounded from then on, their sizes counted as eventSize counts them. Also a Redis stream
// deleted under the engine: ids of the old one are unknown, not resumed after.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import {
  EARLIEST,
  type EngineEvent,
  eventSize,
  TOPIC_OVERHEAD_BYTES,
} from '../../src/engines/engine.js';
import { natsEngine } from '../../src/engines/nats.js';
import { redisEngine } from '../../src/engines/redis.js';
import { retentionClass } from '../../src/hub/retention.js';
import { waitFor } from '../helpers/async.js';
import { natsSkip, startNats, type TestNats } from '../helpers/nats-server.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';

const data = (events: readonly EngineEvent[]): string[] => events.map((e) => e.data);
const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 2 });

describe('redis: a stream written without retention classes', { skip: redisSkip }, () => {
  let redis: TestRedis;
  let client: Redis;
  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  after(async () => {
    await client.quit();
    await redis?.stop();
  });

  it('is adopted: its trims count as lost to all, its events join the default class', async () => {
    const key = '{legacy}:events';
    // What an older version wrote: entries with `q`, trimmed by MAXLEN.
    const ids: string[] = [];
    let prev = '0-0';
    for (let i = 0; i < 8; i++) {
      const id = (await client.call(
        'XADD',
        key,
        '*',
        'q',
        prev,
        't',
        '["/t"]',
        'd',
        `old${i}`,
      )) as string;
      ids.push(id);
      prev = id;
    }
    await client.call('XTRIM', key, 'MAXLEN', '=', '5');
    const e = redisEngine({ url: redis.url, key, maxEvents: 6, retention: [busy] });
    try {
      await e.ready;
      const trimmed = await e.history({ after: ids[0]! });
      assert.equal(trimmed.found, false, 'old1 and old2 were trimmed');
      assert.deepEqual(data(trimmed.events), ['old3', 'old4', 'old5', 'old6', 'old7']);
      const edge = await e.history({ after: ids[2]! });
      assert.equal(edge.found, true, 'the newest trimmed id: nothing after it was lost');
      assert.equal((await e.history({ after: ids[4]! })).found, true);

      // The first append adopts the stream: its 5 entries join the default class (bound 6).
      await e.append({ topics: ['/t'], data: 'new0' });
      await e.append({ topics: ['/t'], data: 'new1' });
      const all = await e.history({ after: EARLIEST });
      assert.deepEqual(data(all.events), ['old4', 'old5', 'old6', 'old7', 'new0', 'new1']);
      const r = await e.history({ after: ids[1]!, concerns: (c) => c === busy.name });
      assert.equal(r.found, false, 'the old trims concern every class');
      const again = await e.history({ after: ids[2]! });
      assert.equal(again.found, false, 'old3 left the default class since');
      assert.equal((await e.history({ after: ids[3]! })).found, true);
    } finally {
      await e.close();
    }
  });

  it('sizes adopted entries as eventSize does: 48 bytes a topic, line breaks as on the wire', async () => {
    const key = '{legacy-sizes}:events';
    const topics = Array.from({ length: 10 }, (_, i) => `/t/${i}`);
    const data = 'a\nb\nc\r\nd';
    let prev = '0-0';
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      prev = (await client.call(
        'XADD',
        key,
        '*',
        'q',
        prev,
        't',
        JSON.stringify(topics),
        'd',
        data,
      )) as string;
      ids.push(prev);
    }
    const e = redisEngine({ url: redis.url, key, retention: [busy] });
    try {
      const added = await e.append({ topics, data });
      const counted = ids.reduce((n, id) => n + eventSize({ topics, data }, id), added.size);
      const { bytes } = e.stats();
      assert.ok(bytes >= counted, `${bytes} bytes counted, eventSize says ${counted}`);
      assert.ok(counted > 5 * topics.length * TOPIC_OVERHEAD_BYTES, 'topics weigh most of it');
    } finally {
      await e.close();
    }
  });

  it('deleted under the engine: the old stream’s ids are unknown to the new one', async () => {
    const key = '{gone}:events';
    const e = redisEngine({ url: redis.url, key, retention: [busy] });
    try {
      // 400 times over: a deletion and the next append within one millisecond are common, and
      // there a new stream's clock-made id repeated one of the old stream's (before the fix,
      // within the first hundred rounds).
      for (let round = 0; round < 400; round++) {
        const old = await e.append({ topics: ['/t'], data: 'before' });
        await client.call('DEL', key);
        const next = await e.append({ topics: ['/t'], data: 'after' });
        assert.notEqual(next.id, old.id, `round ${round}: the new stream repeated an old id`);
        const r = await e.history({ after: old.id });
        assert.equal(r.found, false, `round ${round}: ${old.id} known to the new stream`);
        assert.deepEqual(data(r.events), ['after']);
        await client.call('DEL', key);
      }
    } finally {
      await e.close();
    }
  });

  it('bounds each class by its own bytes, exactly', async () => {
    const small = retentionClass({ selector: '/busy/{n}', maxEvents: 100, maxBytes: 1000 });
    const e = redisEngine({ url: redis.url, key: '{class-bytes}:events', retention: [small] });
    try {
      const feed = await e.append({ topics: ['/feed'], data: 'f'.repeat(500) });
      const sent: EngineEvent[] = [];
      for (let i = 0; i < 10; i++) {
        sent.push(await e.append({ topics: [`/busy/${i}`], data: 'b'.repeat(200) }));
      }
      const all = await e.history({ after: EARLIEST });
      const kept = all.events.filter((ev) => ev.topics[0]!.startsWith('/busy/'));
      const bytes = kept.reduce((n, ev) => n + ev.size, 0);
      assert.ok(bytes <= 1000, `${bytes} bytes kept`);
      assert.ok(bytes + sent[sent.length - kept.length - 1]!.size > 1000, 'no fewer than fit');
      assert.equal(all.events[0]!.id, feed.id, 'the default class is untouched');
      // Counted as eventSize counts them, the generated ids' own length included.
      const retained = all.events.reduce((n, ev) => n + ev.size, 0);
      assert.equal(e.stats().bytes, retained);
    } finally {
      await e.close();
    }
  });
});

describe('nats: a stream bounded by its own limits', { skip: natsSkip }, () => {
  let nats: TestNats;
  before(async () => {
    nats = await startNats();
  });
  after(() => nats?.stop());

  it('is adopted: what its limits evicted is lost to every class, its limits are lifted', async () => {
    const legacy = natsEngine({ url: nats.url, stream: 'legacy', maxEvents: 3 });
    const ids: string[] = [];
    try {
      for (let i = 0; i < 6; i++)
        ids.push((await legacy.append({ topics: ['/t'], data: `o${i}` })).id);
    } finally {
      await legacy.close();
    }
    const e = natsEngine({ url: nats.url, stream: 'legacy', maxEvents: 10, retention: [busy] });
    try {
      await e.ready;
      const lost = await e.history({ after: ids[0]!, concerns: (c) => c === busy.name });
      assert.equal(lost.found, false, 'o1 and o2 were evicted by the stream limits');
      assert.deepEqual(data(lost.events), ['o3', 'o4', 'o5']);
      assert.equal((await e.history({ after: ids[2]! })).found, true, 'the newest evicted');
      // No more server limits: seven more events all stay (the default class keeps 10).
      for (let i = 0; i < 7; i++) await e.append({ topics: ['/t'], data: `n${i}` });
      const all = await e.history({ after: EARLIEST });
      assert.equal(all.events.length, 10);
    } finally {
      await e.close();
    }
  });

  it('deleted and created again (file storage): the markers about the old one go', async () => {
    const small = retentionClass({ selector: '/busy/{n}', maxEvents: 1 });
    const e = natsEngine({
      url: nats.url,
      stream: 'deleted',
      maxBackoffMs: 100,
      retention: [small],
      onLiveGap: () => {},
    });
    const nc = await connect({ servers: nats.url });
    try {
      await e.ready;
      for (let i = 0; i < 40; i++) await e.append({ topics: [`/busy/${i}`], data: `b${i}` });
      await waitFor(() => (e.stats().classes?.[small.name]?.events ?? 99) <= 2, 'busy trimmed');
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete('deleted');
      // The engine notices (its live consumer is gone) and creates the stream again.
      let fresh: EngineEvent | undefined;
      await waitFor(() => e.health().ready === false || fresh !== undefined, 'the loss noticed');
      await waitFor(() => e.health().ready, 'ready again', 20_000);
      for (let i = 0; i < 50 && fresh === undefined; i++) {
        try {
          fresh = await e.append({ topics: ['/t'], data: 'fresh' });
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await e.append({ topics: ['/t'], data: 'next' });
      const r = await e.history({ after: fresh!.id });
      assert.equal(r.found, true, 'the old busy marker (sequence ~40) does not count');
      assert.deepEqual(data(r.events), ['next']);
    } finally {
      await nc.close();
      await e.close();
    }
  });

  it('created again (memory storage, a server restart): old markers do not make gaps', async () => {
    const small = retentionClass({ selector: '/busy/{n}', maxEvents: 1 });
    const e = natsEngine({
      url: nats.url,
      stream: 'again',
      storage: 'memory',
      maxBackoffMs: 100,
      retention: [small],
      onLiveGap: () => {},
    });
    try {
      await e.ready;
      const old: EngineEvent[] = [];
      for (let i = 0; i < 12; i++)
        old.push(await e.append({ topics: [`/busy/${i}`], data: `b${i}` }));
      await waitFor(() => (e.stats().classes?.[small.name]?.events ?? 99) <= 2, 'busy trimmed');
      await nats.kill();
      await nats.start();
      await waitFor(() => e.health().ready, 'ready again', 20_000);
      const fresh = await e.append({ topics: ['/busy/1'], data: 'fresh' });
      await e.append({ topics: ['/t'], data: 'next' });
      const r = await e.history({ after: fresh.id });
      assert.equal(r.found, true, 'no marker of the old stream counts');
      assert.deepEqual(data(r.events), ['next']);
      const stale = await e.history({ after: old[11]!.id });
      assert.equal(stale.found, false, 'an id of the old stream is unknown');
      assert.deepEqual(data(stale.events), ['fresh', 'next']);
    } finally {
      await e.close();
    }
  });
});
