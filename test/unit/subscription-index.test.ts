import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createHub, matchesAny, type Subscription } from '../../src/hub/index.js';
import { SelectorCounts } from '../../src/server/dashboard/selector-counts.js';
import {
  SUBSCRIPTIONS_BASE as BASE,
  SubscriptionIndex,
  type SubscriptionScope,
  subscriberIri,
  subscriptionResourceId,
} from '../../src/server/subscription-index.js';

// The subscriptions API's index against the rule it implements, checked by brute force: a
// resource is listed when one of the caller's selectors matches its id (Mercure), inside the
// request's scope — whatever the index does to find fewer candidates.

function subscription(topics: string[]): Subscription {
  return {
    id: randomUUID(),
    topics,
    lastEventId: '',
    stream: undefined,
    ready: Promise.resolve(),
    closed: false,
    close() {},
  };
}

/** What the old scan listed: every selector of every subscription whose id a selector matches. */
function bruteForce(
  subs: readonly Subscription[],
  selectors: readonly string[],
  scope: SubscriptionScope,
): string[] {
  const ids = new Set<string>();
  for (const sub of subs) {
    for (const topic of sub.topics) {
      if (scope.topic !== undefined && topic !== scope.topic) continue;
      if (scope.subscriber !== undefined && subscriberIri(sub) !== scope.subscriber) continue;
      const id = subscriptionResourceId(topic, subscriberIri(sub));
      if (matchesAny(selectors, [id])) ids.add(id);
    }
  }
  return [...ids].sort();
}

const listed = (index: SubscriptionIndex, selectors: string[], scope: SubscriptionScope = {}) =>
  index.visible(selectors, scope).map((m) => m.id);

