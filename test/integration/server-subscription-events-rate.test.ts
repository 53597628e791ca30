// --subscription-events-rate: with --subscriptions, each client address may cause so many
// subscription events per second (two per selector: as a subscription opens and as it closes,
// both charged when it opens). Over real sockets: the 429 with Retry-After and a reason naming
// the flag, before any event is published; addresses counted apart (behind a trusted proxy,
// by X-Forwarded-For); the charge given back when the subscription is refused for another
// reason; HEAD, rate 0 and a hub without --subscriptions charge nothing; every accepted
// subscription's opening and closing events reach a watcher once each.
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import type { EventSourceMessage } from 'eventsource-parser';
import { waitFor } from '../helpers/async.js';
import {
  assertErrorResult,
  HUB,
  http,
  startHub,
  subscribe,
  subscriberToken,
  subscribeUrl,
} from '../helpers/hub-server.js';
import type { OpenedStream } from '../helpers/sse.js';

const WATCH = `${HUB}/subscriptions{/topic}{/subscriber}`;

/** As a client behind the trusted proxy at 127.0.0.1. */
const from = (ip: string): OutgoingHttpHeaders => ({ 'x-forwarded-for': ip });

/** `n` distinct topics starting with `prefix`. */
const topicsOf = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}/${i}`);

interface Resource {
  topic: string;
  subscriber: string;
  active: boolean;
}

const resources = (events: readonly EventSourceMessage[]): Resource[] =>
  events.filter((e) => e.data.startsWith('{')).map((e) => JSON.parse(e.data) as Resource);

/** The subscription events `watcher` received about topics starting with `prefix`. */
const about = (watcher: OpenedStream, prefix: string): Resource[] =>
  resources(watcher.reader.events.items).filter((r) => r.topic.startsWith(`${prefix}/`));

describe('--subscription-events-rate', () => {
  test('a subscribe past the address’s budget gets 429 + Retry-After naming the flag, and publishes nothing', async () => {
    // 10 events per second, bursts of max(10, 2 × 5) = 10: one 5-selector subscription.
    const hub = await startHub([
      '--anonymous',
      '--subscriptions',
      '--trusted-proxies',
      '127.0.0.1',
      '--max-topics',
      '5',
      '--subscription-events-rate',
      '10',
    ]);
    const open: OpenedStream[] = [];
    try {
      const watcher = await subscribe(hub.url, [WATCH], {
        token: await subscriberToken([WATCH]),
        headers: from('198.51.100.1'),
      });
      open.push(watcher);
      const first = await subscribe(hub.url, topicsOf('/a', 5), { headers: from('203.0.113.7') });
      open.push(first);

      const refused = await http(subscribeUrl(hub.url, topicsOf('/refused', 1)), {
        headers: from('203.0.113.7'),
      });
      assertErrorResult(refused, 429, /--subscription-events-rate/);
      assert.match(refused.body, /203\.0\.113\.7/);
      assert.match(refused.body, /1 selectors make 2/);
      assert.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After in seconds');
      // HEAD opens no subscription: nothing to charge.
      const head = await http(subscribeUrl(hub.url, topicsOf('/head', 5)), {
        method: 'HEAD',
        headers: from('203.0.113.7'),
      });
      assert.equal(head.status, 200);
      // Another address has its own budget.
      open.push(await subscribe(hub.url, topicsOf('/b', 5), { headers: from('203.0.113.8') }));

      // The accepted subscription's events: one per selector opening, one closing, once each.
      first.req.destroy();
      await watcher.reader.events.until(
        () => about(watcher, '/a').filter((r) => !r.active).length === 5,
        'the closing events of /a',
      );
      await watcher.reader.events.until(
        () => about(watcher, '/b').length === 5,
        'the opening events of /b',
      );
      const a = about(watcher, '/a');
      assert.equal(a.length, 10, JSON.stringify(a));
      for (const topic of topicsOf('/a', 5)) {
        assert.deepEqual(
          a.filter((r) => r.topic === topic).map((r) => r.active),
          [true, false],
          topic,
        );
      }
      assert.equal(new Set(a.map((r) => r.subscriber)).size, 1);
      // The refused one was never a subscription.
      assert.deepEqual(about(watcher, '/refused'), []);
      assert.deepEqual(about(watcher, '/head'), []);
      assert.ok(![...hub.hub.subscriptions()].some((s) => s.topics.includes('/refused/0')));
      // No connection slot kept by the refusal: 1 watcher + /b.
      await waitFor(() => hub.hub.stats().subscribers === 2, 'only the watcher and /b open');

      // The bucket refills at the rate: a second later, the address may subscribe again.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      open.push(await subscribe(hub.url, topicsOf('/c', 5), { headers: from('203.0.113.7') }));
    } finally {
      for (const o of open) o.req.destroy();
      await hub.close(500);
    }
  });

  test('a subscribe refused for another reason gives its charge back', async () => {
    const hub = await startHub([
      '--subscriptions',
      '--trusted-proxies',
      '127.0.0.1',
      '--max-topics',
      '5',
      '--subscription-events-rate',
      '0.01',
      '--anonymous',
    ]);
    const open: OpenedStream[] = [];
    try {
      // 400 (a control character in lastEventID), 401 (a token that does not verify): each was
      // charged the bucket's 10 events, and gave them back.
      const bad = await http(
        subscribeUrl(hub.url, topicsOf('/x', 5), { lastEventID: 'a\u0001b' }),
        { headers: from('203.0.113.9') },
      );
      assertErrorResult(bad, 400, /control characters/);
      const forged = await http(subscribeUrl(hub.url, topicsOf('/x', 5)), {
        headers: { ...from('203.0.113.9'), authorization: 'Bearer not.a.token' },
      });
      assert.equal(forged.status, 401, forged.body);
      // At 0.01/s nothing refills during the test: only the refunds make this fit.
      open.push(await subscribe(hub.url, topicsOf('/x', 5), { headers: from('203.0.113.9') }));
      const after = await http(subscribeUrl(hub.url, topicsOf('/y', 1)), {
        headers: from('203.0.113.9'),
      });
      assertErrorResult(after, 429, /--subscription-events-rate/);
    } finally {
      for (const o of open) o.req.destroy();
      await hub.close(500);
    }
  });

  test('rate 0, or no --subscriptions: no subscription event is counted', async () => {
    for (const flags of [
      ['--subscriptions', '--subscription-events-rate', '0'],
      ['--subscription-events-rate', '1'],
    ]) {
      const hub = await startHub(['--anonymous', '--max-topics', '5', ...flags]);
      const open: OpenedStream[] = [];
      try {
        for (let i = 0; i < 5; i++) open.push(await subscribe(hub.url, topicsOf(`/r${i}`, 5)));
      } finally {
        for (const o of open) o.req.destroy();
        await hub.close(500);
      }
    }
  });
});
