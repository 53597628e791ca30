// History and replay through the hub, over real sockets: the TTL and byte bounds (with an
// injected clock), where a replay starts (`Last-Event-ID` header, the `lastEventID` query
// parameter, `earliest`, custom ids, unknown ids), the `herald.gap` event, `replayLast`, and the
// `Last-Event-ID` response header that tells the client where the stream resumes.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  createHub,
  GAP_EVENT_TYPE,
  HeraldEngineError,
  type Hub,
  type PublishInput,
  type SubscribeOptions,
  type Subscription,
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

/** The hub requests go to, and extra subscribe options, set by each test. */
let hub: Hub;
let extra: () => Partial<SubscribeOptions> = () => ({});
let afterSubscribe: ((sub: Subscription) => void) | undefined;
let server: HubServer;
before(async () => {
  server = await startHubServer((req, res, url) => {
    const sub = hub.subscribe(req, res, { topics: topicsOf(url), ...extra() });
    afterSubscribe?.(sub);
    return sub;
  });
});
after(() => server.close());

function useHub(h: Hub): Hub {
  hub = h;
  extra = () => ({});
  afterSubscribe = undefined;
  return h;
}

/** A hand-driven clock for `history: { now }`. */
function clock(start = 1_700_000_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
  };
}

let connections = 0;

/**
 * Subscribes over HTTP, waits until the replay is written and the subscription is live, then
 * ends it from the server (which writes everything first) and returns all the client got.
 */
async function replay(
  topics: readonly string[],
  headers: Record<string, string> = {},
  query: Record<string, string> = {},
): Promise<{ headers: IncomingHttpHeaders; events: Received[] }> {
  const name = `h${++connections}`;
  const params = new URLSearchParams({ client: name, ...query });
  for (const t of topics) params.append('topic', t);
  const { res, reader } = await openStream(`${server.origin}/sub?${params}`, headers);
  assert.equal(res.statusCode, 200);
  const { sub } = await server.nth(name, 0);
  await withTimeout(sub.ready, 'the replay');
  sub.close();
  await reader.end();
  return { headers: res.headers, events: reader.events.items.map(received) };
}

const ids = (events: readonly Received[]): Array<string | undefined> => events.map((e) => e.id);
const gap = (lastEventId: string, oldestAvailable: string | null): Received => ({
  type: GAP_EVENT_TYPE,
  id: undefined,
  data: JSON.stringify({ lastEventId, oldestAvailable }),
});
const event = (id: string, data: string): Received => ({ type: 'message', id, data });

async function publishAll(h: Hub, inputs: PublishInput[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) out.push((await h.publish(input)).id);
  return out;
}

describe('TTL eviction (injected clock)', () => {
  test('expired events are not replayed; a resume point whose successors expired gets a gap', async () => {
    const c = clock();
    const h = useHub(createHub({ heartbeatMs: 0, history: { ttlMs: 1000, now: c.now } }));
    try {
      const a = (await h.publish({ topics: '/t', data: 'a' })).id;
      c.advance(400);
      const b = (await h.publish({ topics: '/t', data: 'b' })).id;
      c.advance(400);
      const cc = (await h.publish({ topics: '/t', data: 'c' })).id;
      c.advance(300); // a is 1100 ms old: expired; b 700 ms, c 300 ms

      // `a` itself expired, but nothing after it did: no gap.
      let r = await replay(['/t'], { 'Last-Event-ID': a });
      assert.deepEqual(r.events, [event(b, 'b'), event(cc, 'c')]);
      assert.equal(r.headers['last-event-id'], a);
      assert.equal(h.stats().history.events, 2);

      r = await replay(['/t'], { 'Last-Event-ID': 'earliest' });
      assert.deepEqual(ids(r.events), [b, cc]);

      c.advance(400); // b is 1100 ms old now
      r = await replay(['/t'], { 'Last-Event-ID': a });
      assert.deepEqual(r.events, [gap(a, cc), event(cc, 'c')]);
      assert.equal(r.headers['last-event-id'], 'earliest');
      assert.equal(h.stats().history.events, 1);

      c.advance(1000); // everything expired
      // Nothing after c was ever lost: an empty replay, not a gap.
      r = await replay(['/t'], { 'Last-Event-ID': cc });
      assert.deepEqual(r.events, []);
      assert.equal(r.headers['last-event-id'], cc);
      r = await replay(['/t'], { 'Last-Event-ID': b });
      assert.deepEqual(r.events, [gap(b, null)]);
      const { events, bytes } = h.stats().history;
      assert.deepEqual({ events, bytes }, { events: 0, bytes: 0 });
    } finally {
      await h.close();
    }
  });
});

