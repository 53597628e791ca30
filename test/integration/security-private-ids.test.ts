// The ids of private updates never reach a subscriber that may not see them, end to end on
// `herald serve` (memory engine): not in the `Last-Event-ID` response header of a fresh
// subscription, not as `oldestAvailable` in a `herald.gap`, not in the subscriptions API, and a
// resume after such an id is answered exactly as a resume after an id that never existed. A
// subscriber authorized for them keeps its exact resume (no gap, no duplicate).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventSourceMessage } from 'eventsource-parser';
import type { HeraldServer } from '../../src/server/app.js';
import {
  HUB,
  http,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
  subscriberToken,
} from '../helpers/hub-server.js';

const SENTINEL = '/sentinel';

let server: HeraldServer;
let admin: string;
let reader: string;
let sentinels = 0;
before(async () => {
  server = await startHub(['--anonymous']);
  admin = await publisherToken();
  reader = await subscriberToken(['/secret/{n}']);
});
after(() => server.close(1000));

/** What one connection got: the response's Last-Event-ID and the replay (sentinel excluded). */
interface Answer {
  header: string | undefined;
  events: Array<{ event: string; id: string | undefined; data: string }>;
}

/**
 * Subscribes to `topics` (and the sentinel topic), resuming after `lastEventId` if given,
 * publishes a public sentinel and returns what arrived before it: the replay, gap included.
 */
async function answer(
  topics: string[],
  options: { lastEventId?: string; query?: boolean; token?: string; hub?: HeraldServer } = {},
): Promise<Answer> {
  const url = (options.hub ?? server).url;
  const headers: Record<string, string> = {};
  const query: Record<string, string> = {};
  if (options.lastEventId !== undefined) {
    if (options.query) query.lastEventID = options.lastEventId;
    else headers['last-event-id'] = options.lastEventId;
  }
  const {
    res,
    req,
    reader: r,
  } = await subscribe(url, [...topics, SENTINEL], {
    headers,
    query,
    token: options.token,
  });
  try {
    const mark = `sentinel-${++sentinels}`;
    await publishOk(url, { topic: SENTINEL, data: mark }, admin);
    const events = await r.events.until(
      (items) => items.some((e) => e.data === mark),
      `the sentinel ${mark}`,
    );
    const before = events.slice(
      0,
      events.findIndex((e: EventSourceMessage) => e.data === mark),
    );
    return {
      header: res.headers['last-event-id'] as string | undefined,
      events: before
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

describe('private ids (issue 14, item 7)', () => {
  test('a fresh subscription is told the newest id it may see, never a private one', async () => {
    const pub = await publishOk(server.url, { topic: '/news', data: 'public' }, admin);
    const secret = await publishOk(
      server.url,
      { topic: '/secret/1', data: 'private', id: 'secret-newest', private: true },
      admin,
    );
    assert.equal(secret, 'secret-newest');
    const { res, req } = await subscribe(server.url, ['*']);
    req.destroy();
    assert.equal(res.headers['last-event-id'], pub, 'anonymous: the newest public id');
    const authorized = await subscribe(server.url, ['*'], { token: reader });
    authorized.req.destroy();
    assert.equal(authorized.res.headers['last-event-id'], secret, 'authorized: the newest');
  });

  test('resuming after a private id is answered exactly as after an unknown id', async () => {
    await publishOk(server.url, { topic: '/news', data: 'p1' }, admin);
    const secret = await publishOk(
      server.url,
      { topic: '/secret/2', data: 'private', id: 'secret-resume', private: true },
      admin,
    );
    const generated = await publishOk(
      server.url,
      { topic: '/secret/2', data: 'private, generated id', private: true },
      admin,
    );
    await publishOk(server.url, { topic: '/news', data: 'p2' }, admin);

    for (const query of [false, true]) {
      const unknown = await answer(['*'], { lastEventId: 'never-published', query });
      assert.equal(unknown.header, 'earliest');
      assert.equal(unknown.events[0]?.event, 'herald.gap', 'an unknown id gets a gap');
      for (const id of [secret, generated]) {
        const guessed = await answer(['*'], { lastEventId: id, query });
        assert.deepEqual(
          normalized(guessed, id),
          normalized(unknown, 'never-published'),
          `resuming after ${id} (${query ? 'query' : 'header'})`,
        );
        const text = JSON.stringify(guessed);
        assert.ok(!text.includes('private'), 'no private data either');
      }
    }
  });

  test('an authorized subscriber resumes exactly after a private id it received', async () => {
    const secret = await publishOk(
      server.url,
      { topic: '/secret/3', data: 'private', id: 'secret-exact', private: true },
      admin,
    );
    const next = await publishOk(server.url, { topic: '/secret/3', data: 'after' }, admin);
    const got = await answer(['/secret/3'], { lastEventId: secret, token: reader });
    assert.equal(got.header, secret);
    assert.deepEqual(
      got.events.map((e) => e.id),
      [next],
      'no gap, no duplicate: only what came after',
    );
  });

  test("herald.gap's oldestAvailable names the oldest event the subscriber may see", async () => {
    // History holds 6 events: the oldest retained ones are private.
    const hub = await startHub(['--anonymous', '--history-size', '6']);
    try {
      const privates: string[] = [];
      for (let i = 0; i < 5; i++) {
        privates.push(
          await publishOk(
            hub.url,
            { topic: '/secret/4', data: 'private', id: `secret-oldest-${i}`, private: true },
            admin,
          ),
        );
      }
      const firstPublic = await publishOk(hub.url, { topic: '/news', data: 'visible' }, admin);
      const anonymous = await answer(['/news'], { lastEventId: 'gone', hub });
      const gap = anonymous.events[0]!;
      assert.equal(gap.event, 'herald.gap');
      assert.deepEqual(JSON.parse(gap.data), { lastEventId: 'gone', oldestAvailable: firstPublic });

      // The anonymous subscriber's sentinel evicted the oldest private event.
      const authorized = await answer(['/news'], { lastEventId: 'gone', token: reader, hub });
      assert.deepEqual(JSON.parse(authorized.events[0]!.data), {
        lastEventId: 'gone',
        oldestAvailable: privates[1],
      });
    } finally {
      await hub.close(1000);
    }
  });

  test('the subscriptions API cursor is never a private id the caller may not see', async () => {
    const hub = await startHub(['--subscriptions']);
    try {
      const pub = await publishOk(hub.url, { topic: '/news', data: 'newest public' }, admin);
      const secret = await publishOk(
        hub.url,
        { topic: '/other-secret', data: 'private', id: 'secret-api', private: true },
        admin,
      );
      const cursor = async (selectors: string[]): Promise<string> => {
        const r = await http(`${hub.url}${HUB}/subscriptions`, {
          headers: { authorization: `Bearer ${await subscriberToken(selectors)}` },
        });
        assert.equal(r.status, 200, r.body);
        return (JSON.parse(r.body) as { lastEventID: string }).lastEventID;
      };
      const api = `${HUB}/subscriptions{/topic}{/subscriber}`;
      assert.equal(await cursor([api]), pub, 'not authorized for /other-secret');
      assert.equal(await cursor([api, '/other-secret']), secret, 'authorized for it');
    } finally {
      await hub.close(1000);
    }
  });
});
