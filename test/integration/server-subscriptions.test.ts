import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventSourceMessage } from 'eventsource-parser';
import type { HeraldServer } from '../../src/server/app.js';
import { waitFor } from '../helpers/async.js';
import {
  assertErrorResponse,
  HUB,
  idsOf,
  makeToken,
  publisherToken,
  publishOk,
  SECRET,
  startHub,
  subscribe,
  subscriberToken,
} from '../helpers/hub-server.js';
import type { OpenedStream } from '../helpers/sse.js';

// Active subscriptions (`--subscriptions`): the private subscription events published when a
// subscription starts and ends, and the JSON-LD API at /.well-known/mercure/subscriptions.

const BASE = `${HUB}/subscriptions`;
/** Mercure's selector for every subscription event. */
const WATCH = `${BASE}{/topic}{/subscriber}`;

interface SubscriptionResource {
  '@context'?: string;
  id: string;
  type: string;
  subscriber: string;
  topic: string;
  active: boolean;
  payload?: unknown;
  lastEventID?: string;
}

interface SubscriptionCollection {
  '@context': string;
  id: string;
  type: string;
  lastEventID: string;
  subscriptions: SubscriptionResource[];
}

const resourceOf = (event: EventSourceMessage): SubscriptionResource =>
  JSON.parse(event.data) as SubscriptionResource;

/** The subscription events a watcher received about `topic`. */
function about(stream: OpenedStream, topic: string): SubscriptionResource[] {
  return stream.reader.events.items
    .filter((e) => e.data.startsWith('{'))
    .map(resourceOf)
    .filter((r) => r.topic === topic);
}

/** Whether the hub has an open subscription to `topic`. */
const hasSubscription = (topic: string): boolean =>
  [...server.hub.subscriptions()].some((s) => s.topics.includes(topic));

function untilAbout(
  stream: OpenedStream,
  topic: string,
  check: (resources: SubscriptionResource[]) => boolean,
  what: string,
): Promise<SubscriptionResource[]> {
  return stream.reader.events
    .until(() => check(about(stream, topic)), what)
    .then(() => about(stream, topic));
}

let server: HeraldServer;
let admin: string;
let watcherToken: string;
before(async () => {
  server = await startHub(['--anonymous', '--subscriptions']);
  admin = await publisherToken();
  watcherToken = await subscriberToken([WATCH]);
});
after(() => server.close(1000));