describe('byte-bound eviction', () => {
  test('history keeps what fits in maxBytes; older resume points get a gap', async () => {
    // eventSize = 64 + data + id + 48 + topic: 64 + 1000 + 4 ('ep-1') + 48 + 2 ('/b') = 1118.
    const h = useHub(createHub({ heartbeatMs: 0, history: { maxBytes: 3400, epoch: 'ep' } }));
    try {
      const data = (n: number): string => `${n}`.padEnd(1000, '.');
      const published = await publishAll(
        h,
        [1, 2, 3, 4, 5].map((n) => ({ topics: '/b', data: data(n) })),
      );
      assert.deepEqual(published, ['ep-1', 'ep-2', 'ep-3', 'ep-4', 'ep-5']);
      const { events, bytes } = h.stats().history;
      assert.deepEqual({ events, bytes }, { events: 3, bytes: 3 * 1118 });

      let r = await replay(['/b'], { 'Last-Event-ID': 'ep-1' });
      assert.deepEqual(r.events, [
        gap('ep-1', 'ep-3'),
        event('ep-3', data(3)),
        event('ep-4', data(4)),
        event('ep-5', data(5)),
      ]);
      assert.equal(r.headers['last-event-id'], 'earliest');

      // ep-2 was evicted, but everything after it is retained.
      r = await replay(['/b'], { 'Last-Event-ID': 'ep-2' });
      assert.deepEqual(ids(r.events), ['ep-3', 'ep-4', 'ep-5']);
      assert.equal(r.headers['last-event-id'], 'ep-2');

      r = await replay(['/b'], { 'Last-Event-ID': 'earliest' });
      assert.deepEqual(ids(r.events), ['ep-3', 'ep-4', 'ep-5']);

      await assert.rejects(
        h.publish({ topics: '/b', data: 'x'.repeat(4000) }),
        (error: unknown) =>
          error instanceof HeraldEngineError &&
          error.code === 'EVENT_TOO_LARGE' &&
          /maxBytes/.test(error.message),
      );
      assert.equal(h.stats().history.events, 3);
    } finally {
      await h.close();
    }
  });

  test('the count bound: a gap names the requested id and the oldest retained one', async () => {
    const h = useHub(createHub({ heartbeatMs: 0, history: { maxEvents: 2, epoch: 'cnt' } }));
    try {
      await publishAll(
        h,
        ['a', 'b', 'c', 'd'].map((data) => ({ topics: data === 'c' ? '/other' : '/n', data })),
      );
      // Retained: cnt-3 (/other), cnt-4 (/n). The oldest retained event need not match.
      const r = await replay(['/n'], { 'Last-Event-ID': 'cnt-1' });
      assert.deepEqual(r.events, [gap('cnt-1', 'cnt-3'), event('cnt-4', 'd')]);
    } finally {
      await h.close();
    }
  });
});

