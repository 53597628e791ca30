// Private ids under retention classes, end to end on `herald serve --history-topic` with the
// memory, Redis and NATS engines: resuming after an id the subscriber may not see is answered
// exactly as resuming after an id that never existed (status, `Last-Event-ID` header,
// `herald.gap` and what is replayed), whichever class evicted last; `herald.gap`'s
// `oldestAvailable` never names a private update; a subscriber that may see its id resumes
// exactly after it — told of a loss (header `earliest`, Mercure's loss signal) only when a class
// it could receive events of evicted some.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventSourceMessage } from 'eventsource-parser';
import type { HeraldServer } from '../../src/server/app.js';
import {
  eventually,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
  subscriberToken,
} from '../helpers/hub-server.js';
import { natsSkip, startNats, type TestNats } from '../helpers/nats-server.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';

const SENTINEL = '/sentinel';
/** The busy topics' class keeps 3 events (NATS trims after the fact: 4 at times). */
const BUSY = ['--history-topic', '/busy/{n}=3'];

/** What one connection got: the response's Last-Event-ID and the replay (sentinel excluded). */
interface Answer {
  header: string | undefined;
  events: Array<{ event: string; id: string | undefined; data: string }>;
}

let sentinels = 0;

/**
 * Subscribes to `topics` (and the sentinel topic) after `lastEventId`, publishes a public
 * sentinel and returns what arrived before it: the replay, gap included.
 */
async function answer(
  hub: HeraldServer,
  admin: string,
  topics: string[],
  lastEventId: string,
  token?: string,
): Promise<Answer> {
  const { res, req, reader } = await subscribe(hub.url, [...topics, SENTINEL], {
    headers: { 'last-event-id': lastEventId },
    token,
  });
  try {
    const mark = `sentinel-${++sentinels}`;
    await publishOk(hub.url, { topic: SENTINEL, data: mark }, admin);
    const events = await reader.events.until(
      (items) => items.some((e) => e.data === mark),
      `the sentinel ${mark}`,
    );
    return {
      header: res.headers['last-event-id'] as string | undefined,
      events: events
        .slice(
          0,
          events.findIndex((e: EventSourceMessage) => e.data === mark),
        )
        .filter((e) => !(e.event === undefined && e.data.startsWith('sentinel-')))
        .map((e) => ({ event: e.event ?? 'message', id: e.id, data: e.data })),
    };
  } finally {
    req.destroy();
  }
}

/** The answer with the requested id taken out of the gap event, to compare two requests. */
function normalized(a: Answer, requested: string): Answer {
  return {
    header: a.header,
    events: a.events.map((e) =>
      e.event === 'herald.gap'
        ? { ...e, data: e.data.replace(JSON.stringify(requested), '"<requested>"') }
        : e,
    ),
  };
}

/** The Redis entry id right after `id` in the same millisecond. */
function nextEntryId(id: string): string {
  const [ms, seq] = id.split('-') as [string, string];
  return `${ms}-${BigInt(seq) + 1n}`;
}

interface EngineCase {
  name: string;
  skip: string | boolean | undefined;
  /** Starts the engine's server; returns the `--engine` flags and how to stop it. */
  start(): Promise<{ flags: string[]; stop(): Promise<void> }>;
  /** Redis: generated ids are times, most of which name nothing (see engines.md). */
  sparseIds?: boolean;
}

const engines: EngineCase[] = [
  { name: 'memory', skip: undefined, start: async () => ({ flags: [], stop: async () => {} }) },
  {
    name: 'redis',
    skip: redisSkip,
    sparseIds: true,
    start: async () => {
      const redis: TestRedis = await startRedis();
      return { flags: ['--engine', redis.url], stop: () => redis.stop() };
    },
  },
  {
    name: 'nats',
    skip: natsSkip,
    start: async () => {
      const nats: TestNats = await startNats();
      return { flags: ['--engine', `${nats.url}?stream=private`], stop: () => nats.stop() };
    },
  },
];

