// Security review: the hub's own topics. Subscription events (`--subscriptions`) live under
// /.well-known/mercure, which publishers may not use — however they spell the topic: a selector
// matches the topic as written, so `/.well-known/mercure/subscriptions/../..` must be refused
// even though it resolves, as a URL, to a path outside the reserved one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HeraldServer } from '../../src/server/app.js';
import {
  assertErrorResponse,
  HUB,
  idsOf,
  publish,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
  subscriberToken,
} from '../helpers/hub-server.js';

const SUBSCRIPTIONS = '/.well-known/mercure/subscriptions{/topic}{/subscriber}';

/** Spellings of topics under the reserved path, each matched by SUBSCRIPTIONS or resolving into it. */
const FORGED = [
  '/.well-known/mercure/subscriptions/x/y',
  '/.well-known/mercure/subscriptions/../..',
  '/.well-known/mercure/subscriptions/%2e%2e/%2E%2E',
  '/.well-known/mercure/subscriptions/..%2F..',
  'https://hub.example/.well-known/mercure/subscriptions/../..',
  '/a/../.well-known/mercure/subscriptions/x/y',
  '/.well-known/mercure',
];

describe('topics under /.well-known/mercure are the hub’s alone', () => {
  let hub: HeraldServer;
  let token: string;
  before(async () => {
    hub = await startHub(['--subscriptions', '--anonymous']);
    token = await publisherToken(['*']);
  });
  after(() => hub.close(1000));

  test('every spelling is refused with 403, as a form and as JSON', async () => {
    for (const topic of FORGED) {
      await assertErrorResponse(
        await publish(hub.url, { topic, data: 'forged' }, token),
        403,
        /reserves for its own subscription events/,
      );
      // As an alternate topic of an otherwise allowed update, too.
      await assertErrorResponse(
        await publish(hub.url, { topic: ['/fine', topic], data: 'forged' }, token),
        403,
        /reserves/,
      );
      const json = await fetch(`${hub.url}/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ topic, data: 'forged', private: true }),
      });
      await assertErrorResponse(json, 403, /reserves/);
    }
  });

  test('a subscriber of subscription events gets the hub’s events and never a forged one', async () => {
    const watcher = await subscribe(hub.url, [SUBSCRIPTIONS], {
      token: await subscriberToken([SUBSCRIPTIONS]),
    });
    const accepted: string[] = [];
    for (const topic of FORGED) {
      for (const priv of [false, true]) {
        const res = await publish(hub.url, { topic, data: 'forged', private: priv }, token);
        if (res.status !== 403) accepted.push(`${topic} (private: ${priv}): ${res.status}`);
        await res.text();
      }
    }
    // A real subscription starts: the hub publishes its event, which the watcher must get.
    const someone = await subscribe(hub.url, ['/someone']);
    const events = await watcher.reader.events.until(
      (list) => list.some((e) => e.data.includes('"/someone"')),
      'the real subscription event',
    );
    assert.ok(events.length > 0);
    for (const event of events) {
      const data = JSON.parse(event.data) as { type: string; subscriber: string };
      assert.equal(data.type, 'Subscription', `a forged event arrived: ${event.data}`);
      assert.match(data.subscriber, /^urn:uuid:/);
    }
    assert.deepEqual(accepted, [], 'forged subscription events were accepted');
    // And an ordinary publish still works.
    const id = await publishOk(hub.url, { topic: '/someone', data: 'hello' }, token);
    const got = await someone.reader.events.until((list) => idsOf(list).includes(id), 'hello');
    assert.equal(got.at(-1)?.data, 'hello');
    someone.req.destroy();
    watcher.req.destroy();
  });

  test('the hub path itself stays an endpoint, not a topic anyone can publish to', async () => {
    const res = await publish(hub.url, { topic: `http://localhost${HUB}`, data: 'x' }, token);
    await assertErrorResponse(res, 403, /reserves/);
  });
});