describe('where a replay starts', () => {
  test('the lastEventID query parameter when there is no header; the header wins over it', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      const [a, b, c] = await publishAll(
        h,
        ['a', 'b', 'c'].map((data) => ({ topics: '/q', data })),
      );
      let r = await replay(['/q'], {}, { lastEventID: a! });
      assert.deepEqual(ids(r.events), [b, c]);
      assert.equal(r.headers['last-event-id'], a);

      r = await replay(['/q'], { 'Last-Event-ID': b! }, { lastEventID: a! });
      assert.deepEqual(ids(r.events), [c]);
      assert.equal(r.headers['last-event-id'], b);

      // The subscribe option wins over both.
      extra = () => ({ lastEventId: a! });
      r = await replay(['/q'], { 'Last-Event-ID': b! }, { lastEventID: b! });
      assert.deepEqual(ids(r.events), [b, c]);
    } finally {
      await h.close();
    }
  });

  test('`earliest` replays all retained matching history (header or query)', async () => {
    const h = useHub(createHub({ heartbeatMs: 0, history: { maxEvents: 4 } }));
    try {
      let r = await replay(['/e'], { 'Last-Event-ID': 'earliest' });
      assert.deepEqual(r.events, [], 'nothing yet, and no gap');
      assert.equal(r.headers['last-event-id'], 'earliest');

      const published = await publishAll(
        h,
        [1, 2, 3, 4, 5, 6].map((n) => ({ topics: n % 3 === 0 ? '/other' : '/e', data: `${n}` })),
      );
      // Retained: 3..6; of them /e: 4, 5.
      r = await replay(['/e'], { 'Last-Event-ID': 'earliest' });
      assert.deepEqual(r.events, [event(published[3]!, '4'), event(published[4]!, '5')]);
      assert.equal(r.headers['last-event-id'], 'earliest');
      r = await replay(['/e'], {}, { lastEventID: 'earliest' });
      assert.deepEqual(ids(r.events), [published[3], published[4]]);
    } finally {
      await h.close();
    }
  });

  test('an unknown id gets a gap, then everything retained', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      let r = await replay(['/u'], { 'Last-Event-ID': 'never-published' });
      assert.deepEqual(r.events, [gap('never-published', null)]);
      assert.equal(r.headers['last-event-id'], 'earliest');
      const [a, b] = await publishAll(h, [
        { topics: '/u', data: 'a' },
        { topics: '/u', data: 'b' },
      ]);
      r = await replay(['/u'], { 'Last-Event-ID': 'never-published' });
      assert.deepEqual(r.events, [gap('never-published', a!), event(a!, 'a'), event(b!, 'b')]);
    } finally {
      await h.close();
    }
  });

  test('custom ids: on the wire as given, resumable, unique among retained events', async () => {
    const h = useHub(createHub({ heartbeatMs: 0, history: { maxEvents: 4, epoch: 'gen' } }));
    try {
      const published = await publishAll(h, [
        { topics: '/c', data: '1', id: 'order-1' },
        { topics: '/c', data: '2' },
        { topics: '/c', data: '3', id: 'order-3' },
        { topics: '/c', data: '4' },
      ]);
      assert.deepEqual(published, ['order-1', 'gen-2', 'order-3', 'gen-4']);

      let r = await replay(['/c'], { 'Last-Event-ID': 'order-1' });
      assert.deepEqual(r.events, [event('gen-2', '2'), event('order-3', '3'), event('gen-4', '4')]);
      assert.equal(r.headers['last-event-id'], 'order-1');
      r = await replay(['/c'], { 'Last-Event-ID': 'order-3' });
      assert.deepEqual(ids(r.events), ['gen-4']);

      const engineError = (code: string, pattern: RegExp) => (error: unknown) =>
        error instanceof HeraldEngineError && error.code === code && pattern.test(error.message);
      await assert.rejects(
        h.publish({ topics: '/c', data: 'again', id: 'order-1' }),
        engineError('DUPLICATE_ID', /order-1/),
      );
      await assert.rejects(
        h.publish({ topics: '/c', data: 'x', id: 'earliest' }),
        engineError('INVALID_EVENT', /earliest/),
      );
      await assert.rejects(
        h.publish({ topics: '/c', data: 'x', id: 'gen-99' }),
        engineError('INVALID_EVENT', /reserved/),
      );
      await assert.rejects(
        h.publish({ topics: '/c', data: 'x', id: 'two\nlines' }),
        engineError('INVALID_EVENT', /custom id/),
      );
      // Once evicted, an id may be used again.
      await h.publish({ topics: '/c', data: '5' });
      assert.equal((await h.publish({ topics: '/c', data: '6', id: 'order-1' })).id, 'order-1');
      r = await replay(['/c'], { 'Last-Event-ID': 'earliest' });
      assert.deepEqual(ids(r.events), ['order-3', 'gen-4', 'gen-5', 'order-1']);
    } finally {
      await h.close();
    }
  });
});