for (const engine of engines) {
  describe(`private ids under retention classes (${engine.name})`, { skip: engine.skip }, () => {
    let hub: HeraldServer;
    let stop: () => Promise<void> = async () => {};
    let admin: string;
    let reader: string;
    const ids: Record<string, string> = {};

    before(async () => {
      const started = await engine.start();
      stop = started.stop;
      hub = await startHub(['--anonymous', ...BUSY, ...started.flags]);
      await eventually(async () => (await fetch(`${hub.url}/readyz`)).status === 200, 'ready');
      admin = await publisherToken();
      reader = await subscriberToken(['/secret/{n}']);
      const pub = (name: string, fields: Parameters<typeof publishOk>[1]) =>
        publishOk(hub.url, fields, admin).then((id) => {
          ids[name] = id;
        });
      await pub('p0', { topic: '/news', data: 'p0' });
      await pub('s1', {
        topic: '/secret/1',
        data: 'private s1',
        id: 'secret-below',
        private: true,
      });
      await pub('g1', { topic: '/secret/1', data: 'private g1', private: true });
      // Redis: the next entry a millisecond later, so that the id right after g1 names nothing.
      await new Promise((r) => setTimeout(r, 5));
      // The busy class evicts (its events private too: what follows the eviction is private).
      for (let i = 0; i < 9; i++) {
        await pub(`b${i}`, { topic: `/busy/${i}`, data: `private b${i}`, private: true });
      }
      await pub('s2', {
        topic: '/secret/2',
        data: 'private s2',
        id: 'secret-above',
        private: true,
      });
      await pub('g2', { topic: '/secret/2', data: 'private g2', private: true });
      await pub('p1', { topic: '/news', data: 'p1' });
      // (The sentinels published from here on are public, after p1.)
      const everything = await subscriberToken(['*']);
      await eventually(async () => {
        const got = await answer(hub, admin, ['/busy/{n}'], 'earliest', everything);
        return got.events.length <= 4;
      }, 'the busy class trimmed');
    });

    after(async () => {
      await hub?.close(1000);
      await stop();
    });

    test('a hidden id is answered exactly as an id that never existed', async () => {
      const unknown = await answer(hub, admin, ['*'], 'never-published');
      assert.equal(unknown.header, 'earliest');
      assert.deepEqual(unknown.events, [
        {
          event: 'herald.gap',
          id: undefined,
          data: JSON.stringify({ lastEventId: 'never-published', oldestAvailable: ids.p1 }),
        },
        { event: 'message', id: ids.p1, data: 'p1' },
      ]);
      // Custom ids before and after the newest eviction, generated ones after it — and before
      // it where generated ids are a counter.
      const hidden = [ids.s1!, ids.s2!, ids.g2!];
      if (engine.sparseIds !== true) hidden.push(ids.g1!);
      for (const id of hidden) {
        const guessed = await answer(hub, admin, ['*'], id);
        assert.deepEqual(normalized(guessed, id), normalized(unknown, 'never-published'), id);
      }
      for (const id of [...hidden, ids.g1!, ...Object.values(ids)]) {
        const got = await answer(hub, admin, ['*'], id);
        assert.ok(!JSON.stringify(got).includes('private'), `no private data after ${id}`);
        // Every id the answer names: the header, the events' ids, the gap's ids.
        const named = [got.header];
        for (const e of got.events) {
          named.push(e.id);
          if (e.event === 'herald.gap') {
            const gap = JSON.parse(e.data) as { lastEventId: string; oldestAvailable: string };
            named.push(gap.lastEventId, gap.oldestAvailable);
          }
        }
        const leaked = Object.entries(ids).filter(
          ([name, other]) =>
            name !== 'p0' && name !== 'p1' && other !== id && named.includes(other),
        );
        assert.deepEqual(leaked, [], `no private id after ${id}`);
      }
    });

    test('Redis: a hidden entry id before the newest eviction is answered as the id after it', {
      skip: engine.sparseIds !== true,
    }, async () => {
      const g1 = ids.g1!;
      const absent = nextEntryId(g1);
      assert.notEqual(absent, ids.b0, 'the next entry is a millisecond later: it names nothing');
      const hidden = await answer(hub, admin, ['*'], g1);
      const nothing = await answer(hub, admin, ['*'], absent);
      assert.deepEqual(normalized(hidden, g1), normalized(nothing, absent));
      assert.equal(hidden.header, 'earliest', 'the busy class evicted after it');
      assert.deepEqual(
        hidden.events.map((e) => e.data),
        [JSON.stringify({ lastEventId: g1, oldestAvailable: ids.p1 }), 'p1'],
      );
    });

    test('a visible id resumes exactly after it; a loss is told only where it concerns', async () => {
      // /news is not in the busy class, nor can a /news subscriber receive its events.
      const news = await answer(hub, admin, ['/news'], ids.p0!);
      assert.deepEqual(news, {
        header: ids.p0,
        events: [{ event: 'message', id: ids.p1, data: 'p1' }],
      });
      // `*` may receive busy events: a gap, Mercure's loss signal in the header, and still
      // exactly what follows the id (nothing before it again).
      const all = await answer(hub, admin, ['*'], ids.p0!);
      assert.deepEqual(all, {
        header: 'earliest',
        events: [
          {
            event: 'herald.gap',
            id: undefined,
            data: JSON.stringify({ lastEventId: ids.p0, oldestAvailable: ids.p1 }),
          },
          { event: 'message', id: ids.p1, data: 'p1' },
        ],
      });
      // A subscriber authorized for /secret/{n} may see s1: it resumes exactly after it, and
      // the oldest event it may see from there is g1.
      const authorized = await answer(hub, admin, ['*'], ids.s1!, reader);
      assert.equal(authorized.header, 'earliest');
      assert.deepEqual(
        authorized.events.map((e) => e.id ?? JSON.parse(e.data)),
        [{ lastEventId: ids.s1, oldestAvailable: ids.g1 }, ids.g1, ids.s2, ids.g2, ids.p1],
      );
      // After the newest eviction, nothing is lost after s2.
      const fine = await answer(hub, admin, ['*'], ids.s2!, reader);
      assert.deepEqual(fine, {
        header: ids.s2,
        events: [
          { event: 'message', id: ids.g2, data: 'private g2' },
          { event: 'message', id: ids.p1, data: 'p1' },
        ],
      });
    });
  });
}
