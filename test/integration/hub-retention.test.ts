// Retention classes through the hub, over real sockets: a busy topic (or the hub's subscription
// events) bounded on its own evicts only its own history, so a reader of another topic resumes
// without `herald.gap`; a reader that could have received evicted events is told, and gets
// everything retained after its id exactly once; the concern is decided from the selectors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { selectorsMayOverlap } from '../../src/hub/retention.js';
import {
  createHub,
  GAP_EVENT_TYPE,
  type Hub,
  retentionClass,
  type SubscribeOptions,
} from '../../src/index.js';
import { withTimeout } from '../helpers/async.js';
import {
  type HubServer,
  type Received,
  received,
  startHubServer,
  topicsOf,
} from '../helpers/hub.js';
import { openStream } from '../helpers/sse.js';

let hub: Hub;
let extra: Partial<SubscribeOptions> = {};
let server: HubServer;
before(async () => {
  server = await startHubServer((req, res, url) =>
    hub.subscribe(req, res, { topics: topicsOf(url), ...extra }),
  );
});
after(() => server.close());

let connections = 0;

/** Subscribes, waits for the replay to be written, ends the stream, returns what came. */
async function replay(topics: readonly string[], lastEventId: string): Promise<Received[]> {
  const name = `r${++connections}`;
  const params = new URLSearchParams({ client: name });
  for (const t of topics) params.append('topic', t);
  const { res, reader } = await openStream(`${server.origin}/sub?${params}`, {
    'Last-Event-ID': lastEventId,
  });
  assert.equal(res.statusCode, 200);
  const { sub } = await server.nth(name, 0);
  await withTimeout(sub.ready, 'the replay');
  sub.close();
  await reader.end();
  return reader.events.items.map(received);
}

const gaps = (events: readonly Received[]): number =>
  events.filter((e) => e.type === GAP_EVENT_TYPE).length;
const dataOf = (events: readonly Received[]): string[] =>
  events.filter((e) => e.type !== GAP_EVENT_TYPE).map((e) => e.data);

describe('selectors and retention classes', () => {
  test('two selectors overlap unless their topics provably differ', () => {
    const subs = '/.well-known/mercure/subscriptions/{+rest}';
    assert.equal(selectorsMayOverlap('/books/{id}', subs), false);
    assert.equal(selectorsMayOverlap('https://example.com/books/{id}', subs), false);
    assert.equal(selectorsMayOverlap('/feed', subs), false);
    assert.equal(selectorsMayOverlap('*', subs), true);
    assert.equal(selectorsMayOverlap('{+anything}', subs), true, 'no literal prefix');
    assert.equal(selectorsMayOverlap('/.well-known/mercure/{+x}', subs), true);
    assert.equal(selectorsMayOverlap('/.well-known/mercure/subscriptions/a/b', subs), true);
    assert.equal(selectorsMayOverlap('/busy/{n}', '/busy/7'), true);
    assert.equal(selectorsMayOverlap('/busy/{n}', '/feed'), false);
    assert.equal(selectorsMayOverlap('/busy/{n}', '/bus{x}'), true, 'prefixes of each other');
  });
});

describe('a busy topic in its own retention class', () => {
  test('readers of other topics resume without a gap; readers of it are told, without duplicates', async () => {
    const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 5 });
    hub = createHub({ heartbeatMs: 0, history: { maxEvents: 100, retention: [busy] } });
    extra = {};
    try {
      const first = await hub.publish({ topics: '/feed', data: 'f0' });
      const busyFirst = await hub.publish({ topics: '/busy/0', data: 'b0' });
      for (let i = 1; i < 50; i++) await hub.publish({ topics: `/busy/${i}`, data: `b${i}` });
      await hub.publish({ topics: '/feed', data: 'f1' });
      await hub.publish({ topics: ['/feed', '/busy/99'], data: 'both' });

      // 45 busy events were evicted; none a /feed reader could receive.
      let got = await replay(['/feed'], first.id);
      assert.equal(gaps(got), 0);
      assert.deepEqual(dataOf(got), ['f1', 'both']);
      got = await replay(['/feed', 'https://example.com/{x}'], first.id);
      assert.equal(gaps(got), 0, 'a template elsewhere does not concern the class either');

      // A reader of the busy topic lost events: a gap, then exactly what follows its id.
      got = await replay(['/busy/{n}'], busyFirst.id);
      assert.equal(gaps(got), 1);
      assert.equal(got[0]!.type, GAP_EVENT_TYPE);
      assert.deepEqual(dataOf(got), ['b45', 'b46', 'b47', 'b48', 'b49', 'both']);

      // `*` may receive anything: told (conservatively), and still nothing twice.
      got = await replay(['*'], first.id);
      assert.equal(gaps(got), 1);
      assert.deepEqual(dataOf(got), ['b45', 'b46', 'b47', 'b48', 'b49', 'f1', 'both']);
    } finally {
      await hub.close();
    }
  });

  test('without classes, one busy topic still evicts every other one (as before)', async () => {
    hub = createHub({ heartbeatMs: 0, history: { maxEvents: 10 } });
    try {
      const first = await hub.publish({ topics: '/feed', data: 'f0' });
      await hub.publish({ topics: '/feed', data: 'f1' });
      for (let i = 0; i < 20; i++) await hub.publish({ topics: `/busy/${i}`, data: `b${i}` });
      const got = await replay(['/feed'], first.id);
      assert.equal(gaps(got), 1, 'f1 was evicted by the busy topic');
      assert.deepEqual(dataOf(got), []);
    } finally {
      await hub.close();
    }
  });
});