describe('replayLast', () => {
  test('the newest n events of each subscribed topic, in order, then live without duplicates', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      const p = await publishAll(h, [
        { topics: '/a', data: 'a1' },
        { topics: '/b', data: 'b1' },
        { topics: '/a', data: 'a2' },
        { topics: '/b', data: 'b2' },
        { topics: '/a', data: 'a3' },
        { topics: '/c', data: 'c1' },
        { topics: '/b', data: 'b3' },
        // Private and unauthorized: neither replayed nor counted.
        { topics: '/a', data: 'secret', private: true },
      ]);
      extra = () => ({ replayLast: 2 });
      // Published in the subscription's own tick, while the replay is under way.
      let live: Promise<{ id: string }> | undefined;
      afterSubscribe = () => {
        live = h.publish({ topics: '/b', data: 'b4' });
      };
      const params = new URLSearchParams({ client: 'last', topic: '/a' });
      params.append('topic', '/b');
      const { res, reader } = await openStream(`${server.origin}/sub?${params}`);
      assert.equal(res.headers['last-event-id'], undefined, 'no single resume point: no header');
      const { sub } = await server.nth('last', 0);
      await withTimeout(sub.ready, 'the replay');
      afterSubscribe = undefined;
      const b4 = (await live!).id;
      const b5 = (await h.publish({ topics: '/b', data: 'b5' })).id;
      await reader.events.until((e) => e.at(-1)?.id === b5, 'the live event');
      assert.deepEqual(reader.events.items.map(received), [
        event(p[2]!, 'a2'),
        event(p[3]!, 'b2'),
        event(p[4]!, 'a3'),
        event(p[6]!, 'b3'),
        event(b4, 'b4'),
        event(b5, 'b5'),
      ]);
      sub.close();
    } finally {
      await h.close();
    }
  });

  test('counts per topic for template selectors; an event with several topics comes once', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      const p = await publishAll(h, [
        { topics: '/x/1', data: '1a' },
        { topics: '/x/2', data: '2a' },
        { topics: '/x/1', data: '1b' },
        { topics: ['/x/2', '/x/1'], data: 'both' },
        { topics: '/y/1', data: 'other' },
      ]);
      extra = () => ({ replayLast: 1 });
      const r = await replay(['/x/{n}']);
      assert.deepEqual(r.events, [event(p[3]!, 'both')]);
      extra = () => ({ replayLast: 2 });
      const r2 = await replay(['/x/{n}']);
      assert.deepEqual(ids(r2.events), [p[1], p[2], p[3]]);
    } finally {
      await h.close();
    }
  });

  test('a last event id wins over replayLast', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      const p = await publishAll(
        h,
        ['1', '2', '3'].map((data) => ({ topics: '/l', data })),
      );
      extra = () => ({ replayLast: 1 });
      const r = await replay(['/l'], { 'Last-Event-ID': p[0]! });
      assert.deepEqual(ids(r.events), [p[1], p[2]]);
      assert.equal(r.headers['last-event-id'], p[0]);
    } finally {
      await h.close();
    }
  });
});

describe('the Last-Event-ID response header', () => {
  test('without replay: the newest event id, or none before the first event', async () => {
    const h = useHub(createHub({ heartbeatMs: 0 }));
    try {
      let r = await replay(['/h']);
      assert.equal(r.headers['last-event-id'], undefined);
      await h.publish({ topics: '/h', data: '1' });
      const newest = (await h.publish({ topics: '/elsewhere', data: '2' })).id;
      r = await replay(['/h']);
      assert.equal(r.headers['last-event-id'], newest);
      assert.deepEqual(r.events, [], 'no replay without a last event id');
    } finally {
      await h.close();
    }
  });

  test('with replay: the requested id; `earliest` for earliest and after a gap', async () => {
    const h = useHub(createHub({ heartbeatMs: 0, history: { maxEvents: 1 } }));
    try {
      const [a] = await publishAll(h, [
        { topics: '/h', data: '1' },
        { topics: '/h', data: '2' },
      ]);
      // `a` was evicted, but nothing after it: resumable as is.
      assert.equal((await replay(['/h'], { 'Last-Event-ID': a! })).headers['last-event-id'], a);
      assert.equal(
        (await replay(['/h'], { 'Last-Event-ID': 'earliest' })).headers['last-event-id'],
        'earliest',
      );
      await h.publish({ topics: '/h', data: '3' });
      const r = await replay(['/h'], { 'Last-Event-ID': a! });
      assert.equal(r.events[0]?.type, GAP_EVENT_TYPE);
      assert.equal(r.headers['last-event-id'], 'earliest');
    } finally {
      await h.close();
    }
  });
});
