// The Redis engine against a real redis-server (spawned on a free port): the engine contract
// (ids, history/found/cursor/more, latest, custom ids, duplicates, bounds), live delivery in
// one total order across two engine instances, and two hubs sharing one stream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { EARLIEST, type EngineEvent, HeraldEngineError } from '../../src/engines/engine.js';
import { type RedisEngineOptions, redisEngine } from '../../src/engines/redis.js';
import { createHub } from '../../src/index.js';
import { Collector, withTimeout } from '../helpers/async.js';
import { received, startHubServer, topicsOf } from '../helpers/hub.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { openStream } from '../helpers/sse.js';

let redis: TestRedis;
let keys = 0;
const open: { close(): Promise<void> }[] = [];

/** An engine on a fresh stream key (or `key`), closed after the file. */
function engine(options: RedisEngineOptions = {}) {
  const e = redisEngine({ url: redis.url, key: `{t${++keys}}:events`, ...options });
  open.push(e);
  return e;
}

const data = (events: readonly EngineEvent[]): string[] => events.map((e) => e.data);

function engineError(code: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HeraldEngineError, `a HeraldEngineError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

async function publishN(e: ReturnType<typeof engine>, n: number, topic = '/t') {
  const out: EngineEvent[] = [];
  for (let i = 0; i < n; i++) out.push(await e.append({ topics: [topic], data: `d${i}` }));
  return out;
}

describe('redis engine', { skip: redisSkip }, () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const e of open) await e.close();
    await redis?.stop();
  });

  describe('append, positions and ids', () => {
    it('uses the stream entry id as position and generated id, in increasing order', async () => {
      const e = engine();
      const events = await publishN(e, 5);
      for (let i = 0; i < events.length; i++) {
        const ev = events[i]!;
        assert.match(ev.position, /^\d+-\d+$/);
        assert.equal(ev.id, ev.position);
        assert.equal(ev.customId, false);
        assert.equal(ev.time, Number(ev.position.split('-')[0]));
        if (i > 0) {
          assert.ok(e.compare(events[i - 1]!.position, ev.position) < 0);
          assert.ok(e.compare(ev.position, events[i - 1]!.position) > 0);
        }
      }
      assert.equal(e.compare('10-0', '9-5'), 1);
      assert.equal(e.compare('5-10', '5-9'), 1);
      assert.equal(e.compare('18446744073709551615-1', '18446744073709551615-2'), -1);
      assert.equal(e.compare('7-7', '7-7'), 0);
    });

    it('stores every field and reads it back the same', async () => {
      const e = engine();
      const input = {
        topics: ['/a', '/b'],
        data: 'héllo\nworld',
        type: 'greeting',
        id: 'custom-1',
        retry: 500,
        private: true,
      };
      const ev = await e.append(input);
      assert.equal(ev.id, 'custom-1');
      assert.equal(ev.customId, true);
      const [read] = (await e.history({ after: EARLIEST })).events;
      assert.deepEqual({ ...read }, { ...ev });
      const plain = await e.append({ topics: ['/a'], data: '' });
      const back = (await e.history({ after: 'custom-1' })).events[0]!;
      assert.deepEqual({ ...back }, { ...plain });
      assert.equal(back.private, false);
      assert.equal(back.type, undefined);
      assert.equal(back.retry, undefined);
    });

    it('rejects invalid events with INVALID_EVENT, storing nothing', async () => {
      const e = engine();
      const bad: unknown[] = [
        { topics: [], data: 'x' },
        { topics: [''], data: 'x' },
        { topics: ['/a'], data: 1 },
        { topics: ['/a'], data: 'x', type: 'a\nb' },
        { topics: ['/a'], data: 'x', id: '' },
        { topics: ['/a'], data: 'x', id: 'a\rb' },
        { topics: ['/a'], data: 'x', id: EARLIEST },
        { topics: ['/a'], data: 'x', id: '1700000000000-0' }, // shaped like a stream id
        { topics: ['/a'], data: 'x', retry: -1 },
        { topics: ['/a'], data: 'x', private: 'yes' },
      ];
      for (const input of bad) {
        await assert.rejects(
          e.append(input as never),
          engineError('INVALID_EVENT'),
          JSON.stringify(input),
        );
      }
      assert.deepEqual((await e.history({ after: EARLIEST })).events, []);
    });

    it('rejects a duplicate custom id while the older event is retained, from any node', async () => {
      const key = `{dup${++keys}}:events`;
      const a = engine({ key, maxEvents: 2, exactTrim: true });
      const b = engine({ key, maxEvents: 2, exactTrim: true });
      const first = await a.append({ topics: ['/a'], data: '1', id: 'x' });
      await assert.rejects(b.append({ topics: ['/b'], data: '2', id: 'x' }), (err: unknown) => {
        engineError('DUPLICATE_ID')(err);
        assert.match((err as Error).message, /"x" is still in history/);
        return true;
      });
      await a.append({ topics: ['/a'], data: '2' });
      await a.append({ topics: ['/a'], data: '3' }); // trims "x"
      assert.equal(await b.resolve('x'), undefined);
      const again = await b.append({ topics: ['/a'], data: '4', id: 'x' });
      assert.ok(b.compare(again.position, first.position) > 0);
      assert.equal(await a.resolve('x'), again.position);
    });

    it('refuses an event bigger than maxBytes', async () => {
      const e = engine({ maxBytes: 100 });
      await assert.rejects(
        e.append({ topics: ['/a'], data: 'x'.repeat(100) }),
        engineError('EVENT_TOO_LARGE'),
      );
    });

    it('validates options', () => {
      for (const options of [
        { maxEvents: 0 },
        { maxEvents: 1.5 },
        { ttlMs: -5 },
        { blockMs: 0 },
        { key: '' },
      ]) {
        assert.throws(
          () => redisEngine({ url: redis.url, ...options }),
          engineError('INVALID_OPTIONS'),
          JSON.stringify(options),
        );
      }
    });
  });

  describe('history', () => {
    it('returns events strictly after a generated id, a custom id or a position', async () => {
      const e = engine();
      const ev = await publishN(e, 3);
      const custom = await e.append({ topics: ['/t'], data: 'custom', id: 'my-id' });
      const tail = await publishN(e, 2, '/u');

      const byId = await e.history({ after: ev[1]!.id });
      assert.equal(byId.found, true);
      assert.deepEqual(data(byId.events), ['d2', 'custom', 'd0', 'd1']);
      assert.equal(byId.oldest, ev[0]!.id);
      assert.equal(byId.cursor, tail[1]!.position);
      assert.equal(byId.more, false);

      const byCustom = await e.history({ after: 'my-id' });
      assert.equal(byCustom.found, true);
      assert.deepEqual(
        byCustom.events.map((x) => x.id),
        tail.map((x) => x.id),
      );

      const byPosition = await e.history({ after: { position: custom.position } });
      assert.deepEqual(data(byPosition.events), ['d0', 'd1']);

      const newest = await e.history({ after: tail[1]!.id });
      assert.equal(newest.found, true);
      assert.deepEqual(newest.events, []);
      assert.equal(newest.cursor, tail[1]!.position);
    });

    it('earliest returns everything retained', async () => {
      const e = engine();
      const empty = await e.history({ after: EARLIEST });
      assert.deepEqual(empty, { events: [], found: true, oldest: null, cursor: null, more: false });
      await publishN(e, 3);
      const all = await e.history({ after: 'earliest' });
      assert.equal(all.found, true);
      assert.deepEqual(data(all.events), ['d0', 'd1', 'd2']);
    });

    it('filters with match and pages with limit / cursor (across XRANGE pages)', async () => {
      const e = engine({ pageSize: 3 });
      for (let i = 0; i < 10; i++)
        await e.append({ topics: [i % 2 ? '/odd' : '/even'], data: `${i}` });
      const got: string[] = [];
      let after: string | { position: string } = EARLIEST;
      let pages = 0;
      for (;;) {
        const r = await e.history({ after, limit: 2, match: (x) => x.topics[0] === '/odd' });
        got.push(...data(r.events));
        pages++;
        if (!r.more) break;
        after = { position: r.cursor! };
      }
      assert.deepEqual(got, ['1', '3', '5', '7', '9']);
      assert.equal(pages, 3);
      const all = await e.history({ after: EARLIEST, match: (x) => x.topics[0] === '/even' });
      assert.deepEqual(data(all.events), ['0', '2', '4', '6', '8']);
      assert.equal(all.more, false);
      const exact = await e.history({ after: EARLIEST, limit: 10 });
      assert.equal(exact.events.length, 10);
      assert.equal(exact.more, false, 'limit reached at the newest event');
    });

    it('reports found=false for unknown or trimmed ids and replays from the oldest', async () => {
      const e = engine({ maxEvents: 3, exactTrim: true });
      const ev = await publishN(e, 6);
      const unknown = await e.history({ after: 'never-published' });
      assert.equal(unknown.found, false);
      assert.deepEqual(data(unknown.events), ['d3', 'd4', 'd5']);
      assert.equal(unknown.oldest, ev[3]!.id);

      const trimmed = await e.history({ after: ev[1]!.id });
      assert.equal(trimmed.found, false, 'd2 after it was trimmed');
      assert.deepEqual(data(trimmed.events), ['d3', 'd4', 'd5']);

      const edge = await e.history({ after: ev[2]!.id });
      assert.equal(edge.found, true, 'trimmed itself, but nothing after it was lost');
      assert.deepEqual(data(edge.events), ['d3', 'd4', 'd5']);

      const made = await e.history({ after: '1-1' });
      assert.equal(made.found, false, 'an id that was never handed out');
      const garbage = await e.history({ after: { position: 'nope' } });
      assert.equal(garbage.found, false);
      assert.equal(await e.resolve(ev[1]!.id), undefined);
      assert.equal(await e.resolve(ev[4]!.id), ev[4]!.position);
      assert.equal(await e.resolve('never-published'), undefined);
    });

    it('answers a start the reader may not see as an unknown id (custom or generated)', async () => {
      const e = engine();
      await e.append({ topics: ['/t'], data: 'a' });
      const secret = await e.append({ topics: ['/s'], data: 's', id: 'secret-x', private: true });
      const generated = await e.append({ topics: ['/s'], data: 's2', private: true });
      await e.append({ topics: ['/t'], data: 'b' });
      const publicOnly = (ev: EngineEvent): boolean => !ev.private;
      const unknown = await e.history({ after: 'never-published', visible: publicOnly });
      assert.equal(unknown.found, false);
      assert.deepEqual(data(unknown.events), ['a', 's', 's2', 'b']);
      for (const id of [secret.id, generated.id]) {
        assert.deepEqual(await e.history({ after: id, visible: publicOnly }), unknown, id);
        const seen = await e.history({ after: id, visible: (ev) => ev.id === id });
        assert.equal(seen.found, true, `${id} for a reader that may see it`);
        assert.deepEqual(data(seen.events), id === secret.id ? ['s2', 'b'] : ['b']);
      }
    });

    it('with visible, a custom id whose entry was trimmed is unknown: it cannot be checked', async () => {
      const e = engine({ maxEvents: 2, exactTrim: true });
      await e.append({ topics: ['/t'], data: 'x', id: 'trimmed-custom' });
      await publishN(e, 2);
      const plain = await e.history({ after: 'trimmed-custom' });
      assert.equal(plain.found, true, 'nothing after it was lost');
      const checked = await e.history({ after: 'trimmed-custom', visible: () => true });
      assert.equal(checked.found, false);
      assert.deepEqual(data(checked.events), ['d0', 'd1']);
    });

    it('applies the age bound on append', async () => {
      const e = engine({ ttlMs: 1, exactTrim: true });
      const first = await e.append({ topics: ['/t'], data: 'old' });
      // Wait (by events, not time) until the server clock moved on by more than ttlMs.
      let last = first;
      while (Number(last.position.split('-')[0]) - Number(first.position.split('-')[0]) < 2) {
        last = await e.append({ topics: ['/t'], data: 'new' });
      }
      const r = await e.history({ after: EARLIEST });
      assert.ok(!data(r.events).includes('old'));
      assert.equal(await e.resolve(first.id), undefined);
      for (const ev of r.events) assert.ok(ev.time > last.time - 1, 'only young events are kept');
    });
  });

  describe('latest', () => {
    it('returns the newest n of each matching topic, in position order', async () => {
      const e = engine({ pageSize: 2 });
      for (let i = 0; i < 12; i++) {
        await e.append({ topics: [['/a', '/b', '/c'][i % 3]!], data: String(i) });
      }
      const both = await e.append({ topics: ['/a', '/b'], data: 'both' });
      const r = await e.latest({ perTopic: 2, match: (topic) => topic !== '/c' });
      assert.deepEqual(data(r.events), ['9', '10', 'both']);
      assert.equal(r.cursor, both.position);
      const limited = await e.latest({ perTopic: 3, match: () => true, limit: 2 });
      assert.deepEqual(data(limited.events), ['11', 'both']);
      const none = await engine().latest({ perTopic: 1, match: () => true });
      assert.deepEqual(none, { events: [], cursor: null });
    });
  });

  describe('live delivery', () => {
    it('delivers its own appends once each, in order, and stops after unsubscribing', async () => {
      const e = engine();
      await e.ready;
      const got = new Collector<EngineEvent>();
      const off = e.onEvent((ev) => got.push(ev));
      const sent = await publishN(e, 20);
      await got.count(20, 'own events');
      assert.deepEqual(
        got.items.map((x) => x.id),
        sent.map((x) => x.id),
      );
      off();
      await e.append({ topics: ['/t'], data: 'after' });
      const marker = new Collector<EngineEvent>();
      e.onEvent((ev) => marker.push(ev));
      await e.append({ topics: ['/t'], data: 'marker' });
      await marker.until((x) => x.some((ev) => ev.data === 'marker'), 'the marker');
      assert.equal(got.items.length, 20);
    });

    it('two engines on one stream deliver every event of both to both, in one order', async () => {
      const key = `{pair${++keys}}:events`;
      const a = engine({ key, blockMs: 200 });
      const b = engine({ key, blockMs: 200 });
      await Promise.all([a.ready, b.ready]);
      const onA = new Collector<EngineEvent>();
      const onB = new Collector<EngineEvent>();
      a.onEvent((ev) => onA.push(ev));
      b.onEvent((ev) => onB.push(ev));
      const sends: Promise<EngineEvent>[] = [];
      for (let i = 0; i < 100; i++) {
        sends.push(a.append({ topics: ['/t'], data: `a${i}` }));
        sends.push(b.append({ topics: ['/t'], data: `b${i}`, id: `b-${i}` }));
      }
      const sent = await Promise.all(sends);
      await onA.count(200, 'events on A');
      await onB.count(200, 'events on B');
      const order = [...sent].sort((x, y) => a.compare(x.position, y.position));
      assert.deepEqual(
        onA.items.map((x) => x.id),
        order.map((x) => x.id),
      );
      assert.deepEqual(
        onB.items.map((x) => x.id),
        order.map((x) => x.id),
      );
      for (let i = 0; i < 100; i++) {
        const as = onA.items.filter((x) => x.data.startsWith('a')).map((x) => x.data);
        assert.equal(as[i], `a${i}`, 'each node keeps its own append order');
      }
      const history = await b.history({ after: EARLIEST });
      assert.deepEqual(
        history.events.map((x) => x.id),
        order.map((x) => x.id),
      );
    });

    it('reports a live gap when entries were trimmed before the reader got them', async () => {
      const key = `{gap${++keys}}:events`;
      const gaps: [string, string][] = [];
      const reader = engine({ key, blockMs: 200, onLiveGap: (x, y) => gaps.push([x, y]) });
      await reader.ready;
      const got = new Collector<EngineEvent>();
      reader.onEvent((ev) => got.push(ev));
      const seen = await reader.append({ topics: ['/t'], data: 'seen' });
      await got.count(1, 'the first event');
      // Another node appends three entries and trims two of them in one transaction: the
      // reader, blocked in XREAD, is only served after it, when they are already gone.
      const ms = Number(seen.position.split('-')[0]) + 1;
      const ids = [`${ms}-0`, `${ms}-1`, `${ms}-2`];
      const writer = new Redis(redis.url);
      await writer
        .multi()
        .call('XADD', key, ids[0]!, 'q', seen.position, 't', '["/t"]', 'd', 'lost1')
        .call('XADD', key, ids[1]!, 'q', ids[0]!, 't', '["/t"]', 'd', 'lost2')
        .call('XADD', key, ids[2]!, 'q', ids[1]!, 't', '["/t"]', 'd', 'kept')
        .call('XTRIM', key, 'MAXLEN', '=', '1')
        .exec();
      await writer.quit();
      await got.count(2, 'the kept event');
      assert.deepEqual(data(got.items), ['seen', 'kept']);
      assert.deepEqual(gaps, [[seen.position, ids[2]]]);
    });

    it('reports listener errors and keeps delivering', async () => {
      const errors: unknown[] = [];
      const e = engine({ onListenerError: (error) => errors.push(error) });
      await e.ready;
      const got = new Collector<string>();
      e.onEvent(() => {
        throw new Error('boom');
      });
      e.onEvent((ev) => got.push(ev.data));
      await publishN(e, 2);
      await got.count(2, 'events after a throwing listener');
      assert.equal(errors.length, 2);
    });
  });

  describe('health, stats, close', () => {
    it('is ready when connected and knows what it appended', async () => {
      const e = engine({ maxEvents: 5, exactTrim: true });
      await e.ready;
      assert.deepEqual(e.health(), { ready: true });
      const ev = await publishN(e, 7);
      const s = e.stats();
      assert.equal(s.events, 5);
      assert.equal(s.oldest, ev[2]!.position);
      assert.equal(s.newest, ev[6]!.position);
      assert.ok(s.bytes > 0);
    });

    it('rejects CLOSED after close, and closes twice', async () => {
      const e = engine();
      await e.ready;
      await e.close();
      await e.close();
      assert.deepEqual(e.health(), { ready: false, reason: 'engine closed' });
      await assert.rejects(e.append({ topics: ['/a'], data: 'x' }), engineError('CLOSED'));
      await assert.rejects(e.history({ after: EARLIEST }), engineError('CLOSED'));
      assert.throws(() => e.onEvent(() => {}), engineError('CLOSED'));
    });

    it('works over a client it was given, which it leaves open', async () => {
      const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
      const e = redisEngine({ client, key: `{c${++keys}}:events` });
      await e.ready;
      const got = new Collector<string>();
      e.onEvent((ev) => got.push(ev.data));
      await e.append({ topics: ['/a'], data: 'via client' });
      await got.count(1, 'the event');
      await e.close();
      assert.equal(await client.call('PING'), 'PONG');
      await client.quit();
    });
  });

  describe('two hubs on one stream', () => {
    it('replays after Last-Event-ID on B what was published on A, then goes live', async () => {
      const key = `{hubs${++keys}}:events`;
      const hubA = createHub({ engine: engine({ key, blockMs: 200 }) });
      const hubB = createHub({ engine: engine({ key, blockMs: 200 }) });
      const server = await startHubServer((req, res, url) =>
        hubB.subscribe(req, res, { topics: topicsOf(url) }),
      );
      try {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++)
          ids.push((await hubA.publish({ topics: '/x', data: `${i}` })).id);
        const { res, reader } = await openStream(`${server.origin}/?client=c&topic=%2Fx`, {
          'last-event-id': ids[1]!,
        });
        assert.equal(res.statusCode, 200);
        const { sub } = await server.nth('c', 0);
        await withTimeout(sub.ready, 'the replay');
        const live = (await hubA.publish({ topics: '/x', data: 'live', id: 'live-1' })).id;
        await reader.events.until(
          (items) => items.some((e) => e.id === live),
          'the live event from hub A',
        );
        sub.close();
        await reader.end();
        const got = reader.events.items.map(received);
        assert.deepEqual(
          got.map((e) => [e.id, e.data]),
          [
            [ids[2], '2'],
            [ids[3], '3'],
            [ids[4], '4'],
            ['live-1', 'live'],
          ],
        );
      } finally {
        await server.close();
        await hubA.close();
        await hubB.close();
      }
    });
  });
});