describe('subscription events', () => {
  test('an event’s JSON-LD is written exactly as JSON.stringify writes the resource', async () => {
    const watcher = await subscribe(server.url, [WATCH], { token: watcherToken });
    const topic = '/exact/"quoted"\\back/é/😀/\u2028';
    const payload = { name: 'ada "the" \\ first', tags: ['é', 1, null, true], nested: { a: {} } };
    const member = await subscribe(server.url, [topic], {
      token: await makeToken({ subscribe: ['/exact/{+rest}'], payload }),
    });
    const [joined] = await untilAbout(watcher, topic, (r) => r.length >= 1, 'active: true');
    member.req.destroy();
    await untilAbout(watcher, topic, (r) => r.length >= 2, 'active: false');
    const data = watcher.reader.events.items
      .filter((e) => e.data.startsWith('{') && resourceOf(e).topic === topic)
      .map((e) => e.data);
    const expected = (active: boolean): string =>
      JSON.stringify({
        '@context': 'https://mercure.rocks/',
        id: `${BASE}/${encodeURIComponent(topic)}/${encodeURIComponent(joined!.subscriber)}`,
        type: 'Subscription',
        subscriber: joined!.subscriber,
        topic,
        active,
        payload,
      });
    assert.deepEqual(data, [expected(true), expected(false)]);
    watcher.req.destroy();
  });

  test('a watcher allowed by its claim sees active: true on connect and active: false on disconnect', async () => {
    const watcher = await subscribe(server.url, [WATCH], { token: watcherToken });
    const payload = { name: 'ada', avatar: 'https://example.com/ada.png' };
    const member = await subscribe(server.url, ['/rooms/1', '/rooms/{id}'], {
      token: await makeToken({ subscribe: ['/rooms/{id}'], payload }),
    });

    const [joined] = await untilAbout(watcher, '/rooms/1', (r) => r.length >= 1, 'active: true');
    const [joinedTemplate] = await untilAbout(
      watcher,
      '/rooms/{id}',
      (r) => r.length >= 1,
      'active: true (template)',
    );
    for (const [resource, topic] of [
      [joined!, '/rooms/1'],
      [joinedTemplate!, '/rooms/{id}'],
    ] as const) {
      assert.equal(resource.active, true);
      assert.equal(resource.type, 'Subscription');
      assert.equal(resource['@context'], 'https://mercure.rocks/');
      assert.match(resource.subscriber, /^urn:uuid:[0-9a-f-]{36}$/);
      assert.equal(resource.topic, topic);
      assert.equal(
        resource.id,
        `${BASE}/${encodeURIComponent(topic)}/${encodeURIComponent(resource.subscriber)}`,
      );
      assert.deepEqual(resource.payload, payload);
    }
    assert.equal(joined!.subscriber, joinedTemplate!.subscriber, 'one subscriber, two selectors');
    // The SSE id of the event is a hub event id; the type is the default one.
    const event = watcher.reader.events.items.find((e) => resourceOf(e).id === joined!.id)!;
    assert.equal(event.event, undefined);
    assert.ok(event.id);

    member.req.destroy();
    const left = await untilAbout(watcher, '/rooms/1', (r) => r.length >= 2, 'active: false');
    assert.equal(left[1]!.active, false);
    assert.equal(left[1]!.id, joined!.id);
    assert.equal(left[1]!.subscriber, joined!.subscriber);
    await untilAbout(
      watcher,
      '/rooms/{id}',
      (r) => r.some((x) => !x.active),
      'active: false (template)',
    );
    watcher.req.destroy();
  });

  test('watchers without a matching claim never see subscription events (they are private)', async () => {
    const allowed = await subscribe(server.url, [WATCH, '/marker'], { token: watcherToken });
    const anonymous = await subscribe(server.url, [WATCH, '/marker']);
    const otherClaim = await subscribe(server.url, [WATCH, '/marker'], {
      token: await subscriberToken(['/rooms/{id}']),
    });
    const narrow = await subscribe(server.url, [WATCH, '/marker'], {
      token: await subscriberToken([`${BASE}/${encodeURIComponent('/private/1')}{/subscriber}`]),
    });

    const member = await subscribe(server.url, ['/private/1', '/private/2']);
    await untilAbout(allowed, '/private/2', (r) => r.length >= 1, 'the allowed watcher');
    await untilAbout(allowed, '/private/1', (r) => r.length >= 1, 'the allowed watcher');
    const marker = await publishOk(server.url, { topic: '/marker', data: 'm' }, admin);
    for (const [name, stream] of [
      ['anonymous', anonymous],
      ['other claim', otherClaim],
    ] as const) {
      const events = await stream.reader.events.until(
        (e) => idsOf(e).includes(marker),
        `${name}: marker`,
      );
      assert.deepEqual(idsOf(events), [marker], `${name} saw no subscription event`);
    }
    // A claim for one topic's subscription events sees that topic's only.
    await narrow.reader.events.until((e) => idsOf(e).includes(marker), 'narrow: marker');
    assert.equal(about(narrow, '/private/1').length, 1);
    assert.equal(about(narrow, '/private/2').length, 0);

    for (const s of [allowed, anonymous, otherClaim, narrow, member]) s.req.destroy();
  });
});

