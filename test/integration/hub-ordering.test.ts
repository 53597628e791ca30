// Ordering and exactly-once through the hub, over real sockets: three publishers interleave
// 10 000 events each while 50 HTTP subscribers with mixed selectors (exact topics, `*`, URI
// templates, several selectors at once, private updates with and without authorization) read.
// Each subscriber must receive exactly the events its selectors and authorization match — each
// once, in the engine's order — checked against an oracle written independently of the hub's
// own matching code.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createHub, type EngineEvent, type Hub } from '../../src/index.js';
import { withTimeout } from '../helpers/async.js';
import {
  assertNoDuplicates,
  assertSameSequence,
  type HubServer,
  startHubServer,
  topicsOf,
} from '../helpers/hub.js';
import { openStream, type StreamReader } from '../helpers/sse.js';

const PUBLISHERS = 3;
const EVENTS_PER_PUBLISHER = 10_000;
const SUBSCRIBERS = 50;

// -- the oracle: what each selector matches, written without the hub's code -------------------

/** Topic of an event: `/t/<k>`; every third also `https://example.com/books/<k>`, every seventh `/alt/x`. */
function topicsFor(seq: number, k: number): string[] {
  const topics = [`/t/${k}`];
  if (seq % 3 === 0) topics.push(`https://example.com/books/${k}`);
  if (seq % 7 === 0) topics.push('/alt/x');
  return topics;
}

/** One selector, as given to the hub and as a predicate of the oracle. */
interface Selector {
  source: string;
  test: (topic: string) => boolean;
}