describe('SubscriptionIndex', () => {
  const books = subscription(['/books/1', '/books/{id}', '/books/1']);
  const users = subscription(['/users/ada', '/books/1', 'https://example.com/é x']);
  const index = new SubscriptionIndex();
  index.add(books);
  index.add(users);
  const all = [books, users];
  const enc = encodeURIComponent;

  it('lists what Mercure’s usual claims allow, in id order, each resource once', () => {
    const everything = `${BASE}{/topic}{/subscriber}`;
    assert.deepEqual(listed(index, [everything]), bruteForce(all, [everything], {}));
    assert.equal(listed(index, [everything]).length, 5, 'a repeated selector is one resource');
    assert.deepEqual(listed(index, ['*']), listed(index, [everything]));
    const oneTopic = `${BASE}/${enc('/books/1')}{/subscriber}`;
    assert.deepEqual(listed(index, [oneTopic]), [
      ...[books, users].map((s) => subscriptionResourceId('/books/1', subscriberIri(s))).sort(),
    ]);
    const exact = subscriptionResourceId('/users/ada', subscriberIri(users));
    assert.deepEqual(listed(index, [exact, exact]), [exact]);
    const partial = `${BASE}/${enc('/books/')}{rest}{/subscriber}`;
    assert.deepEqual(listed(index, [partial]), bruteForce(all, [partial], {}));
    assert.equal(listed(index, [partial]).length, 3);
    const nonAscii = `${BASE}/${enc('https://example.com/é')}{rest}{/subscriber}`;
    assert.deepEqual(listed(index, [nonAscii]), bruteForce(all, [nonAscii], {}));
    assert.equal(listed(index, [nonAscii]).length, 1);
  });

  it('lists nothing for claims that cannot match a subscription resource', () => {
    for (const claim of [
      '/books/{id}',
      'https://example.com/{x}',
      `${BASE}x{/topic}`,
      `${BASE}/a/b/c{/x}`,
      `${BASE}/%ZZ{/s}`,
      `${BASE}/${enc('/nobody')}{/subscriber}`,
      `${BASE}/not-encoded/with/slashes`,
      '{',
    ]) {
      assert.deepEqual(listed(index, [claim]), [], claim);
    }
  });

  it('narrows to the topic and the subscriber the path names', () => {
    const everything = `${BASE}{/topic}{/subscriber}`;
    for (const scope of [
      { topic: '/books/1' },
      { topic: '/nobody' },
      { topic: '/books/1', subscriber: subscriberIri(users) },
      { topic: '/users/ada', subscriber: subscriberIri(books) },
      { topic: '/books/1', subscriber: 'urn:uuid:not-there' },
      { topic: '/books/1', subscriber: 'not-a-urn' },
    ]) {
      assert.deepEqual(listed(index, [everything], scope), bruteForce(all, [everything], scope));
    }
  });

  it('forgets a subscription when it is removed (also under shared topics)', () => {
    const local = new SubscriptionIndex();
    const a = subscription(['/x', '/y']);
    const b = subscription(['/x']);
    const c = subscription(['/x']);
    for (const s of [a, b, c]) local.add(s);
    local.remove(b);
    local.remove(b);
    assert.deepEqual(listed(local, ['*']), bruteForce([a, c], ['*'], {}));
    local.remove(a);
    local.remove(c);
    assert.deepEqual(listed(local, ['*']), []);
    assert.equal(local.size, 0);
  });

  it('follows a hub: subscriptions appear on subscribe and leave on close', async () => {
    const hub = createHub();
    const local = new SubscriptionIndex();
    const stop = local.follow(hub);
    const counts = new SelectorCounts();
    const unfollow = counts.follow(hub);
    // A stream that accepts everything: the index only sees the hub's subscribe / unsubscribe.
    const open = (topics: string[]) => {
      const stream = {
        lastEventId: '',
        closed: false,
        closeReason: undefined,
        signal: new AbortController().signal,
        queuedBytes: 0,
        bufferedBytes: 0,
        droppedEvents: 0,
        droppedBytes: 0,
        send: () => true,
        sendBytes: () => true,
        comment: () => true,
        retry: () => true,
        drained: async () => true,
        close() {},
      };
      return hub.subscribe(stream, { topics });
    };
    const one = open(['/a', '/b/{x}']);
    const two = open(['/a']);
    assert.equal(local.size, 2);
    assert.equal(counts.count('/a'), 2);
    assert.equal(listed(local, [`${BASE}/${enc('/a')}{/s}`]).length, 2);
    one.close();
    assert.equal(local.size, 1);
    assert.deepEqual(counts.top(10), [{ selector: '/a', subscribers: 1 }]);
    two.close();
    assert.equal(local.size, 0);
    assert.equal(counts.size, 0);
    stop();
    unfollow();
    await hub.close();
  });

  it('agrees with the brute-force scan for random subscriptions, claims and scopes', () => {
    let nonEmpty = 0;
    const piece = fc.constantFrom('/', 'a', 'b', 'é', ' ', '%', '{', '1', ':', '?');
    const topic = fc.array(piece, { minLength: 1, maxLength: 5 }).map((p) => p.join(''));
    fc.assert(
      fc.property(
        fc.array(fc.array(topic, { minLength: 1, maxLength: 4 }), { minLength: 0, maxLength: 6 }),
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 4 }),
        fc.nat(20),
        (topicLists, picks, scopePick) => {
          const subs = topicLists.map(subscription);
          const local = new SubscriptionIndex();
          for (const s of subs) local.add(s);
          const ids = subs.flatMap((s) =>
            s.topics.map((t) => ({ t, s, id: subscriptionResourceId(t, subscriberIri(s)) })),
          );
          const claimOf = (n: number): string => {
            const some = ids.length === 0 ? undefined : ids[n % ids.length];
            const encodedTopic = some === undefined ? 'a' : encodeURIComponent(some.t);
            switch (n % 13) {
              case 0:
                return '*';
              case 1:
                return `${BASE}{/topic}{/subscriber}`;
              case 2:
                return some?.id ?? `${BASE}/a/b`;
              case 3:
                return `${BASE}/${encodedTopic}{/subscriber}`;
              case 4:
                // A prefix cut anywhere inside the topic, even inside an escape.
                return `${BASE}/${encodedTopic.slice(0, n % (encodedTopic.length + 1))}{+rest}`;
              case 5:
                return `${BASE}/{topic}/urn%3Auuid%3A{id}`;
              case 6:
                return '{+anything}';
              case 7:
                return `${BASE.slice(0, n % BASE.length)}{+rest}`;
              case 8:
                return `/elsewhere/{x}`;
              case 10:
                // Cut inside the topic, then only path segments: the topic ends there.
                return `${BASE}/${encodedTopic.slice(0, n % (encodedTopic.length + 1))}{/s}{/t}`;
              case 11:
                // Path segments, then more literal text: the topic may go on.
                return `${BASE}/${encodedTopic.slice(0, n % (encodedTopic.length + 1))}{/s}x{/t}`;
              case 12:
                return `${BASE}/${encodedTopic}{?q}`;
              default:
                return `${BASE}/${encodedTopic.toLowerCase()}{/subscriber}`;
            }
          };
          const claims = picks.map(claimOf);
          const some = ids.length === 0 ? undefined : ids[scopePick % ids.length];
          const scope: SubscriptionScope =
            some === undefined || scopePick % 3 === 0
              ? {}
              : scopePick % 3 === 1
                ? { topic: some.t }
                : { topic: some.t, subscriber: subscriberIri(some.s) };
          const expected = bruteForce(subs, claims, scope);
          assert.deepEqual(listed(local, claims, scope), expected);
          if (expected.length > 0) nonEmpty++;
        },
      ),
      { numRuns: 500 },
    );
    assert.ok(nonEmpty > 100, `only ${nonEmpty} runs listed something`);
  });

  it('keeps thousands of topics sorted across chunk splits and removals', () => {
    const local = new SubscriptionIndex();
    const subs = Array.from({ length: 3000 }, (_, i) => subscription([`/t/${(i * 7919) % 3000}`]));
    for (const s of subs) local.add(s);
    for (const s of subs.filter((_, i) => i % 3 === 0)) local.remove(s);
    const rest = subs.filter((_, i) => i % 3 !== 0);
    const claim = `${BASE}/${encodeURIComponent('/t/1')}{+rest}`;
    assert.deepEqual(listed(local, [claim]), bruteForce(rest, [claim], {}));
    assert.ok(listed(local, [claim]).length > 100);
    assert.deepEqual(listed(local, ['*']), bruteForce(rest, ['*'], {}));
  });
});
