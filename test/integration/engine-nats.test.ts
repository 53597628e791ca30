// The NATS JetStream engine against a real nats-server (spawned on a free port): the engine
// contract (ids, history/found/cursor/more, latest, custom ids, duplicates, bounds by count,
// bytes and age), live delivery in one total order across two engine instances, the stream it
// creates, and two hubs sharing one stream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { EARLIEST, type EngineEvent, HeraldEngineError } from '../../src/engines/engine.js';
import { type NatsEngineOptions, natsEngine } from '../../src/engines/nats.js';
import { createHub } from '../../src/index.js';
import { Collector, withTimeout } from '../helpers/async.js';
import { received, startHubServer, topicsOf } from '../helpers/hub.js';
import { eventually } from '../helpers/hub-server.js';
import { natsSkip, startNats, type TestNats } from '../helpers/nats-server.js';
import { openStream } from '../helpers/sse.js';

let nats: TestNats;
let streams = 0;
const open: { close(): Promise<void> }[] = [];

/** An engine on a fresh stream (or `stream`), closed after the file. */
function engine(options: NatsEngineOptions = {}) {
  const e = natsEngine({ url: nats.url, stream: `t${++streams}`, ...options });
  open.push(e);
  return e;
}

/** An engine whose live reader is up, so every later append is delivered to its listeners. */
async function liveEngine(options: NatsEngineOptions = {}) {
  const e = engine(options);
  await e.ready;
  assert.deepEqual(e.health(), { ready: true });
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

describe('nats engine', { skip: natsSkip }, () => {
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    for (const e of open) await e.close();
    await nats?.stop();
  });

  describe('append, positions and ids', () => {
    it('uses the stream sequence as position and <epoch>-<sequence> as generated id', async () => {
      const e = engine();
      const events = await publishN(e, 5);
      const epoch = events[0]!.id.split('-')[0]!;
      assert.match(epoch, /^[0-9a-z]+$/);
      for (let i = 0; i < events.length; i++) {
        const ev = events[i]!;
        assert.equal(ev.position, String(i + 1));
        assert.equal(ev.id, `${epoch}-${i + 1}`);
        assert.equal(ev.customId, false);
        if (i > 0) assert.ok(e.compare(events[i - 1]!.position, ev.position) < 0);
      }
      assert.equal(e.compare('10', '9'), 1);
      assert.equal(e.compare('9007199254740993', '9007199254740992'), 1);
      assert.equal(e.compare('7', '7'), 0);
      // Another stream (created at another moment) has another epoch.
      const other = (await engine().append({ topics: ['/t'], data: 'x' })).id;
      assert.notEqual(other.split('-')[0], epoch);
    });

    it('stores every field and reads it back the same', async () => {
      const e = engine();
      const input = {
        topics: ['/a', 'urn:x.y.*.>', 'with space', 'ünï\ncode 🎉'],
        data: 'héllo\nworld\r\n{"json":true}',
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
      const own = (await e.append({ topics: ['/a'], data: 'first' })).id;
      const epoch = own.split('-')[0]!;
      const bad: unknown[] = [
        { topics: [], data: 'x' },
        { topics: [''], data: 'x' },
        { topics: ['/a'], data: 1 },
        { topics: ['/a'], data: 'x', type: 'a\nb' },
        { topics: ['/a'], data: 'x', id: '' },
        { topics: ['/a'], data: 'x', id: 'a\rb' },
        { topics: ['/a'], data: 'x', id: EARLIEST },
        { topics: ['/a'], data: 'x', id: `${epoch}-99` }, // shaped like a generated id
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
      assert.deepEqual(data((await e.history({ after: EARLIEST })).events), ['first']);
    });

    it('rejects a duplicate custom id while the older event is retained, from any node', async () => {
      const stream = `dup${++streams}`;
      const a = engine({ stream, maxEvents: 2 });
      const b = engine({ stream, maxEvents: 2 });
      const id = 'order 7.*> ünï';
      const first = await a.append({ topics: ['/a'], data: '1', id });
      await assert.rejects(b.append({ topics: ['/b'], data: '2', id }), (err: unknown) => {
        engineError('DUPLICATE_ID')(err);
        assert.match((err as Error).message, /is still in history/);
        return true;
      });
      // Two nodes racing for one new id: exactly one wins.
      const race = await Promise.allSettled([
        a.append({ topics: ['/a'], data: 'r1', id: 'race' }),
        b.append({ topics: ['/a'], data: 'r2', id: 'race' }),
      ]);
      assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1);
      await a.append({ topics: ['/a'], data: '3' });
      assert.equal(await b.resolve(id), undefined, 'evicted by the two appends after it');
      const again = await b.append({ topics: ['/a'], data: '4', id });
      assert.ok(b.compare(again.position, first.position) > 0);
      assert.equal(await a.resolve(id), again.position);
      // A refused append takes no sequence: positions stay gap-free.
      const next = await a.append({ topics: ['/a'], data: '5' });
      assert.equal(Number(next.position), Number(again.position) + 1);
    });

    it('refuses an event bigger than maxBytes, which would otherwise empty the stream', async () => {
      const e = engine({ maxBytes: 1000 });
      const kept = await e.append({ topics: ['/a'], data: 'kept' });
      await assert.rejects(
        e.append({ topics: ['/a'], data: 'x'.repeat(1000) }),
        engineError('EVENT_TOO_LARGE'),
      );
      // Small enough for eventSize, too big as stored by JetStream (metadata, subject, record).
      await assert.rejects(
        e.append({ topics: ['/a'], data: 'x'.repeat(880), id: 'big' }),
        engineError('EVENT_TOO_LARGE'),
      );
      assert.deepEqual(
        (await e.history({ after: EARLIEST })).events.map((x) => x.id),
        [kept.id],
      );
    });

    it('validates options', () => {
      for (const options of [
        { maxEvents: 0 },
        { maxEvents: 1.5 },
        { ttlMs: -5 },
        { ttlMs: 50 }, // JetStream's max_age is at least 100 ms
        { pageSize: 0 },
        { stream: '' },
        { stream: 'a.b' },
        { stream: 'a b' },
        { subjectPrefix: 'a.*' },
        { storage: 'disk' },
        { url: 'redis://127.0.0.1' },
      ]) {
        assert.throws(
          () => natsEngine({ url: nats.url, ...(options as NatsEngineOptions) }),
          engineError('INVALID_OPTIONS'),
          JSON.stringify(options),
        );
      }
    });
  });

  describe('the stream', () => {
    it('is created with the bounds as limits, and an existing one is brought in line', async () => {
      const stream = `limits${++streams}`;
      const e = engine({ stream, maxEvents: 7, maxBytes: 4096, ttlMs: 60_000 });
      await e.ready;
      const nc = await connect({ servers: nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        let info = await jsm.streams.info(stream);
        assert.deepEqual(info.config.subjects, [`${stream}.>`]);
        assert.equal(info.config.max_msgs, 7);
        assert.equal(info.config.max_bytes, 4096);
        assert.equal(info.config.max_age, 60_000 * 1e6);
        const f = engine({ stream, maxEvents: 3 });
        await f.ready;
        info = await jsm.streams.info(stream);
        assert.equal(info.config.max_msgs, 3);
        assert.equal(info.config.max_bytes, -1);
        assert.equal(info.config.max_age, 0);

        // A stream that is not Herald's is left alone, with a reason.
        await jsm.streams.add({ name: `foreign${streams}`, subjects: ['elsewhere.>'] });
        const g = engine({ stream: `foreign${streams}` });
        await assert.rejects(g.append({ topics: ['/a'], data: 'x' }), (error: unknown) => {
          engineError('INVALID_OPTIONS')(error);
          assert.match((error as Error).message, /Herald needs a stream of its own/);
          return true;
        });
        assert.equal(g.health().ready, false);
        assert.match(g.health().reason ?? '', /stream of its own/);
      } finally {
        await nc.close();
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

    it('filters with match and pages with limit / cursor (across pulls)', async () => {
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

    it('reports found=false for unknown or evicted ids (count bound) and replays from the oldest', async () => {
      const e = engine({ maxEvents: 3 });
      const ev = await publishN(e, 6);
      const unknown = await e.history({ after: 'never-published' });
      assert.equal(unknown.found, false);
      assert.deepEqual(data(unknown.events), ['d3', 'd4', 'd5']);
      assert.equal(unknown.oldest, ev[3]!.id);

      const evicted = await e.history({ after: ev[1]!.id });
      assert.equal(evicted.found, false, 'd2 after it was evicted');
      assert.deepEqual(data(evicted.events), ['d3', 'd4', 'd5']);

      const edge = await e.history({ after: ev[2]!.id });
      assert.equal(edge.found, true, 'evicted itself, but nothing after it was lost');
      assert.deepEqual(data(edge.events), ['d3', 'd4', 'd5']);

      const epoch = ev[0]!.id.split('-')[0]!;
      const future = await e.history({ after: `${epoch}-99` });
      assert.equal(future.found, false, 'an id that was never handed out');
      const garbage = await e.history({ after: { position: 'nope' } });
      assert.equal(garbage.found, false);
      assert.equal(await e.resolve(ev[1]!.id), undefined);
      assert.equal(await e.resolve(ev[4]!.id), ev[4]!.position);
      assert.equal(await e.resolve('never-published'), undefined);
    });

    it('evicts by bytes', async () => {
      const e = engine({ maxBytes: 2_000 });
      const ev: EngineEvent[] = [];
      for (let i = 0; i < 20; i++) {
        ev.push(await e.append({ topics: ['/b'], data: `${i}:${'x'.repeat(200)}` }));
      }
      const r = await e.history({ after: ev[0]!.id });
      assert.equal(r.found, false);
      assert.ok(r.events.length > 0 && r.events.length < 10, `${r.events.length} kept`);
      assert.equal(r.events.at(-1)!.id, ev[19]!.id, 'the newest are the ones kept');
      assert.equal(r.oldest, r.events[0]!.id);
    });

    it('evicts by age, also while idle', async () => {
      const e = engine({ ttlMs: 300 });
      const old = await e.append({ topics: ['/t'], data: 'old', id: 'old-one' });
      // The server expires it on its own timer: wait for that, without appending.
      await eventually(async () => (await e.resolve(old.id)) === undefined, 'expiry', 10_000);
      const r = await e.history({ after: old.id });
      assert.equal(r.found, false, 'the custom id is gone with its event');
      assert.deepEqual(r.events, []);
      assert.equal(r.oldest, null);
      const fresh = await e.append({ topics: ['/t'], data: 'new', id: 'old-one' });
      assert.ok(e.compare(fresh.position, old.position) > 0, 'the id is free again');
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
      const e = await liveEngine();
      const got = new Collector<EngineEvent>();
      const off = e.onEvent((ev) => got.push(ev));
      const sent = await publishN(e, 20);
      await got.count(20, 'own events');
      assert.deepEqual(
        got.items.map((x) => ({ ...x })),
        sent.map((x) => ({ ...x })),
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
      const stream = `pair${++streams}`;
      const a = await liveEngine({ stream });
      const b = await liveEngine({ stream });
      const onA = new Collector<EngineEvent>();
      const onB = new Collector<EngineEvent>();
      a.onEvent((ev) => onA.push(ev));
      b.onEvent((ev) => onB.push(ev));
      const sends: Promise<EngineEvent>[] = [];
      for (let i = 0; i < 100; i++) {
        sends.push(a.append({ topics: ['/t'], data: `a${i}` }));
        sends.push(b.append({ topics: ['/t', '/u'], data: `b${i}`, id: `b-${i}` }));
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
      const as = onA.items.filter((x) => x.data.startsWith('a')).map((x) => x.data);
      assert.deepEqual(
        as,
        Array.from({ length: 100 }, (_, i) => `a${i}`),
        'each node keeps its own append order',
      );
      const history = await b.history({ after: EARLIEST });
      assert.deepEqual(
        history.events.map((x) => x.id),
        order.map((x) => x.id),
      );
    });

    it('reports listener errors and keeps delivering', async () => {
      const errors: unknown[] = [];
      const e = await liveEngine({ onListenerError: (error) => errors.push(error) });
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
    it('is ready once its live reader runs, and knows what the stream holds', async () => {
      const e = await liveEngine({ maxEvents: 5 });
      assert.deepEqual(e.health(), { ready: true });
      const ev = await publishN(e, 7);
      await e.history({ after: EARLIEST }); // a read refreshes what stats() knows
      const s = e.stats();
      assert.equal(s.events, 5);
      assert.equal(s.oldest, ev[2]!.position);
      assert.equal(s.newest, ev[6]!.position);
      assert.ok(s.bytes > 0);
    });

    it('rejects CLOSED after close, and closes twice', async () => {
      const e = await liveEngine();
      await e.close();
      await e.close();
      assert.deepEqual(e.health(), { ready: false, reason: 'engine closed' });
      await assert.rejects(e.append({ topics: ['/a'], data: 'x' }), engineError('CLOSED'));
      await assert.rejects(e.history({ after: EARLIEST }), engineError('CLOSED'));
      assert.throws(() => e.onEvent(() => {}), engineError('CLOSED'));
    });

    it('works over a connection it was given, which it leaves open', async () => {
      const connection = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
      const e = natsEngine({ connection, stream: `c${++streams}` });
      await e.ready;
      const got = new Collector<string>();
      e.onEvent((ev) => got.push(ev.data));
      await e.append({ topics: ['/a'], data: 'via connection' });
      await got.count(1, 'the event');
      await e.close();
      assert.equal(connection.isClosed(), false);
      await connection.flush();
      await connection.close();
    });
  });

  describe('two hubs on one stream', () => {
    it('replays after Last-Event-ID on B what was published on A, then goes live', async () => {
      const stream = `hubs${++streams}`;
      const hubA = createHub({ engine: await liveEngine({ stream }) });
      const hubB = createHub({ engine: await liveEngine({ stream }) });
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