const exact = (topic: string): Selector => ({ source: topic, test: (t) => t === topic });
const everything: Selector = { source: '*', test: () => true };
/** `{var}` in RFC 6570 simple expansion never produces `/`, `?` or `#`. */
const tSegment: Selector = { source: '/t/{n}', test: (t) => /^\/t\/[^/?#]+$/.test(t) };
const book: Selector = {
  source: 'https://example.com/books/{id}',
  test: (t) => /^https:\/\/example\.com\/books\/[^/?#]+$/.test(t),
};
const twoLevels: Selector = {
  source: '/{kind}/{n}',
  test: (t) => /^\/[^/?#]+\/[^/?#]+$/.test(t),
};

interface Spec {
  topics: Selector[];
  authorized?: Selector[];
}

/** Twelve kinds of subscriber, repeated to make fifty. */
const KINDS: Spec[] = [
  { topics: [everything] },
  { topics: [tSegment] },
  { topics: [exact('/t/3')] },
  { topics: [exact('/t/1'), exact('/t/2')] },
  { topics: [exact('/alt/x')] },
  { topics: [book] },
  // Overlapping selectors: an event matching both must still arrive once.
  { topics: [book, exact('/t/5')] },
  { topics: [tSegment, everything, exact('/t/0')] },
  { topics: [exact('/nothing-published-here')] },
  { topics: [tSegment], authorized: [tSegment] },
  { topics: [everything], authorized: [exact('/t/3')] },
  { topics: [twoLevels], authorized: [book] },
];

const specs: Spec[] = Array.from({ length: SUBSCRIBERS }, (_, i) => KINDS[i % KINDS.length]!);

function oracle(spec: Spec, event: EngineEvent): boolean {
  const any = (selectors: readonly Selector[]): boolean =>
    event.topics.some((topic) => selectors.some((s) => s.test(topic)));
  if (!any(spec.topics)) return false;
  return !event.private || any(spec.authorized ?? []);
}

// -- the server -------------------------------------------------------------------------------

let hub: Hub;
let server: HubServer;
before(async () => {
  // Room for everything: this test is about order, not slow readers (see hub-slow-consumer).
  hub = createHub({ heartbeatMs: 0, queueBytes: 64 << 20, history: { maxEvents: 100_000 } });
  server = await startHubServer((req, res, url) => {
    const spec = specs[Number(url.searchParams.get('client'))]!;
    return hub.subscribe(req, res, {
      topics: topicsOf(url),
      authorized: spec.authorized?.map((s) => s.source),
    });
  });
});
after(async () => {
  await hub.close();
  await server.close();
});

test(`${PUBLISHERS} publishers × ${EVENTS_PER_PUBLISHER} events to ${SUBSCRIBERS} subscribers: each gets exactly its events, once, in order`, async () => {
  const overflows: string[] = [];
  hub.on('overflow', (sub) => overflows.push(sub.id));
  const log: EngineEvent[] = [];
  hub.on('publish', (event) => log.push(event));

  const readers: StreamReader[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const query = new URLSearchParams({ client: String(i) });
    for (const s of specs[i]!.topics) query.append('topic', s.source);
    const { res, reader } = await openStream(`${server.origin}/.well-known/mercure?${query}`);
    assert.equal(res.statusCode, 200);
    readers.push(reader);
  }
  // Subscribers without a last event id are live as soon as they are subscribed.
  const subs = await server.subscribed.count(SUBSCRIBERS);
  await withTimeout(Promise.all(subs.map((s) => s.sub.ready)), 'every subscription to be live');
  assert.equal(hub.stats().subscribers, SUBSCRIBERS);

  // Interleaved publishers: each awaits its own publishes, and all yield to I/O now and then so
  // the readers (in this process too) keep up.
  const publisher = async (p: number): Promise<void> => {
    for (let seq = 0; seq < EVENTS_PER_PUBLISHER; seq++) {
      const k = (seq * 7 + p * 3) % 10;
      const result = await hub.publish({
        topics: topicsFor(seq, k),
        data: `${p}:${seq}`,
        private: (seq + p) % 11 === 0,
      });
      assert.equal(typeof result.id, 'string');
      if (seq % 64 === 63) await new Promise(setImmediate);
    }
  };
  await Promise.all(Array.from({ length: PUBLISHERS }, (_, p) => publisher(p)));

  // A last event every subscriber selects: once it arrived, everything before it has too.
  const fence = await hub.publish({
    topics: [
      '/t/0',
      '/t/1',
      '/t/3',
      'https://example.com/books/0',
      '/alt/x',
      '/nothing-published-here',
    ],
    data: 'fence',
  });
  assert.equal(log.length, PUBLISHERS * EVENTS_PER_PUBLISHER + 1);
  for (const spec of specs) assert.ok(oracle(spec, log.at(-1)!), 'the fence matches everyone');

  // The engine's order is the publish order: strictly increasing positions, and each
  // publisher's events in the order it published them.
  const nextSeq = new Array<number>(PUBLISHERS).fill(0);
  for (let i = 0; i < log.length; i++) {
    if (i > 0) assert.ok(hub.engine.compare(log[i - 1]!.position, log[i]!.position) < 0);
    const [p, seq] = log[i]!.data.split(':').map(Number);
    if (log[i]!.data !== 'fence') assert.equal(seq, nextSeq[p!]!++, `publisher ${p} in order`);
  }
  assertNoDuplicates(
    log.map((e) => e.id),
    'engine ids',
  );

  await withTimeout(
    Promise.all(
      readers.map((reader, i) =>
        reader.events.until(
          (events) => events.at(-1)?.id === fence.id,
          `subscriber ${i} to receive the fence`,
          60_000,
        ),
      ),
    ),
    'every subscriber to receive the fence',
    90_000,
  );

  let privateSeen = 0;
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const expected = log.filter((e) => oracle(specs[i]!, e));
    const got = readers[i]!.events.items;
    const what = `subscriber ${i} (${specs[i]!.topics.map((s) => s.source).join(' ')})`;
    assertSameSequence(
      got.map((e) => e.id),
      expected.map((e) => e.id),
      `${what}: ids`,
    );
    assertSameSequence(
      got.map((e) => e.data),
      expected.map((e) => e.data),
      `${what}: data`,
    );
    assert.ok(
      got.every((e) => e.event === undefined),
      'no named events',
    );
    privateSeen += expected.filter((e) => e.private).length;
  }
  // The scenario really exercises what it claims.
  assert.ok(privateSeen > 0, 'some subscribers received private updates');
  assert.ok(
    log.some((e) => e.private),
    'private updates were published',
  );
  assert.deepEqual(overflows, []);
});