describe('the subscriptions API', () => {
  async function list(path = BASE, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${server.url}${path}`, {
      headers: { authorization: `Bearer ${watcherToken}`, ...headers },
    });
  }

  test('GET lists the active subscriptions as JSON-LD; ETag and If-None-Match give 304', async () => {
    const member = await subscribe(server.url, ['/api/1']);
    await waitFor(() => hasSubscription('/api/1'), 'the subscription');
    const res = await list();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/ld\+json/);
    const etag = res.headers.get('etag');
    assert.match(etag ?? '', /^"[^"]+"$/);
    const body = (await res.json()) as SubscriptionCollection;
    assert.equal(body['@context'], 'https://mercure.rocks/');
    assert.equal(body.type, 'Subscriptions');
    assert.equal(body.id, BASE);
    assert.equal(body.lastEventID, server.hub.lastEventId);
    const mine = body.subscriptions.filter((s) => s.topic === '/api/1');
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.active, true);
    assert.equal(mine[0]!.type, 'Subscription');
    assert.match(mine[0]!.subscriber, /^urn:uuid:/);
    assert.equal(
      mine[0]!.id,
      `${BASE}/${encodeURIComponent('/api/1')}/${encodeURIComponent(mine[0]!.subscriber)}`,
    );

    const cached = await list(BASE, { 'if-none-match': etag! });
    assert.equal(cached.status, 304);
    assert.equal(await cached.text(), '');
    assert.equal(cached.headers.get('etag'), etag);

    // Something changed: the old ETag no longer matches.
    const another = await subscribe(server.url, ['/api/2']);
    await waitFor(() => hasSubscription('/api/2'), 'the second subscription');
    const changed = await list(BASE, { 'if-none-match': etag! });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get('etag'), etag);
    const after = (await changed.json()) as SubscriptionCollection;
    assert.ok(after.subscriptions.some((s) => s.topic === '/api/2'));

    // One topic, then one subscription.
    const byTopic = (await (
      await list(`${BASE}/${encodeURIComponent('/api/1')}`)
    ).json()) as SubscriptionCollection;
    assert.deepEqual(
      byTopic.subscriptions.map((s) => s.topic),
      ['/api/1'],
    );
    const one = await list(mine[0]!.id);
    assert.equal(one.status, 200);
    const resource = (await one.json()) as SubscriptionResource;
    assert.equal(resource.id, mine[0]!.id);
    assert.equal(resource['@context'], 'https://mercure.rocks/');
    assert.equal(typeof resource.lastEventID, 'string');

    member.req.destroy();
    another.req.destroy();
    await waitFor(
      () => !hasSubscription('/api/1') && !hasSubscription('/api/2'),
      'the subscribers to leave',
    );
    const gone = await list(mine[0]!.id);
    await assertErrorResponse(gone, 404, /no active subscription/);
  });

  test('the list lastEventID lets a client follow on from the snapshot without a gap', async () => {
    const snapshot = (await (await list()).json()) as SubscriptionCollection;
    const member = await subscribe(server.url, ['/presence/1']);
    // Subscribing after the snapshot, from its lastEventID, replays the join that came after.
    const watcher = await subscribe(server.url, [WATCH], {
      token: watcherToken,
      headers: { 'last-event-id': snapshot.lastEventID },
    });
    assert.equal(watcher.res.headers['last-event-id'], snapshot.lastEventID);
    const [joined] = await untilAbout(watcher, '/presence/1', (r) => r.length >= 1, 'the join');
    assert.equal(joined!.active, true);
    // Only what came after the snapshot: no gap, nothing from the earlier tests' history.
    assert.ok(watcher.reader.events.items.every((e) => e.event !== 'herald.gap'));
    assert.equal(about(watcher, '/api/1').length, 0);
    member.req.destroy();
    watcher.req.destroy();
  });

  test('what the caller may see: 401 without a token or with a bad one, nothing without a matching claim', async () => {
    const member = await subscribe(server.url, ['/hidden/1']);
    await waitFor(() => hasSubscription('/hidden/1'), 'the subscription');
    const anonymous = await fetch(`${server.url}${BASE}`);
    await assertErrorResponse(anonymous, 401, /needs a subscriber JWT/);
    assert.ok(anonymous.headers.get('www-authenticate'));
    const other = await fetch(`${server.url}${BASE}`, {
      headers: { authorization: `Bearer ${await subscriberToken(['/hidden/{id}'])}` },
    });
    assert.deepEqual(((await other.json()) as SubscriptionCollection).subscriptions, []);

    const forged = await makeToken({ subscribe: [WATCH] }, { secret: `${SECRET}?` });
    const bad = await fetch(`${server.url}${BASE}`, {
      headers: { authorization: `Bearer ${forged}` },
    });
    await assertErrorResponse(bad, 401, /signature does not verify/);
    assert.ok(bad.headers.get('www-authenticate'));
    member.req.destroy();
  });

  test('malformed paths and methods are 4xx with a reason', async () => {
    await assertErrorResponse(await list(`${BASE}/a/b/c`), 404, /no such subscriptions resource/);
    await assertErrorResponse(await list(`${BASE}/%E0%A4%A`), 400, /percent-encoding/);
    const post = await fetch(`${server.url}${BASE}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${watcherToken}` },
      body: 'x',
    });
    await assertErrorResponse(post, 405, /use GET, HEAD/);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    // Still serving.
    assert.equal((await list()).status, 200);
  });
});
